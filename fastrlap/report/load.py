"""Reading one run directory for the report: its laps, summary, config, demo, checkpoints, track
and trajectories, into a `RunData` read once and drawn many times.

Every file goes through the reader of the module that writes it (laps.csv through `read_laps`,
the config through `load_run_config`, the track through `load_outline`), so the report cannot
drift from what practice stores. Only laps.csv or summary.json is required; anything else that
is missing or damaged becomes a note in the report instead of an error.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fastrlap.config import Config
from fastrlap.course.checkpoints import CheckpointsFileError, CourseSpec, load_checkpoints
from fastrlap.course.demo import DemoFileError, load_demo
from fastrlap.course.plot import TrackOutline, load_outline
from fastrlap.practice.run import (
    RunDir,
    RunDirError,
    RunSummary,
    load_run_config,
    read_laps,
    summary_path,
    trajectories_path,
)
from fastrlap.practice.trajectory import Trajectory, read_trajectory_checked
from fastrlap.report.runs import has_practice
from fastrlap.sim.track import TrackError
from fastrlap.types import LapRow


@dataclass(frozen=True)
class DrivenPath:
    """A driven path: positions (N, 2) m and ground speeds (N,) m/s."""

    xy: np.ndarray
    speed: np.ndarray
    label: str


@dataclass
class RunData:
    """What the report needs from one run directory, read once."""

    path: Path
    laps: list[LapRow]
    demo_lap_s: float | None = None  # s, from summary.json (or the demo file)
    oracle_lap_s: float | None = None  # s, simulator only
    first_lap_practice_min: float | None = None  # min of practice before the first lap (T2F)
    practice_min: float | None = None  # min of practice so far
    collisions: int | None = None
    encoder: str | None = None  # agent.encoder from config.yaml: "pretrained", "random" or a path
    trajectory: Trajectory | None = None
    demo_path: DrivenPath | None = None
    checkpoints: CourseSpec | None = None
    outline: TrackOutline | None = None  # the track's edges, walls and obstacles (simulator tracks)
    notes: list[str] = field(default_factory=list)  # what could not be read, shown in the report

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def best(self) -> LapRow | None:
        """The fastest lap (the first of equals)."""
        return min(self.laps, key=lambda r: r.lap_time_s) if self.laps else None


def _config(run: RunDir, notes: list[str]) -> Config | None:
    """The run's typed config (None, with a note, when it is missing or unreadable)."""
    if not run.config.is_file():
        return None
    try:
        return load_run_config(run)
    except RunDirError as e:
        notes.append(str(e))
        return None


def track_outline(cfg: Config | None, spec: CourseSpec | None) -> tuple[TrackOutline | None, str]:
    """The outline of the track a run drove, and a note when it cannot be drawn.

    `cfg` is the run's own config (its `track` is the run's copy of the track file); a run from
    before such copies falls back to the track its checkpoints name. A real course has no track."""
    if cfg is not None and cfg.vehicle.kind == "real":
        return None, ""
    ref = cfg.track if cfg is not None else (spec.track if spec is not None else "")
    if not ref:
        return None, ""
    try:
        return load_outline(ref), ""
    except TrackError:
        return None, f"track {ref!r} not found; maps drawn without the track"


def encoder_label(data: RunData) -> str:
    """ "random encoder", "pretrained encoder", the weights file's name, or "" when unknown."""
    if data.encoder is None:
        return ""
    if data.encoder == "random":
        return "random encoder"
    return "pretrained encoder" if data.encoder in ("pretrained", "") else f"encoder {Path(data.encoder).name}"


def run_labels(runs: Sequence[RunData]) -> list[str]:
    """Run names (or full paths when two runs share a folder name) with the encoder they used:
    how a figure's legend and a Markdown table name the runs they compare."""
    names = [r.name for r in runs]
    names = names if len(set(names)) == len(names) else [str(r.path) for r in runs]
    return [f"{n} ({encoder_label(r)})" if encoder_label(r) else n for n, r in zip(names, runs)]


