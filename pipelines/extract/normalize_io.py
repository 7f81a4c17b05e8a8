"""`arbdb normalize`: a replay file (plain or gzip, or stdin) -> `derivative_ticker` CSV.

The records come from `pipelines.venues.normalize.normalize_with`; this module only opens the input,
writes the CSV and reports malformed lines and a summary on the error stream. A file in which no
line is a message of the exchange's channel (a wrong `--exchange`) is an error, not "0 records".
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, TextIO

from pipelines.core.columns import DERIVATIVE_TICKER
from pipelines.core.errors import UsageError
from pipelines.venues.normalize import Normalizer, Record, ReplayReadError, make_normalizer, normalize_with
from pipelines.venues.registry import exchanges, venue

GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class NormalizeSummary:
    """What one `normalize_file` run did."""

    lines: int = 0
    records: int = 0
    malformed: int = 0


def open_replay(path: str | None, stdin: BinaryIO | None = None) -> BinaryIO:
    """A binary line stream over a replay file, `-`/None = `stdin`; gzip detected by its magic bytes."""
    if path in (None, "-"):
        stream = stdin
    else:
        try:
            stream = open(path, "rb")  # noqa: SIM115 - the caller closes the returned stream
        except OSError as err:
            raise ReplayReadError(f"cannot read {path}: {err.strerror or err}") from None
    if not hasattr(stream, "peek"):
        stream = io.BufferedReader(stream)
    if stream.peek(2)[:2] == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=stream)
    return stream


def normalize_file(
    exchange: str,
    path: str | None,
    out: TextIO,
    err: TextIO,
    symbols: Iterable[str] | None = None,
    stdin: BinaryIO | None = None,
    max_details: int = 20,
) -> NormalizeSummary:
    """Normalize a replay file (or stdin) to CSV on `out`; malformed lines are reported on `err`.

    Malformed lines never abort the run: the first `max_details` are listed with their line numbers,
    then a total. An unknown exchange or an unreadable/corrupt file raises an `ArbdbError`. If the
    reader of `out` goes away (`arbdb normalize ... | head`), the run stops quietly, without a summary.
    """
    summary = NormalizeSummary()
    normalizer = make_normalizer(exchange, symbols)
    details: list[str] = []  # held back until a channel message is seen: a wrong --exchange is one line

    def on_error(line_no: int, reason: str) -> None:
        summary.malformed += 1
        if summary.malformed <= max_details:
            details.append(f"line {line_no}: {reason}\n")
            if normalizer.seen_channel:
                _flush(err, details)

    records = normalize_with(normalizer, _counted(open_replay(path, stdin), summary), on_error)
    try:
        _write_csv(out, records, summary, path, lambda: _check_channel(normalizer, summary, path))
    except BrokenPipeError:  # the reader has all it wanted: not an error
        _discard_output(out)
        return summary
    _flush(err, details)
    _write_summary(err, summary, max_details)
    return summary


def _flush(err: TextIO, details: list[str]) -> None:
    err.write("".join(details))
    details.clear()


def _check_channel(normalizer: Normalizer, summary: NormalizeSummary, path: str | None) -> None:
    """Refuse input in which no line was a message of the normalizer's channel: a wrong --exchange."""
    if normalizer.seen_channel or summary.lines == 0:
        return
    exchange = normalizer.exchange
    # The raw channel whose messages the normalizer reads, named in the error (the venue's data).
    channel = venue(exchange).raw_channel or venue(exchange).channel
    others = " or ".join(e for e in exchanges() if e != exchange)
    raise UsageError(
        f"no line of {path if path not in (None, '-') else 'stdin'} ({summary.lines} lines) is a message of "
        f"{exchange}'s {channel} channel: is it another exchange's replay? try --exchange {others}"
    )


def _write_csv(
    out: TextIO,
    records: Iterator[Record],
    summary: NormalizeSummary,
    path: str | None,
    check: Callable[[], None],
) -> None:
    """The header and `records` as CSV rows on `out`, counted into `summary.records`. Without any
    record, `check()` may refuse the input first, so that nothing at all is written then."""
    writer = csv.writer(out, lineterminator="\n")
    try:
        first = next(records, None)
        if first is None:
            check()
        writer.writerow(DERIVATIVE_TICKER)
        width = len(DERIVATIVE_TICKER)  # Tardis' CSV: a venue's STATED fields are not written
        if first is not None:
            writer.writerow(first[:width])
            summary.records += 1
        for record in records:
            writer.writerow(record[:width])
            summary.records += 1
    except BrokenPipeError:  # a write, not a read: the caller handles it
        raise
    except (OSError, EOFError) as error:  # corrupt or truncated gzip
        raise ReplayReadError(f"{path or 'stdin'}: read failed after line {summary.lines}: {error}") from None
    out.flush()  # so a reader gone before the last rows is seen here, not at interpreter exit


def _discard_output(out: TextIO) -> None:
    """Point `out`'s file descriptor at /dev/null, so the rows still buffered in it do not raise
    BrokenPipeError again when Python flushes stdout at exit. Streams without a descriptor are left."""
    try:
        fd = out.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def _counted(stream: BinaryIO, summary: NormalizeSummary) -> Iterator[bytes]:
    """The stream's lines, counted into `summary.lines`; the stream is closed at the end."""
    with stream:
        for summary.lines, line in enumerate(stream, 1):  # noqa: B007 - the count is the point
            yield line


def _write_summary(err: TextIO, summary: NormalizeSummary, max_details: int) -> None:
    if summary.malformed > max_details:
        err.write(f"... and {summary.malformed - max_details} more malformed lines\n")
    err.write(
        f"normalize: {summary.records} records from {summary.lines} lines, "
        f"{summary.malformed} malformed lines skipped\n"
    )
