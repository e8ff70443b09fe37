"""kill -9 at any moment of practice loses at most one flush interval of driving.

The replay buffer is flushed by wall time (`agent.replay_flush_seconds`) as well as by count, and
a first checkpoint is written before driving starts, so a kill shortly after the start, a little
later, and much later all resume. Here the count-based flush and the tick-based checkpoint are
turned off, so only the wall-clock flush can save the driving; the kill times (0.5, 3 and 8 s,
with a 1 s flush interval) stand for 5, 30 and 120 s at the default 10 s interval.
"""

import json
import os
import signal
import subprocess
import sys
import time

FLUSH_S = 1.0
SLACK_S = 4.0  # a loaded machine: the flush is checked once per tick, and a tick can be slow


def _events(run):
    path = run / "events.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass  # the line being written at the kill
    return out


def _sessions(run):
    return sum(e["event"] in ("start", "resume") for e in _events(run))


def _on_disk(run):
    """Transitions listed in the replay manifest, and when it was last written."""
    path = run / "replay" / "manifest.json"
    return sum(c["count"] for c in json.loads(path.read_text())["chunks"]), path.stat().st_mtime


def _loaded(run):
    resume = [e for e in _events(run) if e["event"] == "resume"][-1]
    return int(resume["replay"].split("loaded ")[1].split(" ")[0])


def test_kill_9_shortly_after_start_later_and_much_later_always_resumes(tmp_path, demo_run, tiny_overrides):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(demo_run.path, run)
    (run / "config.yaml").unlink()  # practice saves these settings; every resume continues with them
    settings = [
        *tiny_overrides,
        f"agent.replay_flush_seconds={FLUSH_S}",
        "agent.replay_flush_every=1000000",
        "practice.checkpoint_every=1000000",
        "practice.checkpoint_seconds=1000",
        "practice.minutes=600",
    ]
    cli = [sys.executable, "-m", "fastrlap.cli", "practice"]
    flushed = []
    for stage, kill_at in enumerate((0.5, 3.0, 8.0)):
        before = _sessions(run)
        cmd = [*cli, "track=oval", f"run_dir={run}", *settings] if stage == 0 else [*cli, f"resume={run}"]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + 120
        while _sessions(run) == before:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "practice did not start in time"
            time.sleep(0.05)
        if stage:
            assert _loaded(run) == flushed[-1]  # every transition flushed before the last kill is back
        time.sleep(kill_at)
        os.killpg(proc.pid, signal.SIGKILL)
        killed = time.time()
        proc.wait()
        count, written = _on_disk(run)
        if kill_at >= FLUSH_S + SLACK_S:
            assert killed - written <= FLUSH_S + SLACK_S, f"last flush {killed - written:.1f} s before the kill"
        flushed.append(count)

    out = subprocess.run([*cli, f"resume={run}", "practice.max_ticks=3"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert _loaded(run) == flushed[-1]
    assert flushed[0] >= _events(run)[0]["demo_transitions"]
    assert flushed[2] > flushed[1] > flushed[0]  # the wall-clock flush saved driving at each later stage
    for line in (run / "events.jsonl").read_text().splitlines():
        json.loads(line)  # no record glued onto a torn one
