"""How every file of a run directory reaches the disk: whole or not at all, and never silently.

Two kinds of file live in a run directory:

- Snapshots (learner.pt, replay chunks and their manifest, loop_state.json, summary.json, the
  demo, checkpoints.json, trajectory chunks): `atomic_write` writes a temporary sibling, fsyncs
  it, renames it over the target and fsyncs the folder, so a reader (or a resume after kill -9)
  sees the old file or the new one, never half of one.
- Append-only logs (laps.csv, events.jsonl): one record per line, fsync'd line by line. A kill
  during a write can leave a torn last line; `AppendLog` cuts it off before appending again, so
  the next record is not glued onto it, and says what it dropped.

A write that fails (disk full, read-only folder, permissions) removes its temporary file and
raises `StorageError`: one line naming the file, the cause and the fix.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from fastrlap.errors import FastrlapError

TMP_SUFFIX = ".tmp"


class StorageError(FastrlapError):
    """A file could not be written (disk full, read-only, no permission)."""


def write_failure(path: Path, e: OSError) -> StorageError:
    """The one-line error for a failed write of `path`, with the fix for the usual causes."""
    if e.errno == errno.ENOSPC or e.errno == errno.EDQUOT:
        fix = f"the disk holding {path.parent} is full; free some space and run the command again"
    elif e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        fix = f"{path.parent} is not writable ({e.strerror}); make it writable or copy the run directory elsewhere"
    else:
        fix = f"{e.strerror or type(e).__name__}; check the disk and run the command again"
    return StorageError(f"cannot write {path}: {fix}")


def atomic_write(path: str | Path, write: Callable[[BinaryIO], object]) -> Path:
    """Write `path` through `write(file)` so it is replaced whole or left as it was.

    On failure the temporary sibling is removed (a full disk keeps no half files) and a
    `StorageError` is raised; an exception from `write` itself (bad weights, a bug) also removes
    it. Only a kill leaves a `.tmp` sibling behind, which readers ignore or drop.
    """
    path = Path(path)
    tmp = path.with_name(path.name + TMP_SUFFIX)
    try:
        with open(tmp, "wb") as f:
            write(f)
        move_into_place(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise write_failure(path, e) from None
    except Exception:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text.encode()))


def move_into_place(finished: Path, path: Path) -> None:
    """Make the fully written file `finished` the file `path`: its bytes reach the disk, it is
    renamed over `path` and the folder's entry reaches the disk too, so a crash at any point leaves
    the old file or the new one. The last step of every whole-file write (`atomic_write`, and
    writers that must produce their file under another name first, such as a video encoder);
    raises OSError for the caller to turn into its own one-line error."""
    fd = os.open(finished, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(finished, path)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def complete_lines(path: str | Path) -> list[str]:
    """The lines of a log whose newline reached the disk; a torn last line is left out (a
    reader must not take "1.04" cut from "1.0412" for a number). Missing file: no lines."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    end = data.rfind(b"\n")
    return data[: end + 1].decode(errors="replace").splitlines() if end >= 0 else []


@dataclass(frozen=True)
class TornTail:
    """What `AppendLog` cut off the end of a log before appending to it."""

    path: Path
    text: str  # the partial record, as far as it was written

    def describe(self) -> str:
        shown = self.text if len(self.text) <= 60 else self.text[:57] + "..."
        return f"{self.path.name}: dropped a torn last record ({len(self.text)} bytes, {shown!r}) left by a crash"


class AppendLog:
    """A line-per-record log opened for appending; each `append` is fsync'd before it returns.

    Opening cuts off a torn last line (`torn` says what was dropped, or None) so no record is
    glued onto a partial one; every complete record stays.
    """

    def __init__(self, path: str | Path, header: str | None = None) -> None:
        self.path = Path(path)
        self.torn: TornTail | None = None
        try:
            self._file = open(self.path, "a+b")
            self._cut_torn_tail()
            if header is not None and self._file.tell() == 0:
                self.append(header)
        except OSError as e:
            raise write_failure(self.path, e) from None

    def _cut_torn_tail(self) -> None:
        f = self._file
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return
        # Read back far enough to find the last newline (records are short; grow if not).
        span = 4096
        while True:
            start = max(0, size - span)
            f.seek(start)
            tail = f.read(size - start)
            cut = tail.rfind(b"\n")
            if cut >= 0 or start == 0:
                break
            span *= 4
        if cut == len(tail) - 1:
            return
        keep = start + cut + 1 if cut >= 0 else 0
        self.torn = TornTail(self.path, tail[cut + 1 :].decode(errors="replace"))
        f.truncate(keep)
        f.seek(keep)
        f.flush()
        os.fsync(f.fileno())

    def append(self, line: str) -> None:
        try:
            self._file.write(line.encode() + b"\n")
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as e:
            raise write_failure(self.path, e) from None

    def close(self) -> None:
        try:
            self._file.close()
        except OSError:  # the data was fsync'd record by record; a failed close loses nothing more
            pass
