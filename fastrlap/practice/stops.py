"""Operator stops from outside the car (the space key, the field console's E-STOP): who holds it.

Each source names itself, so the supervisor's stop reason and the `estop` events in
events.jsonl say which one stopped the car: a stop pressed on a phone must not be logged as the
space key, or whoever reads the log looks for the wrong person. The loop reads all sources as
one, once per tick; the first that holds the car speaks, and each is released only by its own
continue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from fastrlap.practice.supervisor import StopReason


class StopSource(Protocol):
    """A latch an operator sets to hold the car (practice/keys.py KeyReader, console RemoteStop)."""

    name: str  # who stopped the car, as the logs say it: "space key", "console"

    def hold(self) -> str:
        """The line to show while it holds the car, "" while it does not."""
        ...


@dataclass(frozen=True)
class Hold:
    """An operator stop in force this tick."""

    source: str  # the StopSource's name
    line: str  # what it tells the operator (how to continue)

    @property
    def reason(self) -> str:
        """The supervisor's stop reason: "e-stop (console)"."""
        return StopReason.ESTOP.text(self.source)


def first_hold(*sources: StopSource) -> Callable[[], Hold | None]:
    """The loop's one operator stop from several sources: the first that holds the car, or None."""

    def hold() -> Hold | None:
        for source in sources:
            line = source.hold()
            if line:
                return Hold(source.name, line)
        return None

    return hold
