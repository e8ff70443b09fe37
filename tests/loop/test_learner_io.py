"""The car's threaded learner keeps the disk off the control thread, and what a kill -9 loses."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from fastrlap.agent import replay as replay_mod
from fastrlap.agent.replay import ReplayBuffer
from fastrlap.agent.sac import SAC, PolicyInput
from fastrlap.config import AgentConfig
from fastrlap.practice.learner import ThreadedLearner
from fastrlap.types import Transition


def transition(rng, e=8, p=4):
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


def tiny_agent():
    return SAC(8, 4, 2, AgentConfig(hidden_dim=16, num_qs=2, batch_size=4, utd_ratio=1), seed=0)


def test_threaded_learner_updates_in_the_background_and_acts_without_waiting():
    cfg = AgentConfig(hidden_dim=32, num_qs=2, batch_size=16, utd_ratio=2)
    agent = SAC(8, 4, 2, cfg, seed=0)
    replay = ReplayBuffer(8, 4, 2, 1000)
    learner = ThreadedLearner(agent, replay, start_training=20, sync_seconds=0.05)
    rng = np.random.default_rng(0)
    try:
        for _ in range(40):
            learner.insert(transition(rng))
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


def test_insert_returns_at_once_while_a_flush_is_slow(tmp_path, monkeypatch):
    writes = []  # (start, end) of every slow chunk write
    real_write = replay_mod.atomic_write

    def slow_write(path, write):
        if path.name.startswith("chunk_"):
            t0 = time.monotonic()
            time.sleep(0.4)  # an SD card having a bad moment
            real_write(path, write)
            writes.append((t0, time.monotonic()))
        else:
            real_write(path, write)

    monkeypatch.setattr(replay_mod, "atomic_write", slow_write)
    replay = ReplayBuffer(8, 4, 2, 1000, directory=tmp_path / "replay", flush_every=10)
    learner = ThreadedLearner(tiny_agent(), replay, start_training=20, sync_seconds=0.05)
    rng = np.random.default_rng(0)
    latency, stamps = [], []
    try:
        for _ in range(60):
            t0 = time.monotonic()
            learner.insert(transition(rng))
            learner.on_transition()
            latency.append(time.monotonic() - t0)
            stamps.append(t0)
            time.sleep(0.01)  # a fast control loop: flushes fall behind, inserts must not
        seen = []
        learner.checkpoint(lambda: seen.append((len(replay), threading.current_thread().name)))
    finally:
        learner.close()
    assert learner.error is None
    # Inserts overlapped slow flushes and did not wait for them.
    assert any(a < t < b for t in stamps for a, b in writes)
    assert max(latency) < 0.1, f"insert waited {max(latency):.3f} s for the disk (a write takes 0.4 s)"
    # The checkpoint ran in the writer thread after every transition queued before it.
    assert seen == [(60, "fastrlap-replay")]
    # close() drained the inbox: all 60 are stored and flushed (6 chunks of 10).
    assert len(replay) == 60 and len(writes) == 6
    again = ReplayBuffer(8, 4, 2, 1000, directory=tmp_path / "replay", flush_every=10)
    assert again.load().loaded == 60


def _on_a_failing_disk(tmp_path, monkeypatch, error: BaseException, inserts: int):
    """A threaded learner whose every replay write raises `error`, after `inserts` inserts."""

    def full(path, write):
        raise error

    monkeypatch.setattr(replay_mod, "atomic_write", full)
    replay = ReplayBuffer(8, 4, 2, 100, directory=tmp_path / "replay", flush_every=2)
    learner = ThreadedLearner(tiny_agent(), replay, start_training=1000, sync_seconds=1.0)
    rng = np.random.default_rng(1)
    for _ in range(inserts):
        learner.insert(transition(rng))
    return learner, replay


def _obs():
    return PolicyInput(
        embedding=np.zeros(8, np.float32),
        proprio=np.zeros(4, np.float32),
        action_lo=-np.ones(2, np.float32),
        action_hi=np.ones(2, np.float32),
    )


def test_a_failing_disk_reaches_the_control_loop_and_close_does_not_raise(tmp_path, monkeypatch):
    learner, _ = _on_a_failing_disk(tmp_path, monkeypatch, OSError(28, "No space left on device"), 3)
    deadline = time.monotonic() + 5
    while learner.error is None and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(RuntimeError, match="No space left"):
        learner.act(_obs(), deterministic=True)
    learner.close()
    assert isinstance(learner.error, OSError)


def test_on_a_full_disk_the_writer_keeps_every_transition_in_memory_and_the_loop_gets_one_line(tmp_path, monkeypatch):
    from fastrlap.errors import FastrlapError
    from fastrlap.storage import StorageError

    learner, replay = _on_a_failing_disk(tmp_path, monkeypatch, StorageError("cannot write chunk: the disk is full"), 7)
    learner.close()
    assert isinstance(learner.error, StorageError)
    assert len(replay) == 7 and replay.unsaved == 7  # stored in memory, counted as not on disk
    with pytest.raises(FastrlapError, match="disk is full"):
        learner.act(_obs(), deterministic=True)


CHILD = textwrap.dedent("""
    import sys, time
    import numpy as np
    from fastrlap.agent import replay as rp
    from fastrlap.agent.replay import ReplayBuffer
    from fastrlap.agent.sac import SAC, PolicyInput
    from fastrlap.config import AgentConfig
    from fastrlap.practice.learner import ThreadedLearner
    from fastrlap.types import Transition

    real = rp.atomic_write
    def slow(path, write):
        if path.name.startswith("chunk_"):
            time.sleep(0.1)
        real(path, write)
    rp.atomic_write = slow
    agent = SAC(8, 4, 2, AgentConfig(hidden_dim=16, num_qs=2, batch_size=4, utd_ratio=1), seed=0)
    replay = ReplayBuffer(8, 4, 2, 100000, directory=sys.argv[1], flush_every=20)
    learner = ThreadedLearner(agent, replay, start_training=10**9, sync_seconds=1.0)
    rng = np.random.default_rng(0)
    f = lambda n: rng.standard_normal(n).astype(np.float32)
    lo, hi = -np.ones(2, np.float32), np.ones(2, np.float32)
    for i in range(1, 100000):
        learner.insert(Transition(embedding=f(8), proprio=f(4), action=np.zeros(2, np.float32), action_lo=lo,
                                  action_hi=hi, reward=0.0, next_embedding=f(8), next_proprio=f(4),
                                  next_action_lo=lo, next_action_hi=hi, done=False))
        learner.on_transition()
        print(i, flush=True)
        time.sleep(0.02)
