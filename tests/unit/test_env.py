"""The gymnasium environment: registration, env checker, track by path."""

import subprocess
import sys
import warnings
from importlib.metadata import entry_points

import gymnasium as gym
import numpy as np
import yaml
from gymnasium.utils.env_checker import check_env

import fastrlap  # noqa: F401  (registers fastrlap/Track-v0)
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


def test_import_fastrlap_registers_the_env_without_importing_the_simulator_or_torch():
    code = (
        "import sys, fastrlap, gymnasium\n"
        "heavy = [m for m in ('torch', 'fastrlap.sim.env', 'fastrlap.sim.render', 'cv2') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "env = gymnasium.make('fastrlap/Track-v0', track='oval')\n"
        "obs, _ = env.reset(seed=0)\n"
        "print(obs['image'].shape)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(128, 128, 3)"


def test_gymnasium_plugin_entry_point_registers_the_env():
    """gymnasium < 1.0 calls every "gymnasium.envs" entry point on import (`__root__`: no namespace added)."""
    (plugin,) = [ep for ep in entry_points(group="gymnasium.envs") if ep.value.startswith("fastrlap.")]
    assert plugin.name == "__root__"
    gym.registry.pop("fastrlap/Track-v0", None)
    plugin.load()()
    assert "fastrlap/Track-v0" in gym.registry
