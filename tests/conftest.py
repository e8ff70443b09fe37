"""Shared by the loop and HIL tests: `fastrlap learner serve` in its own process."""

import json
import signal
import socket
import subprocess
import sys
import time

import pytest

LEARNER = [
    "agent.encoder=random",
    "agent.hidden_dim=32",
    "agent.num_qs=2",
    "agent.batch_size=16",
    "agent.utd_ratio=2",
    "practice.start_training=50",
    "agent.replay_flush_seconds=0.3",
    "practice.checkpoint_seconds=1",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Learner:
    """`fastrlap learner serve` in its own process, its output in a file."""

    def __init__(self, run_dir, port, log):
        self.run_dir, self.port, self.log = run_dir, port, log
        self.address = f"tcp://127.0.0.1:{port}"
        self.key = run_dir / "learner.key"
        self.overrides = LEARNER  # small learner settings; a car feeding it needs the same agent sizes

    def start(self, timeout=90.0):
        before = self.log.read_text() if self.log.exists() else ""
        out = open(self.log, "a")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fastrlap.cli",
                "learner",
                "serve",
                f"run_dir={self.run_dir}",
                f"bind={self.address}",
                *LEARNER,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()
        deadline = time.monotonic() + timeout
        while self.log.read_text().count("listening on") == before.count("listening on"):
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "the learner did not start in time"
            time.sleep(0.05)
        return self

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=60)

    def stored(self) -> int:
        manifest = self.run_dir / "replay" / "manifest.json"
        return sum(c["count"] for c in json.loads(manifest.read_text())["chunks"]) if manifest.exists() else 0

    def ledger(self) -> dict:
        return json.loads((self.run_dir / "cars.json").read_text())["entries"][-1]["cars"]


@pytest.fixture
def learner(tmp_path):
    """A learner serving on a free loopback port; stopped (SIGTERM) after the test."""
    lrn = Learner(tmp_path / "learner", _free_port(), tmp_path / "learner.out")
    yield lrn.start()
    lrn.stop()
