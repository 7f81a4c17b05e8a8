"""The `mail`, `report` and `schedule` sections: how reports and alerts are delivered (SMTP or the
outbox; the password from SMTP_PASSWORD, never the file), what a report holds, and when the
scheduler runs the cycle and the report."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from pipelines.config.base import Strict


class Mail(Strict):
    smtp_host: str | None = None
    smtp_port: int = Field(587, gt=0, lt=65536)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    sender: str = "arbdb@localhost"
    recipients: tuple[str, ...] = ()
    outbox_dir: Path = Path("data/outbox")
    alerts: bool = False
    timeout_seconds: float = Field(30, gt=0)
    password: str = Field("", repr=False)

    @field_validator("smtp_host")
    @classmethod
    def _host_only(cls, host: str | None) -> str | None:
        if host is not None and re.search(r"[@/:]", host):
            raise ValueError(
                "give the host name only (port in mail.smtp_port, login in mail.username, "
                "password in SMTP_PASSWORD in the environment)"
            )
        return host

    @property
    def configured(self) -> bool:
        return bool(self.smtp_host and self.recipients)


class Schedule(Strict):
    delay_minutes: int = Field(15, ge=0, le=24 * 60)
    catch_up_max_windows: int = Field(21, ge=0)
    misfire_grace_seconds: int = Field(3600, ge=1)
    report_time: str = Field("06:30", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")


class Report(Strict):
    top_n: int = Field(5, ge=1, le=50)
