"""The console's e-stop latch, read by the control loop once per tick like the space key.

A press on the page's E-STOP latches: the loop's next tick hands the supervisor an operator stop,
which goes to STOPPED and commands neutral (the same path as the space key, so the two stops
cannot behave differently). Only "continue", a separate and confirmed action, releases it; a
second E-STOP press changes nothing, for the reason keys.py gives for the space key.
"""

from __future__ import annotations

import threading

STOPPED_HELP = "E-STOP (console): car stopped; press continue on the console to release"


class RemoteStop:
    """Thread-safe latch: the web server's thread sets it, the control loop reads it."""

    name = "console"  # who stopped the car, in the logs (practice/stops.py)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._message = ""
        self.presses = 0  # E-STOP requests accepted, count (the latency benchmark waits on it)

    def stop(self) -> None:
        with self._lock:
            self._message = STOPPED_HELP
            self.presses += 1

    def release(self) -> bool:
        """Release the latch; False when it was not held (nothing to continue)."""
        with self._lock:
            held, self._message = bool(self._message), ""
        return held

    def hold(self) -> str:
        """The line to show while the console holds the car, "" otherwise (once per tick)."""
        return self._message
