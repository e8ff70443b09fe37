"""The operator's keyboard e-stop: space on the terminal stops the car (a stop the operator always has).

When stdin is a terminal in the foreground, a background thread reads single key presses (the
terminal in cbreak mode: no echo, no line buffering; the signal keys still work, so Ctrl-C still
ends practice). Space latches an e-stop: the supervisor goes to STOPPED and commands neutral,
and it stays there until the operator presses `c`. A `c` that releases no e-stop is counted
(`continue_presses`): after the car's serial link came back, the practice loop waits for one
before it lets the car drive again.

Why `c` and not space again: space is the big key a startled operator hits, often several
times; if a second press released the stop, a double tap would send the car off again a moment
after it was stopped. So space only ever stops (pressing it again changes nothing), continuing
takes a different, deliberate key, and Ctrl-C ends the session (the finally path sends neutral).

When stdin is not a terminal (CI, a pipe, a service) or belongs to a background job, the reader
does nothing and makes no termios call: touching the terminal from a background job would stop
the process with SIGTTOU. A terminal already out of line mode (another practice process of the
same shell holds it) is left alone too, so several processes never restore each other's modes. The terminal settings are restored by `close()` (the session calls it
in `finally`, which Ctrl-C and SIGTERM reach) and again at interpreter exit; only a kill -9
leaves the terminal in cbreak mode (`stty sane` or `reset` repairs it).
"""

from __future__ import annotations

import atexit
import os
import select
import sys
import threading
from collections.abc import Callable

STOP_KEY = b" "
CONTINUE_KEYS = (b"c", b"C")
HELP = "space = e-stop"
STOPPED_HELP = "E-STOP (space): car stopped; press c to continue, Ctrl-C to end practice"
HANGUP_HELP = (
    "E-STOP: the terminal closed, so the keyboard e-stop is gone; the car stays stopped (Ctrl-C / kill to end)"
)


def stdin_fd() -> int | None:
    """File descriptor of stdin, or None when there is none (pytest's capture, a closed stdin)."""
    try:
        return sys.stdin.fileno()
    except (AttributeError, ValueError, OSError):
        return None


def _foreground_terminal(fd: int) -> bool:
    """A terminal this process may read from without being stopped by SIGTTIN/SIGTTOU."""
    if not os.isatty(fd):
        return False
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:  # not this process's controlling terminal: job control does not apply to it
        return True


class KeyReader:
    """Latched keyboard e-stop. `stopped` is read by the control loop once per tick.

    `on_change(stopped, message)` is called from the reader thread when the latch changes, so the
    session can print the line that says how to continue at once rather than at the next
    dashboard refresh.
    """

    name = "space key"  # who stopped the car, in the logs (practice/stops.py)

    def __init__(self, fd: int | None, on_change: Callable[[bool, str], None] | None = None) -> None:
        self.fd = fd
        self.on_change = on_change
        self.enabled = fd is not None and _foreground_terminal(fd)
        self.message = ""  # the line to show while stopped
        self._stopped = threading.Event()
        self._continues = 0  # presses of `c` that released no e-stop
        self._quit = threading.Event()
        self._saved: list | None = None
        self._thread: threading.Thread | None = None

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def continue_presses(self) -> int:
        """How often `c` was pressed without releasing an e-stop (the loop compares two readings).

        The press that releases an e-stop is not counted: releasing one stop must not also
        answer another question the operator may not have seen yet."""
        return self._continues

    def hold(self) -> str:
        """What the control loop asks every tick: the line to show while stopped, "" otherwise."""
        return self.message if self._stopped.is_set() else ""

    def start(self) -> KeyReader:
        """Put the terminal in cbreak mode and start reading keys (nothing when not enabled)."""
        if not self.enabled or self._thread is not None:
            return self
        import termios

        try:
            saved = termios.tcgetattr(self.fd)
        except termios.error:  # a terminal that refuses its settings cannot be put in cbreak mode
            self.enabled = False
            return self
        if not saved[3] & termios.ICANON:
            # Someone else already reads this terminal key by key: another practice process
            # started from the same shell (a benchmark matrix), or a full-screen program. Leave
            # it alone, or the last one to exit could restore *their* cbreak mode to the shell.
            self.enabled = False
            return self
        self._saved = saved
        mode = termios.tcgetattr(self.fd)
        mode[3] &= ~(termios.ECHO | termios.ICANON)  # lflag: no echo, a key at a time; ISIG stays on
        mode[6][termios.VMIN] = 1
        mode[6][termios.VTIME] = 0
        # TCSAFLUSH drops keys typed before practice began: an old space must not stop the car now.
        termios.tcsetattr(self.fd, termios.TCSAFLUSH, mode)
        atexit.register(self.close)
        self._thread = threading.Thread(target=self._read, name="fastrlap-keys", daemon=True)
        self._thread.start()
        return self

    def _set(self, stopped: bool, message: str) -> None:
        if stopped == self.stopped:
            if stopped:
                self.message = message
            return
        self.message = message if stopped else ""
        (self._stopped.set if stopped else self._stopped.clear)()
        if self.on_change is not None:
            self.on_change(stopped, message)

    def _read(self) -> None:
        while not self._quit.is_set():
            try:
                ready, _, _ = select.select([self.fd], [], [], 0.1)
                data = os.read(self.fd, 64) if ready else None
            except (OSError, ValueError):
                data = b""
            if data is None:
                continue
            if not data:  # the terminal went away: no way left to press space, so stay stopped
                self._set(True, HANGUP_HELP)
                return
            for key in (data[i : i + 1] for i in range(len(data))):
                if key == STOP_KEY:
                    self._set(True, STOPPED_HELP)
                elif key in CONTINUE_KEYS and self.message == STOPPED_HELP:
                    self._set(False, "e-stop released (c)")
                elif key in CONTINUE_KEYS:
                    self._continues += 1

    def close(self) -> None:
        """Stop reading and restore the terminal exactly as it was; safe to call twice."""
        self._quit.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        if self._saved is not None:
            import termios

            try:
                termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
            except (termios.error, OSError):
                pass  # the terminal is gone; nothing left to restore
            self._saved = None
            atexit.unregister(self.close)

    def __enter__(self) -> KeyReader:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
