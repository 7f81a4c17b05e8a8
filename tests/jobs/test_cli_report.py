"""`arbdb report` through CliRunner, and the scheduler's `cost_report_job`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from jobs.cli import cli
from jobs.report_job import cost_report_job, yesterday
from pipelines.config.settings import load_settings
from pipelines.store import open_db
from tests.fixtures.smtp import mail_settings
from tests.pipelines.report.test_data import seed


def invoke(config_file, *args):
    return CliRunner().invoke(cli, ["--config", str(config_file), "report", *args], obj={})


def point_mail_at(config_file, server) -> None:
    text = config_file.read_text().replace(
        "mail:\n",
        f"mail:\n  smtp_host: 127.0.0.1\n  smtp_port: {server.port}\n  security: none\n"
        "  recipients: [ops@example.com]\n",
    )
    config_file.write_text(text)


def test_dry_run_without_a_database_says_so_and_writes_nothing(config_file, settings):
    result = invoke(config_file, "--date", "2024-03-01", "--dry-run")
    assert result.exit_code == 1
    assert result.output == f"arbdb: error: {settings.database}: no database exists here yet; " + (
        "`arbdb backfill --from DATE --to DATE` creates it (or fix `database` in config.yaml)\n"
    )
    assert not settings.database.exists() and not settings.mail.outbox_dir.exists()


def test_dry_run_of_an_empty_store_prints_the_text(config_file, settings, db):
    result = invoke(config_file, "--date", "2024-03-01", "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("arbdb LLM cost report 2024-03-01: 0.0000 USD")
    assert "No activity" in result.output and not settings.mail.outbox_dir.exists()


def test_dry_run_reads_an_existing_store_read_only(config_file, settings, db):
    seed(db)
    before = settings.database.stat().st_mtime_ns
    result = invoke(config_file, "--date", "2024-03-01", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "0.0022 USD" in result.output and "OPEN_ARB" in result.output
    assert db["reports"].count == 0 and settings.database.stat().st_mtime_ns == before


def test_without_smtp_the_report_goes_to_the_outbox_once(config_file, settings, db):
    seed(db)
    first = invoke(config_file, "--date", "2024-03-01")
    assert first.exit_code == 0, first.output
    assert "kept in" in first.output and "no SMTP settings" in first.output
    second = invoke(config_file, "--date", "2024-03-01")
    assert second.exit_code == 0 and "already sent or waiting" in second.output
    assert db["reports"].count == 1
    assert len(list(settings.mail.outbox_dir.glob("*.eml"))) == 1


def test_send_and_force(config_file, db, smtp_server):
    seed(db)
    point_mail_at(config_file, smtp_server)
    sent = invoke(config_file, "--date", "2024-03-01", "--send")
    assert sent.exit_code == 0, sent.output
    assert "report 2024-03-01 sent to ops@example.com" in sent.output
    assert invoke(config_file, "--date", "2024-03-01").exit_code == 0
    assert len(smtp_server.received) == 1
    assert invoke(config_file, "--date", "2024-03-01", "--force").exit_code == 0
    assert len(smtp_server.received) == 2


def test_a_bad_date_is_one_line_and_exit_2(config_file):
    result = invoke(config_file, "--date", "2024-02-30")
    assert result.exit_code == 2
    assert "arbdb: error: --date '2024-02-30' is not a date like 2024-03-01" in result.output
    assert "Traceback" not in result.output


def test_cost_report_job_covers_yesterday_and_drains_the_outbox(config_file, smtp_server):
    now = datetime(2024, 3, 2, 6, 30, tzinfo=UTC)
    assert yesterday(now).isoformat() == "2024-03-01"
    settings = mail_settings(load_settings(config_file, env={}), smtp_server)
    db = open_db(settings.database)
    seed(db)
    smtp_server.stop()
    assert cost_report_job(settings, now)["status"] == "outboxed"
    smtp_server.start()
    counts = cost_report_job(settings, now.replace(day=3))
    assert counts == {
        "report_date": "2024-03-02",
        "status": "sent",
        "report_id": 2,
        "outbox_sent": 1,
        "outbox_waiting": 0,
    }
    assert [r.message["Subject"][:33] for r in smtp_server.received] == [
        "arbdb LLM cost report 2024-03-01:",
        "arbdb LLM cost report 2024-03-02:",
    ]
    db.close()


def test_send_with_smtp_down_is_exit_1_and_the_report_stays_in_the_outbox(
    config_file, settings, db, smtp_server
):
    seed(db)
    point_mail_at(config_file, smtp_server)
    smtp_server.stop()
    result = invoke(config_file, "--date", "2024-03-01", "--send")
    assert result.exit_code == 1
    [line] = result.output.splitlines()
    assert line.startswith("arbdb: error: report 2024-03-01 not sent: cannot send through 127.0.0.1:")
    assert "ConnectionRefusedError" in line and line.endswith("is sent on the next run")
    assert len(list(settings.mail.outbox_dir.glob("*.eml"))) == 1
    # Still down: the waiting copy is not made again, and the failure is still exit 1.
    again = invoke(config_file, "--date", "2024-03-01")
    assert again.exit_code == 1 and "not sent" in again.output
    smtp_server.start()
    assert invoke(config_file, "--date", "2024-03-01").exit_code == 0
    assert len(smtp_server.received) == 1 and db["reports"].count == 1


@pytest.mark.parametrize("days_ahead", [0, 1])
def test_a_day_not_over_yet_is_refused_with_one_line(config_file, settings, days_ahead):
    day = (datetime.now(UTC) + timedelta(days=days_ahead)).date()
    for mode in ("--send", "--dry-run"):
        result = invoke(config_file, "--date", day.isoformat(), mode)
        assert result.exit_code == 2
        assert result.output.startswith(f"arbdb: error: --date {day} is not a complete UTC day yet")
        assert len(result.output.splitlines()) == 1
    assert not settings.database.exists() and not settings.mail.outbox_dir.exists()
