"""`arbdb status` and the outbox: claims count as waiting, dead letters are a problem (exit 1)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

from click.testing import CliRunner

from jobs.cli import cli
from jobs.status import collect_status, format_table
from pipelines.core.timeutil import utcnow


def test_a_dead_letter_is_shown_and_makes_status_fail(config_file, db, settings):
    dead = settings.mail.outbox_dir / "dead"
    dead.mkdir(parents=True)
    (dead / "20240302T063000Z-report-1.eml").write_text("x")
    (dead / "20240302T063000Z-report-1.eml.reason").write_text("rejected 3 times, last: 554 no\n")
    status = collect_status(db, settings, utcnow())
    assert status["outbox"]["dead"] == 1
    assert f"outbox: 1 message(s) rejected for good in {settings.mail.outbox_dir}/dead" in status["problems"]
    assert "0 message(s) in" in format_table(status) and "1 dead letter(s)" in format_table(status)
    result = CliRunner().invoke(cli, ["--config", str(config_file), "status", "--format", "json"])
    assert result.exit_code == 1
    assert json.loads(result.output)["outbox"]["dead"] == 1


def test_an_interrupted_send_is_counted_and_released_on_the_next_drain(config_file, db, settings):
    from pipelines.report.mailer import drain_outbox

    outbox = settings.mail.outbox_dir
    outbox.mkdir(parents=True)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    host = socket.gethostname().replace(".", "-")
    claim = outbox / f"20240302T063000Z-alert-abc.eml.{host}.{child.pid}.sending"
    claim.write_text("Subject: x\n\nhello\n")
    os.utime(claim)  # fresh: the old rule would hold it back for an hour
    assert collect_status(db, settings, utcnow())["outbox"]["messages"] == 1
    assert drain_outbox(settings.mail, db) == (0, 1)  # no SMTP configured: released, waiting
    assert [p.name for p in outbox.iterdir()] == ["20240302T063000Z-alert-abc.eml"]
