"""The cost report as a message: text + HTML from jinja2 templates, a PNG chart, the MIME message.

Everything here works on a `ReportData` built by `pipelines.report.data.build_report`; nothing reads
the store or the clock.
"""

from __future__ import annotations

import io
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import TYPE_CHECKING

import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined
from matplotlib.dates import DateFormatter, DayLocator
from matplotlib.figure import Figure

from pipelines.config.settings import Mail
from pipelines.core.timeutil import to_iso
from pipelines.report.outbox import UNDISCLOSED

if TYPE_CHECKING:
    from pipelines.report.model import ReportData

CHART_CID = "cost-chart@arbdb"


def _usd(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.2f}" if abs(value) >= 100 else f"{value:.4f}"


def _pct(value: float | None, digits: int = 2) -> str:
    """A fraction as a percentage (0.0123 -> 1.23)."""
    return "n/a" if value is None else f"{value * 100:.{digits}f}"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("pipelines.report", "templates"),
        autoescape=lambda name: bool(name) and name.endswith(".html.j2"),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(usd=_usd, pct=_pct, num=_num, iso=to_iso)
    return env


def render_report(data: ReportData) -> tuple[str, str, str]:
    """(subject, plain text, HTML) of the report; the HTML shows the chart as `cid:` CHART_CID."""
    subject = f"arbdb LLM cost report {data.report_date}: {_usd(data.day.total['cost_usd'])} USD"
    env = _environment()
    context = {"d": data, "periods": (data.day, data.week), "subject": subject, "chart_cid": CHART_CID}
    text = env.get_template("report.txt.j2").render(context)
    html = env.get_template("report.html.j2").render(context)
    return subject, text, html


def render_chart(data: ReportData) -> bytes:
    """PNG, two panels: daily LLM cost by model (USD) and funding differential per pair (% per period)."""
    fig = Figure(figsize=(8, 6.4), dpi=100, layout="constrained")
    cost_ax, diff_ax = fig.subplots(2, 1)
    _cost_panel(cost_ax, data.daily_cost)
    _diff_panel(diff_ax, data.funding_diff)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _cost_panel(ax, cost: pd.DataFrame) -> None:
    """Daily cost stacked by model."""
    if cost.empty or not cost.to_numpy().any():
        _empty_panel(ax, "no LLM cost in the period")
    else:
        bottom = pd.Series(0.0, index=cost.index)
        for model in cost.columns:
            ax.bar(cost.index.str[5:], cost[model], bottom=bottom, label=model)
            bottom = bottom + cost[model]
        ax.legend(fontsize=8, loc="upper left")
    ax.set_title("Daily LLM cost by model (USD)")
    ax.set_ylabel("USD")
    ax.set_xlabel("day (UTC)")


def _diff_panel(ax, diff: pd.DataFrame) -> None:
    """One line per pair, in % per period."""
    if diff.empty:
        _empty_panel(ax, "no funding data in the period")
    else:
        for pair in diff.columns:
            series = diff[pair].dropna() * 100
            ax.plot(series.index, series.to_numpy(), marker=".", label=pair)
        ax.axhline(0, color="gray", linewidth=0.8)
        ax.legend(fontsize=8, loc="upper left")
        ax.xaxis.set_major_locator(DayLocator())
        ax.xaxis.set_major_formatter(DateFormatter("%m-%d"))
        ax.set_xlabel("window end (UTC)")
    ax.set_title("Funding differential per pair, first leg - second leg (% per window)")
    ax.set_ylabel("% per window")


def _empty_panel(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", color="gray", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def compose_message(
    mail: Mail, subject: str, text: str, html: str, png: bytes, now: datetime | None = None
) -> EmailMessage:
    """multipart/alternative: text, and multipart/related (HTML + the chart as an inline part, which
    mail clients show once, where the HTML puts it). The Message-ID is set here, once.

    Without configured recipients `To` is the empty group `undisclosed-recipients:;`; the sender
    replaces it with `mail.recipients` when the message finally goes out."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = mail.sender
    message["To"] = ", ".join(mail.recipients) if mail.recipients else UNDISCLOSED
    if now is not None:
        message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=mail.sender.rpartition("@")[2] or "arbdb")
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    html_part = message.get_payload()[1]
    html_part.add_related(
        png, "image", "png", cid=f"<{CHART_CID}>", filename="cost-chart.png", disposition="inline"
    )
    return message
