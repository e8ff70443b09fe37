"""fastrlap's gymnasium environment, registered by name so that `gymnasium.make` finds it.

Registration names the constructor by its import path ("module:function"), so registering costs
nothing: the simulator, its renderer and the rest load only when an environment is made. The
constructor (practice/track_env.py) builds the simulator's `TrackEnv`, or with `run_dir=`
fastrlap's practice task on that run directory; practice has no episode length, so on the latter
the time limit's truncation only makes the next `reset()` carry on where the car is. `import fastrlap`
calls `register_envs`; gymnasium releases before 1.0 also call it on `import gymnasium` through
the "gymnasium.envs" entry point in pyproject.toml.
"""

from __future__ import annotations

ENV_ID = "fastrlap/Track-v0"
MAX_EPISODE_STEPS = 1000  # control ticks: 100 s at 10 Hz, several laps of a built-in track


def register_envs() -> None:
    """Register `fastrlap/Track-v0` (once; later calls leave the registry as it is)."""
    from gymnasium.envs.registration import register, registry

    if ENV_ID not in registry:
        register(
            id=ENV_ID, entry_point="fastrlap.practice.track_env:make_track_env", max_episode_steps=MAX_EPISODE_STEPS
        )