def _read_summary(run: RunDir, data: RunData) -> None:
    """summary.json's headline figures into `data` (a note when the file is unreadable)."""
    try:
        parsed = json.loads(summary_path(run).read_text())
    except (OSError, ValueError):  # ValueError: not UTF-8, or not JSON
        parsed = None
    if not isinstance(parsed, dict):
        data.notes.append("summary.json is unreadable")
    summary = RunSummary.from_json(parsed)
    data.demo_lap_s, data.oracle_lap_s = summary.demo_lap_s, summary.oracle_lap_s
    data.first_lap_practice_min, data.practice_min = summary.first_lap_practice_min, summary.practice_min
    data.collisions = summary.collisions


def _read_demo(run: RunDir, data: RunData) -> None:
    """The demo lap's path (and its lap time when the summary has none) into `data`."""
    try:
        demo = load_demo(run.demo)
        xy = demo.lap_path() if demo.closed else demo.pose[:, :2]
        speed = np.hypot(demo.velocity[:, 0], demo.velocity[:, 1])[: len(xy)]
        speed = np.concatenate([speed, np.full(len(xy) - len(speed), speed[-1] if len(speed) else 0.0)])
        data.demo_path = DrivenPath(xy=xy, speed=speed, label=f"demo lap ({demo.lap_time:.2f} s)")
        if data.demo_lap_s is None and math.isfinite(demo.lap_time):
            data.demo_lap_s = float(demo.lap_time)
    except (DemoFileError, ValueError) as e:
        data.notes.append(f"demo not drawn: {str(e).splitlines()[0]}")


def load_run(path: str | Path) -> RunData:
    """Read a run directory. A missing folder, or one without practice logs (laps.csv,
    summary.json), is a one-line `RunDirError` naming the folder and the fix; the demo,
    checkpoints, track and trajectories are optional (their figures say what is missing)."""
    p = Path(path).expanduser()
    if not p.is_dir():
        raise RunDirError(
            f"{p}: no such run directory; pass a folder `fastrlap practice` wrote, "
            f"e.g. run_dir=runs/<date>-<time>-<track>"
        )
    if not has_practice(p):
        raise RunDirError(
            f"{p}: no practice logs (laps.csv, summary.json) in this run directory; practise first "
            f"with `fastrlap practice run_dir={p}`"
        )
    run = RunDir(p)
    data = RunData(path=p, laps=read_laps(run))
    if summary_path(run).is_file():
        _read_summary(run, data)
    if data.first_lap_practice_min is None and data.laps:
        data.first_lap_practice_min = data.laps[0].practice_time_s / 60.0
    if data.collisions is None and data.laps:
        data.collisions = int(sum(r.collisions for r in data.laps))
    cfg = _config(run, data.notes)
    data.encoder = cfg.agent.encoder if cfg is not None else None
    data.trajectory, skipped = read_trajectory_checked(trajectories_path(run))
    if skipped:
        data.notes.append(f"trajectory chunk(s) {', '.join(skipped)} unreadable, left out of the maps")
    if run.demo.is_file():
        _read_demo(run, data)
    if run.checkpoints.is_file():
        try:
            data.checkpoints = load_checkpoints(run.checkpoints)
        except CheckpointsFileError as e:
            data.notes.append(f"checkpoints not drawn: {str(e).splitlines()[0]}")
    data.outline, note = track_outline(cfg, data.checkpoints)
    if note:
        data.notes.append(note)
    return data


def lap_path(data: RunData, row: LapRow) -> DrivenPath | None:
    """The recorded ticks of one lap, or None when they were not recorded."""
    if data.trajectory is None or not len(data.trajectory):
        return None
    ticks = data.trajectory.lap_ticks(row.lap, row.practice_time_s, row.lap_time_s)
    if len(ticks) < 2:
        return None
    return DrivenPath(xy=ticks.xy(), speed=ticks.speed, label=f"lap {row.lap} ({row.lap_time_s:.2f} s)")
