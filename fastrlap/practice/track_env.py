"""What `gymnasium.make("fastrlap/Track-v0", ...)` builds: the simulator's `TrackEnv`, or, given
`run_dir=`, fastrlap's practice task on that run directory (`PracticeEnv`, practice/gym_env.py).

One id for both: the practice task is the same track with the demo's checkpoints, practice's
reward and its recoveries. The registration names this function (fastrlap/registration.py); it
lives in practice/ because `PracticeEnv` does, and imports each environment only when asked for
it, so the plain one costs no torch import.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import gymnasium as gym

from fastrlap.config import VehicleConfig
from fastrlap.errors import ConfigError
from fastrlap.types import LapRow


def make_track_env(
    track=None,
    vehicle: VehicleConfig | None = None,
    render_mode: str | None = None,
    run_dir: str | Path | None = None,
    on_lap: Callable[[LapRow], None] | None = None,
    on_event: Callable[[float, str, dict], None] | None = None,
) -> gym.Env:
    """`TrackEnv(track, vehicle, render_mode)` (track defaults to oval), or with `run_dir` the
    practice task on that run (`on_lap`/`on_event` receive its laps.csv rows and events)."""
    if run_dir is None:
        if on_lap is not None or on_event is not None:
            raise ConfigError("on_lap= and on_event= report practice's laps and events: give run_dir= too")
        from fastrlap.sim.env import TrackEnv

        return TrackEnv("oval" if track is None else track, vehicle, render_mode)
    if track is not None or vehicle is not None:
        raise ConfigError(
            "run_dir= practises on the run's own track with its own vehicle settings; leave track= and vehicle= out"
        )
    from fastrlap.practice.gym_env import PracticeEnv

    return PracticeEnv.from_run(run_dir, render_mode=render_mode, on_lap=on_lap, on_event=on_event)
