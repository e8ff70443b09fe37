"""The gymnasium environment: registration, env checker, track by path."""
import warnings

import gymnasium as gym
import numpy as np
import yaml
from gymnasium.utils.env_checker import check_env

import fastrlap.sim.env  # noqa: F401  (registers fastrlap/Track-v0)
from fastrlap.sim.track import resolve_track_path


def test_check_env_passes_without_warnings():
    env = gym.make("fastrlap/Track-v0", track="hairpin")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped, skip_render_check=False)


def test_env_by_path_steps_and_rewards_progress(tmp_path):
    src = yaml.safe_load(resolve_track_path("oval").read_text())
    path = tmp_path / "copy.yaml"
    path.write_text(yaml.safe_dump(src))
    env = gym.make("fastrlap/Track-v0", track=str(path))
    obs, _ = env.reset(seed=0)
    assert obs["image"].shape == (128, 128, 3) and obs["state"].dtype == np.float32
    total = 0.0
    for _ in range(30):
        obs, reward, terminated, truncated, info = env.step(np.array([0.0, 0.0], dtype=np.float32))
        total += reward
    assert total > 0.0  # driving forward at 3 m/s along the track earns progress
