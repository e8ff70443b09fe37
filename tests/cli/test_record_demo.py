"""`fastrlap record-demo` and `fastrlap checkpoints show` end to end on the simulator."""

import json
import subprocess
import sys

import numpy as np
import pytest

from fastrlap.cli import main
from fastrlap.course.checkpoints import Course, load_checkpoints
from fastrlap.course.demo import load_demo
from fastrlap.sim.track import builtin_tracks, load_track, resolve_track_path
from fastrlap.types import Pose


def checkpoints_in_track_order(run_dir, track_name):
    spec = load_checkpoints(run_dir / "checkpoints.json")
    track = load_track(track_name)
    s = np.array([(track.project(c.x, c.y).s - track.start) % track.length for c in spec.checkpoints])
    s[0] = s[0] if s[0] < track.length / 2 else s[0] - track.length  # checkpoint 0 sits on the line
    assert abs(s[0]) < 0.5
    assert np.all(np.diff(s) > 0), s  # every checkpoint further along the track than the one before
    gaps = np.diff(np.append(s, track.length + s[0]))
    assert gaps == pytest.approx(spec.spacing, rel=0.25)  # evenly spaced, the last leg included
    assert spec.course_length == pytest.approx(track.length, rel=0.05)
    return spec


def test_record_demo_and_show_as_subprocesses(tmp_path):
    # The built-in "technical" track given as a YAML path relative to the working folder.
    (tmp_path / "technical.yaml").write_text(resolve_track_path("technical").read_text())
    run = tmp_path / "run"
    out = subprocess.run(
        [sys.executable, "-m", "fastrlap.cli", "record-demo", "vehicle=sim", "track=technical.yaml", f"run_dir={run}"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "demo lap time:" in out.stdout
    for name in ("config.yaml", "demo.npz", "checkpoints.json"):
        assert (run / name).is_file()
    assert "track: technical" in (run / "config.yaml").read_text()
    spec = checkpoints_in_track_order(run, "technical")
    demo = load_demo(run / "demo.npz")
    assert demo.closed and demo.track == str(tmp_path / "technical.yaml") and demo.frames.shape[1:] == (128, 128, 3)
    assert spec.demo_lap_time == pytest.approx(demo.lap_time)
    assert f"{demo.lap_time:.2f} s" in out.stdout
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    show = subprocess.run(
        [sys.executable, "-m", "fastrlap.cli", "checkpoints", "show", f"run_dir={run}"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=elsewhere,
    )
    assert show.returncode == 0, show.stderr
    assert "not found" not in show.stderr  # the track file was found again: its edges are drawn
    png = run / "checkpoints.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


@pytest.mark.parametrize("track", [t for t in builtin_tracks() if t != "technical"])
def test_record_demo_on_every_race_track(tmp_path, capsys, track):
    assert main(["record-demo", "vehicle=sim", f"track={track}", f"run_dir={tmp_path}"]) == 0
    out = capsys.readouterr().out
    assert "demo lap time:" in out
    spec = checkpoints_in_track_order(tmp_path, track)
    # Replaying the demo through a Course finds the lap record-demo timed (same LapTimer, same gate).
    demo = load_demo(tmp_path / "demo.npz")
    course = Course(spec)
    course.reset(demo.t[0], Pose(*demo.pose[0]), standing_start=True)
    for t, pose in zip(demo.t[1:], demo.pose[1:]):
        course.update(t, Pose(*pose))
    assert len(course.laps) == 1 and course.laps[0].time == pytest.approx(demo.lap_time, abs=0.1)


def test_second_demo_into_the_same_run_is_refused(tmp_path, capsys):
    (tmp_path / "demo.npz").write_bytes(b"x")
    assert main(["record-demo", f"run_dir={tmp_path}"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already exists" in err[0]


def test_real_car_without_its_port_is_one_line_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    port = tmp_path / "ttyNONE"
    for command in ("record-demo", "practice"):
        assert main([command, "vehicle=real", f"vehicle.real.port={port}"]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and str(port) in err[0] and "plug in the car's USB cable" in err[0], err
    assert not list((tmp_path / "runs").iterdir())  # no empty run directories from the failed starts


@pytest.mark.parametrize(
    "args, words",
    [
        (["teleop=script", "vehicle=real"], ["teleop=rc", "teleop=gamepad"]),
        (["teleop=keyboard", "vehicle=real"], ["vehicle=sim", "teleop=rc"]),
        (["teleop=rc"], ["vehicle=real", "teleop=script"]),
        (["teleop=joystick"], ["teleop='joystick'", "gamepad"]),
    ],
)
def test_teleop_that_cannot_drive_this_vehicle_is_one_line(tmp_path, capsys, args, words):
    assert main(["record-demo", *args, f"run_dir={tmp_path}"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and all(w in err[0] for w in words), err
    assert not (tmp_path / "config.yaml").exists()  # refused before anything started


def test_keyboard_without_a_display_is_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["record-demo", "teleop=keyboard", f"run_dir={tmp_path}"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "display" in err[0] and "teleop=script" in err[0]
    assert not (tmp_path / "config.yaml").exists()  # nothing started


def test_ctrl_c_in_record_demo_keeps_the_partial(monkeypatch, tmp_path, capsys):
    import fastrlap.sim.drivers as drivers

    calls = {"n": 0}
    real = drivers.DemoDriver.__call__

    def interrupting(self, pose, speed):
        calls["n"] += 1
        if calls["n"] == 30:
            raise KeyboardInterrupt
        return real(self, pose, speed)

    monkeypatch.setattr(drivers.DemoDriver, "__call__", interrupting)
    assert main(["record-demo", "track=technical", f"run_dir={tmp_path}"]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "demo.partial.npz" in err[0]
    assert len(load_demo(tmp_path / "demo.partial.npz")) == 29
    assert not (tmp_path / "demo.npz").exists()


def test_show_errors_are_one_line(tmp_path, capsys):
    assert main(["checkpoints", "show"]) == 1
    assert "run_dir=" in capsys.readouterr().err
    (tmp_path / "checkpoints.json").write_text(json.dumps({"format_version": 99}))
    assert main(["checkpoints", "show", f"run_dir={tmp_path}"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "version 99" in err[0]


def _one_line_command(capsys) -> list[str]:
    """The one error line's command (between backquotes), as argv for main()."""
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    command = err[0].split("`")[1].split()
    assert command[0] == "fastrlap"
    return command[1:]


def test_a_damaged_demo_or_lost_checkpoints_are_fixed_by_the_commands_the_errors_name(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["record-demo", "track=oval", f"run_dir={run}"]) == 0
    spec = load_checkpoints(run / "checkpoints.json")
    torn = (run / "demo.npz").read_bytes()[:5000]
    (run / "demo.npz").write_bytes(torn)
    capsys.readouterr()
    assert main(["checkpoints", "extract", f"run_dir={run}"]) == 1
    command = _one_line_command(capsys)
    assert command == ["record-demo", f"run_dir={run}", "force=true"]
    assert main(command) == 0
    assert "previous demo is kept as" in capsys.readouterr().out
    [aside] = run.glob("demo.2*.npz")
    assert aside.read_bytes() == torn  # the damaged file is kept, not destroyed
    assert len(list(run.glob("checkpoints.2*.json"))) == 1
    assert load_demo(run / "demo.npz").closed
    spec = load_checkpoints(run / "checkpoints.json")

    (run / "checkpoints.json").unlink()
    assert main(["practice", f"run_dir={run}"]) == 1
    command = _one_line_command(capsys)
    assert command == ["checkpoints", "extract", f"run_dir={run}"]
    assert main(command) == 0
    again = load_checkpoints(run / "checkpoints.json")
    assert again == spec
    (run / "checkpoints.json").write_text("{")  # damaged: the same command fixes it and keeps it aside
    assert main(["checkpoints", "show", f"run_dir={run}"]) == 1
    assert _one_line_command(capsys) == command
    assert main(command) == 0
    assert len(list(run.glob("checkpoints.2*.json"))) == 2


def test_a_bad_encoder_path_is_reported_before_the_demo_is_driven(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "broken.pt").write_bytes(b"not weights")
    for command, weights in (("record-demo", tmp_path / "missing.pt"), ("practice", tmp_path / "broken.pt")):
        assert main([command, f"agent.encoder={weights}"]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and str(weights) in err[0], err
        assert not (tmp_path / "runs").exists()  # no run folder, no demo lap driven
