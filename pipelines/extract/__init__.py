"""Extract stage: Tardis replays and datasets -> minute rows (the minute book), in worker processes."""
