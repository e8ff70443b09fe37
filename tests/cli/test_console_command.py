"""`fastrlap console run_dir=...` serves a finished run read-only; `fastrlap practice` with a
console port that is taken stops at once with one line and writes nothing to the run."""

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from fastrlap.cli import main
from tests.tiny_practice import TINY_AGENT

TINY = [
    *TINY_AGENT,
    "practice.start_training=1000000",
    "practice.checkpoint_every=50",
]


def test_console_replays_a_practised_run_until_ctrl_c(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["practice", "track=oval", f"run_dir={run}", *TINY, "practice.max_ticks=60"]) == 0
    fastrlap = Path(sys.executable).with_name("fastrlap")
    proc = subprocess.Popen(
        [str(fastrlap), "console", f"run_dir={run}", "console.port=0"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("console: http://127.0.0.1:") and "read-only" in line, line
        url = line.split()[1]
        with urllib.request.urlopen(url + "api/state", timeout=10) as r:
            figures = json.load(r)
        assert figures["live"] is False and figures["control"] is False and figures["demo_lap"] > 0
        assert any(e["event"] == "start" for e in figures["events"]) and figures["trail"]
        with urllib.request.urlopen(url, timeout=10) as r:
            assert b"E-STOP" in r.read()
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130  # Ctrl-C, as for every command


def test_console_of_a_missing_or_empty_run_directory_is_one_line(tmp_path, capsys):
    for path, hint in ((tmp_path / "nope", "no such run directory"), (tmp_path, "no practice logs")):
        assert main(["console", f"run_dir={path}", "console.port=0"]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and str(path) in err[0] and hint in err[0]
    assert main(["console"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "run_dir=" in err[0]


def test_practice_with_the_console_port_taken_stops_before_writing(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["record-demo", "track=oval", f"run_dir={run}", *TINY]) == 0
    before = sorted(p.name for p in run.iterdir())
    capsys.readouterr()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["practice", "track=oval", f"run_dir={run}", *TINY, f"console.port={port}"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"127.0.0.1:{port}" in err[0] and "console.port=" in err[0]
    assert sorted(p.name for p in run.iterdir()) == before
