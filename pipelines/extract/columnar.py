"""An `Extracted` as a few numpy columns, for the trip from a Dask worker back to the client.

A day of minute rows is 1,440 rows per symbol; pickled as Python tuples that is ~11 objects a row.
Here it is one int16 code and one int64 minute a row plus one array and one validity mask per record
field, so the message is flat buffers (pickle protocol 5 sends them out of band). Unpacking gives
back the very same Python values (ints as int, floats as float, missing as None): the client loads
the rows it would have extracted itself, and the tables are identical to a local run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from pipelines.core.columns import DERIVATIVE_TICKER, STATED
from pipelines.extract.replay import Extracted

# Record fields after exchange and symbol: the three timestamps (int microseconds), then floats.
_FIELDS = DERIVATIVE_TICKER[2:]
_INTS = frozenset(("timestamp", "local_timestamp", "funding_timestamp", "stated_time"))
_WIDE = len(DERIVATIVE_TICKER) + len(STATED)  # a record of a venue stating its settlements


@dataclass
class MinuteColumns:
    """The minute rows of one extract, columnar; `unpack()` gives the `Extracted` back."""

    exchange: str
    start: datetime
    end: datetime
    source: str
    names: tuple[str, ...]  # symbol of each code
    codes: np.ndarray  # int16, a row's symbol
    minutes: np.ndarray  # int64, minutes since the epoch
    # field -> int64 / float64; a field no row has is left out (all None).
    values: dict[str, np.ndarray] = field(default_factory=dict)
    # field -> bool (False = None); a field every row has is left out.
    present: dict[str, np.ndarray] = field(default_factory=dict)
    messages: int = 0
    malformed: int = 0
    symbols: dict[str, int] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays (what the trip costs, besides a few hundred bytes of header)."""
        arrays = [self.codes, self.minutes, *self.values.values(), *self.present.values()]
        return sum(a.nbytes for a in arrays)

    def unpack(self) -> Extracted:
        """The `Extracted` this was packed from, rows as (symbol, minute, record tuple)."""
        out = Extracted(self.exchange, self.start, self.end, self.source)
        out.messages, out.malformed, out.symbols = self.messages, self.malformed, dict(self.symbols)
        n = len(self.minutes)
        columns = [_as_python(self.values.get(f), self.present.get(f), n) for f in _FIELDS]
        symbols = [self.names[c] for c in self.codes.tolist()]
        out.rows = [
            (symbol, minute, (self.exchange, symbol, *fields))
            for symbol, minute, *fields in zip(symbols, self.minutes.tolist(), *columns, strict=True)
        ]
        if "wide" in self.present:  # records carrying the STATED fields get them back
            stated = [_as_python(self.values.get(f), self.present.get(f), n) for f in STATED]
            wide = self.present["wide"].tolist()
            out.rows = [
                (symbol, minute, (*rec, *extra) if is_wide else rec)
                for (symbol, minute, rec), is_wide, *extra in zip(out.rows, wide, *stated, strict=True)
            ]
        return out


def _as_python(values: np.ndarray | None, present: np.ndarray | None, n: int) -> list:
    if values is None:
        return [None] * n
    if present is None:
        return values.tolist()
    return [v if ok else None for v, ok in zip(values.tolist(), present.tolist(), strict=True)]


def pack(extracted: Extracted) -> MinuteColumns:
    """`extracted` as columns (records of one exchange; the symbols kept in first-seen order)."""
    names = tuple(dict.fromkeys(symbol for symbol, _, _ in extracted.rows))
    index = {name: i for i, name in enumerate(names)}
    rows = extracted.rows
    packed = MinuteColumns(
        extracted.exchange,
        extracted.start,
        extracted.end,
        extracted.source,
        names,
        np.array([index[symbol] for symbol, _, _ in rows], dtype=np.int16),
        np.array([minute for _, minute, _ in rows], dtype=np.int64),
        messages=extracted.messages,
        malformed=extracted.malformed,
        symbols=dict(extracted.symbols),
    )
    for i, name in enumerate(_FIELDS, start=2):
        _add_column(packed, name, [rec[i] for _, _, rec in rows])
    wide = np.array([len(rec) == _WIDE for _, _, rec in rows], dtype=bool)
    if wide.any():  # a venue appending STATED (OKX): those two fields, and which records had them
        packed.present["wide"] = wide
        for i, name in enumerate(STATED, start=len(DERIVATIVE_TICKER)):
            _add_column(packed, name, [rec[i] if len(rec) == _WIDE else None for _, _, rec in rows])
    return packed


def _add_column(packed: MinuteColumns, name: str, raw: list) -> None:
    present = np.array([v is not None for v in raw], dtype=bool)
    if raw and not present.any():
        return  # a field this venue never gives (Gate's funding time): nothing to send
    dtype, blank = (np.int64, 0) if name in _INTS else (np.float64, 0.0)
    packed.values[name] = np.array([blank if v is None else v for v in raw], dtype=dtype)
    if not present.all():
        packed.present[name] = present
