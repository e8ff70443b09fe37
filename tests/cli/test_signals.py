"""Ctrl-C exits 130 and SIGTERM 143, after practice has saved (the run stays resumable), so that
`fastrlap practice ... && fastrlap report ...` in a script stops instead of carrying on."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time

import pytest

from fastrlap.cli import main
from fastrlap.practice.run import agent_dir, open_run_dir
from fastrlap.practice.session import LEARNER_FILE, STATE_FILE
from tests.tiny_practice import TINY_AGENT

TINY = [
    *TINY_AGENT,
    "agent.utd_ratio=2",
    "agent.replay_flush_every=50",
    "practice.start_training=50",
    "practice.checkpoint_every=50",
    "practice.summary_every=10",
    "practice.torch_threads=1",
]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    run = tmp_path_factory.mktemp("signals") / "demo"
    assert main(["record-demo", "track=oval", f"run_dir={run}", "course.demo_speed=3.0", *TINY]) == 0
    return run


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_stop_signal_saves_then_exits_128_plus_its_number(demo_dir, tmp_path, sig, code):
    run_dir = tmp_path / "run"
    shutil.copytree(demo_dir, run_dir)
    proc = subprocess.Popen(
        [sys.executable, "-m", "fastrlap.cli", "practice", f"run_dir={run_dir}", "practice.minutes=60", *TINY],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 180.0  # generous: the machine may be loaded
        while not (run_dir / "summary.json").exists():  # written from inside the practice loop
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "practice never reached its loop"
            time.sleep(0.2)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == code, err
    assert "Traceback" not in err
    run = open_run_dir(run_dir)
    assert (agent_dir(run) / LEARNER_FILE).exists() and (agent_dir(run) / STATE_FILE).exists()
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    assert [e for e in events if e["event"] == "interrupted"] and events[-1]["event"] == "end"
    assert f"fastrlap practice resume={run_dir}" in out + err  # how to continue is printed


def test_ctrl_c_while_the_settings_load_is_one_line_and_130(monkeypatch, capsys):
    import fastrlap.cli as cli

    def interrupted(overrides):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "compose", interrupted)
    assert main(["practice"]) == 130
    assert capsys.readouterr().err.strip() == "fastrlap practice: interrupted"
