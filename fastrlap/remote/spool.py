"""The car's spool: every transition, on disk, until the learner says it stored it.

An append log (fastrlap.storage.AppendLog, fsync'd per append) in the car's run directory:

    # fastrlap learner spool 1 car=<id> dims=E,P,A      (header: this run's name on the learner)
    T <seq> <base64 row>                                 (a transition, numbered from 1)
    A <seq>                                              (the learner stored every row up to seq)

A kill of either side, a dead link or a learner restart loses nothing: whatever is not
acknowledged is read back and sent again, and the learner drops what it already has (by car id
and sequence number). The car id is made once per run, so a new run never reuses the sequence
numbers of an old one. Opening the spool rewrites it without the acknowledged rows (atomically),
and so does `ack` once the file has grown past `compact_bytes` and everything is acknowledged.
"""

from __future__ import annotations

import base64
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from fastrlap.errors import FastrlapError
from fastrlap.storage import AppendLog, atomic_write_text, complete_lines

SPOOL_FILE = "learner_spool.log"
_FORMAT = 1
_HEADER = re.compile(r"^# fastrlap learner spool (\d+) car=(\S+) dims=(\d+),(\d+),(\d+)$")


class SpoolError(FastrlapError):
    """A spool that belongs to another encoder, or that cannot be read."""


@dataclass
class Spool:
    """Rows not yet acknowledged, in sequence order, and the log that keeps them."""

    path: Path
    car: str
    acked: int = 0  # highest sequence number the learner stored (every lower one too)
    last: int = 0  # highest sequence number spooled
    rows: dict[int, bytes] = field(default_factory=dict)
    compact_bytes: int = 16 << 20
    _dims: tuple[int, int, int] = (0, 0, 0)
    _log: AppendLog | None = None
    _size: int = 0

    @staticmethod
    def open(path: Path, dims: tuple[int, int, int]) -> Spool:
        """The spool at `path` (a new one, with a new car id, when there is none)."""
        lines = complete_lines(path)
        if not lines:
            spool = Spool(path, f"{uuid.uuid4().hex[:12]}")
        else:
            m = _HEADER.match(lines[0])
            if not m or int(m.group(1)) != _FORMAT:
                raise SpoolError(
                    f"{path} is not a learner spool this fastrlap reads; move it aside to start a new "
                    f"run, or use the fastrlap version that wrote it"
                )
            if tuple(int(g) for g in m.groups()[2:]) != dims:
                raise SpoolError(
                    f"{path} holds transitions of dims {m.group(3)},{m.group(4)},{m.group(5)} but this "
                    f"encoder makes {','.join(map(str, dims))}; use the run's own encoder"
                )
            spool = Spool(path, m.group(2))
            for line in lines[1:]:
                kind, _, rest = line.partition(" ")
                if kind == "A":
                    spool.acked = max(spool.acked, int(rest))
                elif kind == "T":
                    seq, _, data = rest.partition(" ")
                    spool.rows[int(seq)] = base64.b64decode(data)
            spool.last = max([spool.acked, *spool.rows])
            spool.rows = {s: r for s, r in spool.rows.items() if s > spool.acked}
        spool._dims = dims
        spool._rewrite()
        return spool

    def _header(self) -> str:
        return f"# fastrlap learner spool {_FORMAT} car={self.car} dims={','.join(map(str, self._dims))}"

    def _rewrite(self) -> None:
        """The file again with only the unacknowledged rows (atomically: old or new, never half)."""
        if self._log is not None:
            self._log.close()
        lines = [self._header(), f"A {self.acked}", *(_row_line(s, r) for s, r in sorted(self.rows.items()))]
        atomic_write_text(self.path, "\n".join(lines) + "\n")
        self._log = AppendLog(self.path)
        self._size = self.path.stat().st_size

    def append(self, rows: list[bytes]) -> range:
        """Spool rows under the next sequence numbers (one fsync for all); returns those numbers."""
        seqs = range(self.last + 1, self.last + 1 + len(rows))
        if rows:
            text = "\n".join(_row_line(s, r) for s, r in zip(seqs, rows))
            self._log.append(text)
            self._size += len(text) + 1
            self.rows.update(zip(seqs, rows))
            self.last = seqs[-1]
        return seqs

    def ack(self, seq: int) -> None:
        """The learner stored every row up to `seq`: forget them (the file is compacted when large)."""
        seq = min(seq, self.last)
        if seq <= self.acked:
            return
        for s in range(self.acked + 1, seq + 1):
            self.rows.pop(s, None)
        self.acked = seq
        if not self.rows and self._size > self.compact_bytes:
            self._rewrite()
        else:
            self._log.append(f"A {seq}")
            self._size += len(str(seq)) + 3

    @property
    def unacked(self) -> int:
        return len(self.rows)

    def close(self) -> None:
        if self._log is not None:
            self._log.close()


def _row_line(seq: int, row: bytes) -> str:
    return f"T {seq} {base64.b64encode(row).decode()}"
