"""The console's figures for a finished run, read from its logs (`fastrlap console run_dir=...`).

Everything comes through the report's reader (`report.load.load_run`): laps.csv for the lap chart,
summary.json for the demo and oracle lines, the trajectories for the car's path and where
recoveries began, events.jsonl for the log. Read-only: the page shows no control.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from fastrlap.console.feed import EVENT_LINES, TRAIL_POINTS, Figures, TrackMap, event_text
from fastrlap.practice.run import RunDir, events_path
from fastrlap.report.load import RunData, load_run


def _events(path: Path) -> list[dict]:
    """The newest events of events.jsonl; a line cut short by a crash is skipped, not fatal."""
    out = []
    if path.is_file():
        for line in path.read_text(errors="replace").splitlines():
            try:
                e = json.loads(line)
                data = {k: v for k, v in e.items() if k not in ("t", "event")}
                out.append(
                    {"t": round(float(e["t"]), 2), "event": str(e["event"]), "text": event_text(e["event"], data)}
                )
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                continue
    return out[-EVENT_LINES:]


def _points(xy: np.ndarray) -> list[tuple[float, float]]:
    return [(round(float(x), 3), round(float(y), 3)) for x, y in xy]


class ReplaySource:
    """A fixed snapshot of a finished run, served like a live one."""

    def __init__(self, data: RunData) -> None:
        self.track = TrackMap.from_arrays(
            data.demo_path.xy if data.demo_path is not None else np.zeros((0, 2)),
            [(cp.x, cp.y) for cp in data.checkpoints.checkpoints] if data.checkpoints is not None else [],
        )
        fig = Figures(
            live=False,
            demo_lap=data.demo_lap_s,
            oracle_lap=data.oracle_lap_s,
            laps=len(data.laps),
            lap_times=[round(r.lap_time_s, 3) for r in data.laps],
            lap_ends=[round(r.practice_time_s, 2) for r in data.laps],
            best_lap=data.best.lap_time_s if data.best else None,
            practice_time=(data.practice_min or 0.0) * 60.0,
            mode="replay",
            events=_events(events_path(RunDir(data.path))),
        )
        traj = data.trajectory
        if traj is not None and len(traj):
            step = max(1, len(traj) // TRAIL_POINTS)
            fig.trail = _points(traj.xy()[::step])
            fig.recoveries = _points(traj.recovery_starts().xy())
        self._figures = asdict(fig)

    @staticmethod
    def load(path: str | Path) -> ReplaySource:
        """A run directory without practice logs is a one-line error naming the folder (load_run)."""
        return ReplaySource(load_run(path))

    def snapshot(self) -> dict:
        return self._figures

    def camera_jpeg(self) -> bytes | None:
        return None  # runs keep no camera frames
