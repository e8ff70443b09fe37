"""kill -9 mid-practice then resume; the car's threaded learner."""

import json
import os
import signal
import subprocess
import sys
import time

from fastrlap.practice.run import read_laps
from tests.tiny_practice import TINY_AGENT

TINY_CLI = [
    *TINY_AGENT,
    "agent.utd_ratio=2",
    "agent.replay_flush_every=50",
    "practice.start_training=50",
    "practice.checkpoint_every=50",
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
