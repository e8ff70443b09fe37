"""One process at a time in a run directory; a killed holder leaves no lock behind."""

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from fastrlap.cli import main
from fastrlap.practice.run import open_run_dir
from fastrlap.practice.runlock import RunLock, RunLocked


def test_a_second_practice_is_refused_with_the_holders_pid_and_kill_9_frees_the_run(tmp_path, demo_run, capsys):
    run = tmp_path / "run"
    shutil.copytree(demo_run.path, run)
    first = subprocess.Popen(
        [sys.executable, "-m", "fastrlap.cli", "practice", f"run_dir={run}", "practice.minutes=60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        assert "practising" in first.stdout.readline()  # printed once the run is locked
        deadline = time.monotonic() + 120
        while not (run / "agent" / "learner.pt").exists():  # the first checkpoint: something to resume
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        events = (run / "events.jsonl").read_text()
        assert main(["practice", f"resume={run}", "practice.max_ticks=5"]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"process {first.pid} (practice)" in err[0] and str(run) in err[0], err
        with pytest.raises(RunLocked):
            RunLock(open_run_dir(run), "evaluate").acquire()
        assert (run / "events.jsonl").read_text().startswith(events)  # nothing of the refused one in the log
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    assert main(["practice", f"resume={run}", "practice.max_ticks=5"]) == 0
    assert "resumed" in capsys.readouterr().out
