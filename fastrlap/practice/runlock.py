"""One process at a time in a run directory.

Two processes practising in one folder would interleave events.jsonl and laps.csv and, on a car,
drive one serial port from two controllers. A process that writes into a run holds an exclusive
`flock` on the run's `.lock` file; the kernel drops it when the process ends however it ends
(kill -9 included), so a lock never outlives its holder and needs no clean-up. The holder's PID
and command are written into the file only so the refusal can name them.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from fastrlap.practice.run import RunDir, RunDirError

LOCK_FILE = ".lock"


class RunLocked(RunDirError):
    """Another live process holds the run directory."""


class RunLock:
    """`with RunLock(run, "practice"):` holds the run for this process, or raises `RunLocked`."""

    def __init__(self, run: RunDir, what: str) -> None:
        self.path = Path(run.path) / LOCK_FILE
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise RunDirError(
                f"{self.path}: cannot open the run's lock file ({e.strerror}); check the folder's permissions"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise RunLocked(
                f"{self.path.parent} is in use by {holder}; wait for it to end (or stop it) "
                f"before running {self.what} there"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()} ({self.what})".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