""")


def test_kill_9_loses_at_most_one_flush_interval_plus_one_write(tmp_path):
    """50 transitions/s, a chunk every 20 taking 0.1 s to write: a kill -9 at any moment loses at
    most the 19 pending plus the ~5 that arrive during one write (slack for a busy machine)."""
    directory = tmp_path / "replay"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(directory)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    last = 0
    try:
        for line in proc.stdout:
            last = int(line)
            if last >= 97:  # ~2 s of inserts: several flushes done, maybe one under way
                break
        assert last >= 97, proc.stderr.read()
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    report = ReplayBuffer(8, 4, 2, 100000, directory=directory, flush_every=20).load()
    lost = last - report.loaded
    assert 0 <= lost <= 20 + 5 + 10, f"{lost} transitions lost"
    assert report.loaded % 20 == 0  # whole chunks only; a half-written one was dropped


def test_practice_records_its_device_and_threads_and_leaves_torch_as_it_was(tmp_path, demo_run, tiny):
    import json
    import shutil

    import torch

    from fastrlap.errors import FastrlapError
    from fastrlap.practice.run import open_run_dir
    from fastrlap.practice.session import practice
    from fastrlap.sim.track import load_track
    from fastrlap.vehicle.sim import SimVehicle

    shutil.copytree(demo_run.path, tmp_path / "run")
    run = open_run_dir(tmp_path / "run")
    before = torch.get_num_threads()
    cfg = tiny("oval", "practice.max_ticks=5", "practice.torch_threads=1", "device=cpu")
    practice(run, SimVehicle(load_track("oval"), cfg.vehicle, seed=0), cfg, status=lambda s: None)
    assert torch.get_num_threads() == before
    start = json.loads((tmp_path / "run" / "events.jsonl").read_text().splitlines()[0])
    assert start["event"] == "start" and start["torch_threads"] == 1 and start["device"] == "cpu"
    if not torch.cuda.is_available():
        cfg = tiny("oval", "device=cuda")
        with pytest.raises(FastrlapError, match="device=cuda but this machine has no CUDA device; use device=auto"):
            practice(run, SimVehicle(load_track("oval"), cfg.vehicle, seed=0), cfg, status=lambda s: None, resume=True)
