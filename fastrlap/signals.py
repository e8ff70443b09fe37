"""Ctrl-C and SIGTERM: one stop path for both, and an exit status that says which one it was.

Both signals raise KeyboardInterrupt in the main thread, so every `finally` runs: the car gets a
neutral command before its port closes, and practice writes its last checkpoint (the run stays
resumable). Practice catches that interrupt itself to save and then returns normally; the
signal is remembered here so the command still exits 128 + the signal number (130 for Ctrl-C,
143 for SIGTERM), as shells expect: `fastrlap practice ... && fastrlap report ...` stops.
"""

from __future__ import annotations

import signal
import threading


class StopSignals:
    """Context manager: while inside, SIGINT and SIGTERM raise KeyboardInterrupt and are recorded.

    A SIGINT the parent set to be ignored (a background job of a non-interactive shell) stays
    ignored. Off the main thread (where Python cannot set handlers) it does nothing."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def _stop(self, signum: int, frame) -> None:
        if self.received is None:
            self.received = signum
        raise KeyboardInterrupt

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                if signal.getsignal(sig) is not signal.SIG_IGN:
                    self._previous[sig] = signal.signal(sig, self._stop)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def exit_code(self, code: int) -> int:
        """`code`, or 128 + the signal that stopped the command."""
        return code if self.received is None else 128 + self.received
