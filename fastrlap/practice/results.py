"""The figures a benchmark reports for one practice run, read back from its run directory.

A sweep's summary, the benchmark scripts and the README's results table all describe a run by
the same numbers (demo lap, time to the first lap, best lap against the oracle, collisions in the
last laps); they are computed here once, from the files practice wrote (summary.json, laps.csv,
config.yaml, track.yaml), so a run stopped before its script printed anything still has them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from fastrlap.practice.run import RunDir, RunSummary, events_path, read_laps, summary_path, trajectories_path
from fastrlap.practice.trajectory import Trajectory, read_trajectory
from fastrlap.sim.track import track_name
from fastrlap.types import LapRow


def laps_list(laps: list[LapRow]) -> list[list[float]]:
    """[practice_time_s, lap_time_s] per lap (`read_laps` rows): what comparisons at equal time need."""
    return [[r.practice_time_s, r.lap_time_s] for r in laps]


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def stuck_resets(run: RunDir, within_s: float) -> int:
    """Pseudo-resets begun because the car was stuck in the first `within_s` s of practice: how
    long the learner crawled before it learned that speed pays."""
    path = events_path(run)
    if not path.is_file():
        return 0
    count = 0
    for line in path.read_text().splitlines():
        try:
            event = json.loads(line)
        except ValueError:  # a torn last line from a killed run
            continue
        count += (
            event.get("event") == "mode"
            and event.get("new") == "RECOVERY"
            and "stuck" in str(event.get("reason", ""))
            and event.get("t", within_s) < within_s
        )
    return count


CELL_M = 2.0  # m, side of the square cells recoveries are counted in
SETTLED_S = 300.0  # s of practice after which a corner crashed again and again is a failure to learn it


def worst_cell_recoveries(traj: Trajectory, after_s: float = SETTLED_S, cell_m: float = CELL_M) -> int:
    """The most pseudo-resets that began in one `cell_m` square after `after_s` s of practice:
    a car that hits the same corner every lap shows here even when its lap count looks fine."""
    starts = traj.recovery_starts()
    late = starts.select(starts.t >= after_s)
    if not len(late):
        return 0
    cells = np.floor(late.xy() / cell_m).astype(np.int64)
    _, counts = np.unique(cells, axis=0, return_counts=True)
    return int(counts.max())


def run_figures(path: str | Path) -> dict:
    """track, seed, encoder, demo_lap_s, t2f_min, best_lap_s, oracle_lap_s, best_over_oracle,
    collisions_last5, collisions, stuck_first_min, worst_cell_recoveries, laps, practice_min, wall_s,
    wall_s_per_min (this session's wall time per simulated practice minute, demo lap included),
    run_dir and laps_list of one practised run.

    `track` is the track's name (a file's `name:` field, from the run's own copy when it has one),
    never the path it was given as, so runs on the same track file group together in tables."""
    run = RunDir(Path(path))
    summary = RunSummary.from_json(json.loads(summary_path(run).read_text()))
    cfg = OmegaConf.load(run.config)
    laps = read_laps(run)
    track = track_name(str(run.track)) if run.track.is_file() else track_name(str(cfg.track))
    return {
        "track": track,
        "seed": int(cfg.seed),
        "encoder": str(cfg.agent.encoder),
        "demo_lap_s": _rounded(summary.demo_lap_s, 3),
        "t2f_min": _rounded(summary.first_lap_practice_min, 3),
        "best_lap_s": _rounded(summary.best_lap_s, 3),
        "oracle_lap_s": _rounded(summary.oracle_lap_s, 3),
        "best_over_oracle": _rounded(summary.best_over_oracle, 3),
        "collisions_last5": int(sum(r.collisions for r in laps[-5:])),
        "collisions": summary.collisions or 0,
        "stuck_first_min": stuck_resets(run, within_s=60.0),
        "worst_cell_recoveries": worst_cell_recoveries(read_trajectory(trajectories_path(run))),
        "laps": len(laps),
        "practice_min": round(summary.practice_min, 2),
        "wall_s": round(summary.wall_s_this_session, 1),
        "wall_s_per_min": _rounded(summary.wall_s_this_session / summary.practice_min, 1)
        if summary.practice_min > 0
        else None,
        "run_dir": str(run.path),
        "laps_list": laps_list(laps),
    }
