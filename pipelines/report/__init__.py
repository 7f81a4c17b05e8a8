"""Report stage: the nightly cost report (data, ledger, quality, rendering, templates), mailer and outbox."""
