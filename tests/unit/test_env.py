"""The gymnasium environment: registration, env checker, track by path; with run_dir=, practice's task."""

import subprocess
import sys
import warnings
from importlib.metadata import entry_points

import gymnasium as gym
import numpy as np
import pytest
import yaml
from gymnasium.utils.env_checker import check_env

import fastrlap  # noqa: F401  (registers fastrlap/Track-v0)
from fastrlap.actions import to_action
from fastrlap.agent.encoder import EncoderSpec
from fastrlap.cli import compose
from fastrlap.config import Config
from fastrlap.course.checkpoints import Course, extract_checkpoints, load_checkpoints
from fastrlap.errors import ConfigError, FastrlapError
from fastrlap.practice.demo_lap import record_demo_lap
from fastrlap.practice.gym_env import PracticeEnv
from fastrlap.practice.loop import PracticeLoop
from fastrlap.practice.run import open_run_dir, save_config
from fastrlap.practice.session import distance_to_polyline
from fastrlap.practice.sim_operator import SimOperator
from fastrlap.practice.vehicles import make_vehicle
from fastrlap.sim.drivers import OracleDriver, speed_profile
from fastrlap.sim.track import load_track, resolve_track_path
from fastrlap.types import LapRow


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


# ---------------------------------------------------------------------------------------------
# run_dir=: fastrlap's practice task (checkpoints, practice's reward and recoveries)


def centreline_course(name: str):
    """(config, track, demo path, checkpoints) of a course laid along the track's centerline, as
    if the demo lap had driven it from the start line."""
    cfg = Config()
    cfg.track = name
    track = load_track(name)
    path = track.point_at(track.start + np.linspace(0.0, track.length, 600))
    c = cfg.course
    spec = extract_checkpoints(path, c.checkpoint_spacing, c.goal_radius, c.gate_half_width, track=name)
    return cfg, track, path, spec


class ScriptedLearner:
    """The practice loop's learner, acting from a fixed list and keeping what it is given."""

    def __init__(self, actions):
        self.actions, self.updates, self.last_metrics, self.replay = iter(actions), 0, {}, []
        self.lag = 0

    def act(self, obs, deterministic):
        return next(self.actions)

    def insert(self, transition):
        self.replay.append(transition)

    def on_transition(self):
        pass


class NoEncoder:
    """The loop's frames go nowhere: its transitions are compared on everything but the embedding."""

    spec = EncoderSpec(frame_stack=1)

    def embed(self, stack):
        return np.zeros(1, np.float32)


def scripted_actions(seed: int, n: int) -> list[np.ndarray]:
    """Full throttle with random steering: crashes on a walled track, excursions on an open one."""
    rng = np.random.default_rng(seed)
    return [np.array([1.0, rng.uniform(-0.6, 0.6)], np.float32) for _ in range(n)]


