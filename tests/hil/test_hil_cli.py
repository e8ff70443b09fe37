"""`fastrlap record-demo vehicle=hil` and `fastrlap practice vehicle=hil`: the product's commands
driving the simulated car through the real firmware, on a small track so the demo lap is short."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from fastrlap.cli import compose, main
from fastrlap.course.demo import load_demo
from fastrlap.sim.track import load_track
from fastrlap.vehicle.hil import HilRig, RigServer

pytestmark = pytest.mark.hil


def test_record_demo_and_practice_through_the_real_serial_path(firmware_build, small_track, tmp_path, capsys):
    track = small_track
    run = tmp_path / "run"
    common = ["vehicle=hil", "console.port=0", f"track={track}", f"run_dir={run}"]
    assert main(["record-demo", *common, "course.demo_speed=2.0"]) == 0
    demo = np.load(run / "demo.npz")
    assert json.loads(str(demo["meta"]))["closed"]
    t = demo["t"]
    # one sample per 10 Hz tick of wall time; a loaded machine may hold one tick back (0.52 s seen)
    assert np.diff(t).max() < 1.0 and abs(np.diff(t).mean() - 0.1) < 0.01
    err = np.hypot(*(demo["pose"][:, :2] - demo["true_pose"][:, :2]).T)
    assert err.max() < 0.25, err.max()  # the estimator (UDP poses + odometry) follows the simulated car
    moving = demo["command"][:, 0] > 1.0
    assert abs(np.median(demo["wheel_speed"][moving] - demo["command"][moving, 0])) < 0.2  # the host's speed loop
    capsys.readouterr()

    assert main(["practice", *common, "practice.max_ticks=30", "practice.dashboard=false", "wandb.mode=disabled"]) == 0
    out = capsys.readouterr().out
    assert "wall clock, firmware under simavr" in out
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    assert events[-1]["event"] == "end" and events[-1]["ticks"] == 30
    assert not [e for e in events if e["event"] == "mode" and e["new"] in ("STOPPED", "ERRORED")], events

    # The learned policy drives the board with no learning: nothing is added to the replay
    # buffer or the practice logs, evaluation.csv is written. The run's vehicle is taken from
    # the run itself (no vehicle= needed).
    kept = {p: p.stat().st_mtime_ns for p in [*(run / "replay").rglob("*"), run / "events.jsonl", run / "laps.csv"]}
    code = main(["evaluate", f"run_dir={run}", "laps=1", "practice.max_ticks=30"])
    out = capsys.readouterr().out
    assert "on the simulated board" in out and "0 of 1 laps completed in 30 ticks" in out
    assert code == 1  # the one lap asked for was not driven in 30 ticks
    assert (run / "evaluation.csv").read_text().startswith("lap,lap_time_s")
    assert {p: p.stat().st_mtime_ns for p in kept} == kept


def _wait(predicate, timeout: float, what: str, host=None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if host is not None and host.poll() is not None:
            raise AssertionError(f"the host exited ({host.returncode}) before {what}: {host.stderr.read()[-2000:]}")
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)


def test_rc_demo_then_practice_killed_mid_run_leaves_the_car_stopped_by_the_firmware(
    firmware_build, small_track, tmp_path, capsys
):
    """The car-without-the-car acceptance run on the real serial path, with the rig in this process so the
    simulated car outlives the host: the demo driven through the firmware's RC passthrough, then
    `fastrlap practice` as its own process, SIGKILLed while driving (only the firmware's watchdog
    can stop the car), then again and SIGTERMed (the host's own stop path is faster)."""
    track = small_track
    run = tmp_path / "run"
    sock = tmp_path / "rig.sock"
    rig = HilRig(compose(["vehicle=hil"]).vehicle, load_track(str(track)))
    server = RigServer(rig, str(sock)).start()
    host = None
    common = ["vehicle=hil", "console.port=0", f"vehicle.hil.attach={sock}", f"track={track}", f"run_dir={run}"]
    try:
        # the demo: a scripted driver holds the transmitter, the host only listens
        assert main(["record-demo", *common, "teleop=rc", "course.demo_speed=2.0"]) == 0
        assert "recording a demo lap of small" in capsys.readouterr().out
        demo = load_demo(run / "demo.npz")
        assert demo.closed and demo.driver == "rc" and demo.vehicle == "hil"
        moving = demo.command[:, 0] > 1.0
        assert moving.mean() > 0.8  # the human's command came from the RC pulses the firmware reported in TELEOP
        assert abs(np.median(demo.wheel_speed[moving] - demo.command[moving, 0])) < 0.3  # and the car followed it
        assert np.abs(demo.command[:, 1]).max() > 0.15  # steered through the turns
        assert np.allclose(demo.action[:, 0], np.clip((demo.command[:, 0] - 1.5) / 1.5, -1, 1))  # inverse to_command
        assert np.hypot(*(demo.pose[:, :2] - demo.true_pose[:, :2]).T).max() < 0.3

        def practice_host(*resume):
            return subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "fastrlap.cli",
                    "practice",
                    *common,
                    *resume,
                    "practice.minutes=1",
                    "practice.dashboard=false",
                    "wandb.mode=disabled",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )

        def driving() -> bool:
            esc = rig.board.latest("esc")
            return esc is not None and esc.width_us > 1530 and rig.car.wheel_speed > 0.5

        host = practice_host()
        _wait(driving, 90.0, "the policy drove the car", host)
        time.sleep(1.0)  # mid-run; a pseudo-reset may be reversing the car just now: kill it once it drives
        _wait(driving, 30.0, "the policy drove the car mid-run", host)
        os.kill(host.pid, signal.SIGKILL)  # no finally, no neutral: only the firmware can stop the car
        killed = time.monotonic()
        host.wait()
        neutral = rig.board.wait_pulse("esc", lambda w: abs(w - 1500) <= 10, timeout=1.0)
        print(f"SIGKILL -> neutral ESC pulse after {1000 * (neutral.arrived - killed):.0f} ms")
        # the watchdog's 250 ms bound is held in simulated time by test_firmware_hil; wall time gets room
        assert neutral.arrived - killed < 1.0, neutral.arrived - killed
        _wait(lambda: abs(rig.car.wheel_speed) < 0.05, 4.0, "the simulated car stopped")
        assert abs(rig.board.latest("esc").width_us - 1500) <= 10  # and it stays stopped
        events = [json.loads(line)["event"] for line in (run / "events.jsonl").read_text().splitlines()]
        assert events[0] == "start" and "end" not in events  # killed mid-run, not finished

        host = practice_host(f"resume={run}")  # the killed session continues (its first checkpoint was on disk)
        _wait(driving, 90.0, "the policy drove the car again", host)
        host.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        neutral = rig.board.wait_pulse("esc", lambda w: abs(w - 1500) <= 10, timeout=1.0)
        print(f"SIGTERM -> neutral ESC pulse after {1000 * (neutral.arrived - sent):.0f} ms")
        assert neutral.arrived - sent < 0.2, neutral.arrived - sent  # the host's finally, before the watchdog
        # saved and ended cleanly, yet 128 + SIGTERM, so that a script's `practice && report` stops
        assert host.wait(timeout=30) == 143, host.stderr.read()[-2000:]
        events = [json.loads(line)["event"] for line in (run / "events.jsonl").read_text().splitlines()]
        assert events[-2:] == ["interrupted", "end"]
    finally:
        if host is not None and host.poll() is None:
            host.kill()
            host.wait()
        server.close()
        rig.close()
