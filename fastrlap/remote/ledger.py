"""The learner's record of which transitions of which car its replay buffer holds durably.

A transition is acknowledged to its car only once it is in a committed replay chunk, and the
car then forgets it; so after a kill -9 the learner must know exactly which sequence numbers the
chunks on its disk hold, or a resent transition would be stored twice (or a lost one never
resent). Before each flush the learner writes (atomically) the chunk number that flush will
commit and every car's highest sequence number in it; on restart the last entry whose chunk
was committed is the truth, and an entry for a flush that never completed is ignored.
"""

from __future__ import annotations

import json
from pathlib import Path

from fastrlap.errors import FastrlapError
from fastrlap.storage import atomic_write_text

LEDGER_FILE = "cars.json"
_VERSION = 1
_KEEP = 4  # entries kept: the newest committed one is all a restart needs, plus slack


class LedgerError(FastrlapError):
    """The ledger file cannot be read."""


class Ledger:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: list[dict] = []

    def load(self, next_chunk: int) -> dict[str, int]:
        """Each car's highest durably stored sequence number, given the replay's next chunk number."""
        try:
            data = json.loads(self.path.read_text())
            if data.get("version") != _VERSION:
                raise ValueError
            self.entries = [
                {"chunk": int(e["chunk"]), "cars": {str(k): int(v) for k, v in e["cars"].items()}}
                for e in data["entries"]
            ]
        except FileNotFoundError:
            self.entries = []
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise LedgerError(
                f"{self.path} is damaged: without it the learner cannot tell which cars' "
                f"transitions it holds; move the run directory aside and start a new one"
            ) from None
        committed = [e for e in self.entries if e["chunk"] < next_chunk]
        self.entries = committed
        return dict(committed[-1]["cars"]) if committed else {}

    def record(self, chunk: int, cars: dict[str, int]) -> None:
        """Before the flush that commits chunk number `chunk`: it will hold every car's rows up to `cars`."""
        self.entries = [*self.entries[-(_KEEP - 1) :], {"chunk": chunk, "cars": dict(cars)}]
        atomic_write_text(self.path, json.dumps({"version": _VERSION, "entries": self.entries}))
