"""kill -9 mid-practice then resume; the car's threaded learner."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np

from fastrlap.agent.replay import ReplayBuffer
from fastrlap.agent.sac import SAC, PolicyInput
from fastrlap.config import AgentConfig
from fastrlap.practice.learner import ThreadedLearner
from fastrlap.practice.run import read_laps
from fastrlap.types import Transition

TINY_CLI = [
    "agent.encoder=random",
    "agent.hidden_dim=32",
    "agent.num_qs=2",
    "agent.batch_size=16",
    "agent.utd_ratio=2",
    "agent.replay_flush_every=50",
    "practice.start_training=50",
    "practice.checkpoint_every=50",
    "wandb.mode=disabled",
    "practice.dashboard=false",
]


def _manifest_count(run):
    path = run / "replay" / "manifest.json"
    if not path.exists():
        return 0
    try:
        return sum(c["count"] for c in json.loads(path.read_text())["chunks"])
    except (ValueError, KeyError):
        return 0


def test_kill_9_then_resume_keeps_laps_replay_and_clock(tmp_path, demo_run):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(demo_run.path, run)
    cmd = [sys.executable, "-m", "fastrlap.cli", "practice", "track=oval", f"run_dir={run}", *TINY_CLI]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 240
    demo_rows = None
    while time.monotonic() < deadline:
        if demo_rows is None and (run / "events.jsonl").exists():
            first = (run / "events.jsonl").read_text().splitlines()
            if first:
                demo_rows = json.loads(first[0])["demo_transitions"]
        if demo_rows is not None and _manifest_count(run) >= demo_rows + 150:
            break
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.2)
    else:
        raise AssertionError("practice did not get going in time")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    flushed = _manifest_count(run)
    laps_before = read_laps(type("R", (), {"path": run})())
    state = json.loads((run / "agent" / "loop_state.json").read_text())

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "fastrlap.cli",
            "practice",
            f"resume={run}",
            "practice.max_ticks=20",
            "practice.dashboard=false",
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert out.returncode == 0, out.stderr
    assert "resumed" in out.stdout
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    resume = [e for e in events if e["event"] == "resume"]
    assert len(resume) == 1
    # Everything flushed before the kill is back (at most one flush interval was lost).
    loaded = int(resume[0]["replay"].split("loaded ")[1].split(" ")[0])
    assert loaded >= flushed >= demo_rows + 150 - 50
    summary = json.loads((run / "summary.json").read_text())
    assert summary["ticks"] == state["ticks"] + 20
    assert summary["practice_min"] * 60 >= state["practice_time"] + 1.9 - 1e-6  # clock continues (19 periods)
    assert read_laps(type("R", (), {"path": run})())[: len(laps_before)] == laps_before


def _transition(rng, e, p):
    f = lambda n: rng.standard_normal(n).astype(np.float32)  # noqa: E731
    lo, hi = -np.ones(2, np.float32), np.ones(2, np.float32)
    return Transition(
        embedding=f(e),
        proprio=f(p),
        action=rng.uniform(-1, 1, 2).astype(np.float32),
        action_lo=lo,
        action_hi=hi,
        reward=float(rng.standard_normal()),
        next_embedding=f(e),
        next_proprio=f(p),
        next_action_lo=lo,
        next_action_hi=hi,
        done=False,
    )


def test_threaded_learner_updates_in_the_background_and_acts_without_waiting():
    cfg = AgentConfig(hidden_dim=32, num_qs=2, batch_size=16, utd_ratio=2)
    agent = SAC(8, 4, 2, cfg, seed=0)
    replay = ReplayBuffer(8, 4, 2, 1000)
    learner = ThreadedLearner(agent, replay, start_training=20, sync_seconds=0.05)
    rng = np.random.default_rng(0)
    try:
        for _ in range(40):
            learner.insert(_transition(rng, 8, 4))
            learner.on_transition()
        obs = PolicyInput(
            embedding=np.zeros(8, np.float32),
            proprio=np.zeros(4, np.float32),
            action_lo=np.full(2, -0.2, np.float32),
            action_hi=np.full(2, 0.2, np.float32),
        )
        first = learner.act(obs, deterministic=True)
        deadline = time.monotonic() + 30
        while learner.updates < 2 * 21 and time.monotonic() < deadline:
            assert np.all(np.abs(learner.act(obs, deterministic=True)) <= 0.2 + 1e-6)
            time.sleep(0.01)
        assert learner.updates == 2 * 21  # one UTD block per transition once 20 were stored: no more
        time.sleep(0.2)
        assert not np.array_equal(first, learner.act(obs, deterministic=True))  # the actor copy was refreshed
    finally:
        learner.close()
    assert not learner._thread.is_alive()
