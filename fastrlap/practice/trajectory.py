"""Per-tick trajectories of practice: where the car was, how fast, who drove, which lap.

`trajectories/` in the run directory (`run.trajectories_path`) holds numbered chunks
`chunk-000000.npz`, `chunk-000001.npz`, ... Each chunk is written whole to a temporary name and
renamed into place (atomic), when the session checkpoints the learner; so a kill -9 loses at most
the ticks since the last checkpoint, and a reader never sees a half-written chunk. A resumed
session appends after the highest existing chunk number.

A chunk holds, for N ticks (about 21 bytes per tick before compression):
  `t` (N,) float64 practice time, s · `x`, `y` (N,) float32 estimated position, m (world frame) ·
  `speed` (N,) float32 estimated ground speed, m/s · `mode` (N,) uint8 index into `mode_names` ·
  `lap` (N,) int32 the lap being driven (1 until the first lap completes; the tick on which lap k
  completes already belongs to lap k + 1) · `mode_names` the supervisor's mode names, and
  `format_version` (int, now 1).
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fastrlap.practice.supervisor import Mode
from fastrlap.storage import atomic_write

FORMAT_VERSION = 1
MODE_NAMES: tuple[str, ...] = tuple(m.value for m in Mode)
_CHUNK = re.compile(r"^chunk-(\d{6,})\.npz$")


@dataclass(frozen=True)
class Trajectory:
    """Ticks in driving order; `mode` indexes `MODE_NAMES`."""

    t: np.ndarray  # (N,) s of practice time
    x: np.ndarray  # (N,) m
    y: np.ndarray  # (N,) m
    speed: np.ndarray  # (N,) m/s
    mode: np.ndarray  # (N,) uint8
    lap: np.ndarray  # (N,) int32, lap in progress

    def __len__(self) -> int:
        return len(self.t)

    def select(self, keep: np.ndarray) -> Trajectory:
        return Trajectory(
            t=self.t[keep],
            x=self.x[keep],
            y=self.y[keep],
            speed=self.speed[keep],
            mode=self.mode[keep],
            lap=self.lap[keep],
        )

    def xy(self) -> np.ndarray:
        """(N, 2) positions, m."""
        return np.stack([self.x, self.y], axis=1)

    def mode_is(self, mode: Mode) -> np.ndarray:
        return self.mode == MODE_NAMES.index(mode.value)

    def recovery_starts(self) -> Trajectory:
        """The ticks on which a pseudo-reset began (RECOVERY after any other mode): where the car
        crashed or got stuck."""
        recovering = self.mode_is(Mode.RECOVERY)
        return self.select(recovering & ~np.concatenate([[False], recovering[:-1]]))

    def lap_ticks(self, lap: int, end_time: float | None = None, lap_time: float | None = None) -> Trajectory:
        """The ticks of lap `lap`. With its end (laps.csv practice_time_s) and duration
        (lap_time_s), ticks of an earlier, interrupted attempt at the same lap number (a session
        killed mid-lap and resumed) are left out."""
        keep = self.lap == lap
        if end_time is not None and lap_time is not None:
            keep &= (self.t >= end_time - lap_time - 0.5) & (self.t <= end_time + 1e-6)
        return self.select(keep)


def empty_trajectory() -> Trajectory:
    f32 = np.zeros(0, np.float32)
    return Trajectory(t=np.zeros(0), x=f32, y=f32, speed=f32, mode=np.zeros(0, np.uint8), lap=np.zeros(0, np.int32))


def _chunk_numbers(directory: Path) -> list[tuple[int, Path]]:
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _CHUNK.match(p.name))]
    return sorted(found)


class TrajectoryRecorder:
    """Collects ticks in memory; `flush()` writes them as the next chunk (atomically)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        existing = _chunk_numbers(self.directory)
        self._next = existing[-1][0] + 1 if existing else 0
        self._rows: list[tuple[float, float, float, float, int, int]] = []

    def __len__(self) -> int:
        """Ticks waiting for the next flush."""
        return len(self._rows)

    def add(self, t: float, x: float, y: float, speed: float, mode: Mode, lap: int) -> None:
        self._rows.append((float(t), float(x), float(y), float(speed), MODE_NAMES.index(mode.value), int(lap)))

    def flush(self) -> Path | None:
        """Write the collected ticks as one chunk; returns its path (None when nothing was new)."""
        return self.cut()()

    def cut(self) -> Callable[[], Path | None]:
        """Hand the collected ticks to a writer function and start collecting afresh.

        The chunk number is taken now, so chunks stay in driving order; the returned function
        writes the chunk (atomically) and may run later in another thread — the car's loop hands
        it to the learner's writer thread instead of waiting for the disk."""
        rows, self._rows = self._rows, []
        if not rows:
            return lambda: None
        path = self.directory / f"chunk-{self._next:06d}.npz"
        self._next += 1
        return lambda: _write_chunk(path, rows)


def _write_chunk(path: Path, rows: list[tuple[float, float, float, float, int, int]]) -> Path:
    cols = list(zip(*rows))
    return atomic_write(
        path,
        lambda f: np.savez_compressed(
            f,
            format_version=np.int32(FORMAT_VERSION),
            mode_names=np.array(MODE_NAMES),
            t=np.asarray(cols[0], np.float64),
            x=np.asarray(cols[1], np.float32),
            y=np.asarray(cols[2], np.float32),
            speed=np.asarray(cols[3], np.float32),
            mode=np.asarray(cols[4], np.uint8),
            lap=np.asarray(cols[5], np.int32),
        ),
    )


def read_trajectory(directory: str | Path) -> Trajectory:
    """All chunks in order, concatenated. Chunks that cannot be read (another format version, a
    damaged file) are skipped, so a plot still shows the rest; a missing folder is empty."""
    return read_trajectory_checked(directory)[0]


def read_trajectory_checked(directory: str | Path) -> tuple[Trajectory, list[str]]:
    """`read_trajectory`, plus the names of the chunks it skipped (for the reader to report)."""
    parts: list[Trajectory] = []
    skipped: list[str] = []
    for _, path in _chunk_numbers(Path(directory)):
        part = _read_chunk(path)
        if part is None:
            skipped.append(path.name)
        else:
            parts.append(part)
    if not parts:
        return empty_trajectory(), skipped
    return Trajectory(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in ("t", "x", "y", "speed", "mode", "lap"))
    ), skipped


def _read_chunk(path: Path) -> Trajectory | None:
    """One chunk, or None when it is of another format version, damaged or inconsistent."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if int(z["format_version"]) != FORMAT_VERSION:
                return None
            names = [str(s) for s in z["mode_names"]]
            remap = np.array([MODE_NAMES.index(n) if n in MODE_NAMES else 255 for n in names], np.uint8)
            part = Trajectory(
                t=z["t"].astype(np.float64),
                x=z["x"].astype(np.float32),
                y=z["y"].astype(np.float32),
                speed=z["speed"].astype(np.float32),
                mode=remap[z["mode"]],
                lap=z["lap"].astype(np.int32),
            )
    except (OSError, KeyError, ValueError, IndexError, zipfile.BadZipFile, EOFError, zlib.error):
        return None
    if len({len(part.t), len(part.x), len(part.y), len(part.speed), len(part.mode), len(part.lap)}) != 1:
        return None
    return part
