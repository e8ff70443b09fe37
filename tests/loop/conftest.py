"""Shared pieces for loop tests: a recorded demo run directory and tiny learner settings."""

import os
import pty

import pytest

from fastrlap.cli import compose
from fastrlap.practice import session as session_mod
from fastrlap.practice.demo_lap import record_demo_lap
from fastrlap.practice.run import open_run_dir, save_config
from fastrlap.sim.track import load_track
from tests.tiny_practice import TINY_AGENT

TINY = [
    *TINY_AGENT,
    "agent.utd_ratio=2",
    "agent.replay_flush_every=50",
    "practice.start_training=50",
    "practice.checkpoint_every=50",
    "practice.summary_every=25",
]


def tiny_cfg(track="oval", *extra):
    return compose([f"track={track}", *TINY, *extra])


@pytest.fixture(scope="session")
def tiny():
    return tiny_cfg


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """A run directory with a recorded demo lap on the oval (recorded once per test session)."""
    cfg = tiny_cfg()
    run = open_run_dir(tmp_path_factory.mktemp("demo") / "run", create=True)
    save_config(run, cfg)
    assert record_demo_lap(cfg, run, load_track("oval")) == 0
    return run


@pytest.fixture(scope="session")
def tiny_overrides():
    """The tiny learner settings as command-line overrides (for tests that go through the CLI)."""
    return list(TINY)


@pytest.fixture
def terminal(monkeypatch):
    """(master, slave) of a pseudo-terminal that practice() takes as its stdin: the test types
    the operator's keys into master."""
    master, slave = pty.openpty()
    monkeypatch.setattr(session_mod, "stdin_fd", lambda: slave)
    yield master, slave
    os.close(master)
    os.close(slave)
