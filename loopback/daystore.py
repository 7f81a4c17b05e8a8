"""Pre-generated replay days on disk, and fast slicing of them by time and symbol.

One directory per (feed key, exchange, day) holds `lines.txt` (every replay line of the day, in
local-time order) and `index.npz` (per line: local timestamp in 100 ns, byte offset, symbol number,
-1 for connection-level lines that belong to every symbol). A directory appears atomically (written
aside, then renamed), so concurrent writers and a crashed run never leave half a day behind.
"""

from __future__ import annotations

import mmap
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

LINES = "lines.txt"
INDEX = "index.npz"


def write_day(path: Path, local: np.ndarray, symbol: np.ndarray, lines: list[str]) -> None:
    """Store one exchange-day's lines (already sorted by local time) at `path`, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
    try:
        text = "".join(lines).encode("ascii")
        (tmp / LINES).write_bytes(text)
        offsets = np.zeros(len(lines) + 1, dtype=np.int64)
        np.cumsum([len(line) for line in lines], out=offsets[1:])
        np.savez(tmp / INDEX, local=local.astype(np.int64), offset=offsets, symbol=symbol.astype(np.int16))
        try:
            os.rename(tmp, path)
        except OSError:  # another writer got there first; its copy is identical
            if not (path / INDEX).exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def is_written(path: Path) -> bool:
    """True when the day at `path` is complete on disk."""
    return (path / INDEX).is_file() and (path / LINES).is_file()


class PreparedDay:
    """A stored exchange-day, memory-mapped; `select` cuts the lines of a time range."""

    def __init__(self, path: Path) -> None:
        with np.load(path / INDEX) as index:
            self.local = index["local"]
            self.offset = index["offset"]
            self.symbol = index["symbol"]
        self._file = open(path / LINES, "rb")  # noqa: SIM115 - lives as long as the mapping
        size = os.fstat(self._file.fileno()).st_size
        self._blob = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ) if size else b""

    def __len__(self) -> int:
        return len(self.local)

    def select(self, start: int, end: int, symbols: np.ndarray | None = None) -> bytes:
        """Lines with local time in [start, end) (100 ns since 1970) of `symbols` (None = all)."""
        first, last = np.searchsorted(self.local, (start, end), side="left").tolist()
        if symbols is None or first == last:
            return self._blob[self.offset[first] : self.offset[last]]
        keep = np.isin(self.symbol[first:last], symbols) | (self.symbol[first:last] < 0)
        rows = np.flatnonzero(keep) + first
        if not len(rows):
            return b""
        # Join runs of consecutive lines with one slice each, not one slice per line.
        breaks = np.flatnonzero(np.diff(rows) != 1)
        run_starts = np.concatenate(([rows[0]], rows[breaks + 1]))
        run_ends = np.concatenate((rows[breaks], [rows[-1]])) + 1
        blob, offset = self._blob, self.offset
        return b"".join(
            blob[offset[a] : offset[b]] for a, b in zip(run_starts.tolist(), run_ends.tolist(), strict=True)
        )

    def close(self) -> None:
        """Release the mapping and the file."""
        if isinstance(self._blob, mmap.mmap):
            self._blob.close()
        self._file.close()