@pytest.mark.parametrize("name", ["oval", "sweeper"])
def test_practice_env_steps_are_the_practice_loops_transitions(name):
    """Driven with the same actions, the env gives exactly the transitions `PracticeLoop` stores:
    state vectors, practice's reward (crash penalties included), the geofence's terminal and the
    recoveries between, and the same laps and collisions at the same practice time."""
    cfg, track, path, spec = centreline_course(name)
    actions = scripted_actions(1, 2000)
    vehicle = make_vehicle(cfg, track)
    learner = ScriptedLearner(actions)
    loop_log, env_log = [], []
    loop = PracticeLoop(
        vehicle,
        Course(spec),
        NoEncoder(),
        learner,
        cfg,
        distance_to_polyline(path),
        on_lap=lambda row: loop_log.append(row),
        on_event=lambda t, kind, data: loop_log.append((t, kind, data)),
    )
    operator = SimOperator(vehicle, path, cfg.practice.sim_carry_back_s, on_event=loop.on_event)
    loop.run(60.0, on_tick=operator)
    stored = learner.replay

    env = PracticeEnv(
        cfg,
        track,
        path,
        spec,
        on_lap=lambda row: env_log.append(row),
        on_event=lambda t, kind, data: env_log.append((t, kind, data)),
    )
    obs, _ = env.reset(seed=cfg.seed)
    got = []
    for action in actions[: len(stored)]:
        nxt, reward, terminated, truncated, info = env.step(action)
        got.append((obs["state"], reward, nxt["state"], terminated, truncated))
        t_end = info["practice_time_s"]  # the loop's last transition ends here
        obs = env.reset()[0] if terminated or truncated else nxt
    ends = {"terminated": 0, "truncated": 0}
    for tr, (state, reward, next_state, terminated, truncated) in zip(stored, got):
        np.testing.assert_array_equal(state, tr.proprio)
        np.testing.assert_array_equal(next_state, tr.next_proprio)
        assert reward == tr.reward and terminated == tr.done
        ends["terminated"] += terminated
        ends["truncated"] += truncated

    # the same mode changes, carries and laps (per-lap collisions and speeds too) at the same practice times
    def until_end(log):
        return [e for e in log if (e.practice_time_s if isinstance(e, LapRow) else e[0]) <= t_end]

    assert loop.state.practice_time - 5.0 < t_end <= loop.state.practice_time
    assert until_end(env_log) == until_end(loop_log)
    # the walled oval crashes (truncated: a recovery follows), the open sweeper leaves the geofence
    if name == "oval":
        assert ends["truncated"] > 0 and min(tr.reward for tr in stored) < -1.0  # a crash's penalty
    else:
        assert ends["terminated"] > 0


def test_practice_env_follows_the_checkpoints_and_times_laps_on_an_oracle_drive():
    cfg, track, path, spec = centreline_course("oval")
    env = PracticeEnv(cfg, track, path, spec)
    env.reset(seed=0)
    driver = OracleDriver(track, env.vehicle.params)
    targets, rewards, speeds = [env.course_step.target], [], []
    for _ in range(250):
        obs = env.last_obs
        cmd = driver(obs.true_pose, obs.wheel_speed)
        _, reward, terminated, truncated, info = env.step(to_action(cmd.speed, cmd.steer, cfg.vehicle))
        assert not (terminated or truncated)
        targets.append(env.course_step.target)
        rewards.append(reward)
        speeds.append(float(env.last_obs.velocity[0]))
    steps = [(b - a) % len(spec.checkpoints) for a, b in zip(targets, targets[1:])]
    assert set(steps) == {0, 1}  # every checkpoint in order, none skipped
    oracle = speed_profile(track, env.vehicle.params).lap_time
    assert info["laps"] == len(env.laps) == 2
    assert all(oracle < row.lap_time_s < 1.15 * oracle for row in env.laps)
    assert env.laps[0].practice_time_s == pytest.approx(env.laps[0].lap_time_s, abs=0.15)  # a standing start
    # the reward is the speed toward the next checkpoint: close to the forward speed when on line
    assert np.median(np.array(rewards) / np.maximum(speeds, 0.5)) == pytest.approx(1.0, abs=0.05)


def test_make_with_run_dir_practises_that_runs_demo_and_checkpoints(tmp_path):
    cfg = compose(["track=oval", "course.demo_speed=3.0"])
    run = open_run_dir(tmp_path / "run", create=True)
    save_config(run, cfg)
    assert record_demo_lap(cfg, run, load_track("oval")) == 0
    events = []
    env = gym.make("fastrlap/Track-v0", run_dir=str(run.path), on_event=lambda t, kind, data: events.append(kind))
    obs, info = env.reset(seed=0)
    assert obs["state"].shape == (10,) and obs["image"].shape == (128, 128, 3) and info["mode"] == "LEARNING"
    assert env.unwrapped.course_spec == load_checkpoints(run.checkpoints) and events == ["mode"]
    with pytest.raises(ConfigError, match="leave track= and vehicle= out"):
        gym.make("fastrlap/Track-v0", run_dir=str(run.path), track="oval")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(gym.make("fastrlap/Track-v0", run_dir=str(run.path)).unwrapped, skip_render_check=False)
    run.demo.unlink()
    with pytest.raises(FastrlapError, match="no such demo file; record one with `fastrlap record-demo"):
        gym.make("fastrlap/Track-v0", run_dir=str(run.path))
