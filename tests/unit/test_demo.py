"""The demo lap: recording against a fake car, Ctrl-C and rejection keep the partial demo,
demo.npz round trip, and one-line errors for corrupt, truncated and wrong-version files."""

import dataclasses
import math
import zipfile

import numpy as np
import pytest

from fastrlap.config import CourseConfig, VehicleConfig
from fastrlap.course.demo import (
    DEMO_FORMAT_VERSION,
    DemoFileError,
    DemoInterrupted,
    DemoRejected,
    load_demo,
    record_demo,
    save_demo,
)
from fastrlap.types import NEUTRAL, Command, ImuReading, Observation, Pose
from fastrlap.vehicle.base import SimClock

VCFG = VehicleConfig()
CCFG = CourseConfig()


class CircleCar:
    """A fake Vehicle: moves at the commanded speed along a circle of `radius` (steering ignored)."""

    def __init__(self, radius=5.0, hz=10.0, fail_at=None):
        self.clock, self.control_hz = SimClock(), hz
        self.radius, self.angle, self.ticks, self.fail_at = radius, 0.0, 0, fail_at
        self.stops = 0
        self.estop = False

    def observe(self):
        th = self.angle - math.pi / 2
        pose = Pose(self.radius * math.cos(th), self.radius * math.sin(th) + self.radius, self.angle)
        return Observation(
            t=self.clock.now(),
            frame=np.full((8, 8, 3), self.ticks % 256, np.uint8),
            imu=ImuReading(accel=np.array([0.0, 0.0, 9.81]), gyro=np.zeros(3)),
            wheel_speed=0.0,
            pose=pose,
            velocity=np.zeros(2),
            yaw_rate=0.0,
            true_pose=pose,
            estop=self.estop,
        )

    def act(self, command):
        self.ticks += 1
        if self.ticks == self.fail_at:
            raise KeyboardInterrupt
        self.angle += command.speed / self.hz_radius
        self.clock.advance(1.0 / self.control_hz)

    @property
    def hz_radius(self):
        return self.control_hz * self.radius

    def stop(self):
        self.stops += 1

    def close(self):
        pass


def steady(speed):
    return lambda obs: Command(speed=speed, steer=0.1)


def test_records_one_lap_and_times_it(tmp_path):
    car = CircleCar(radius=5.0)
    demo = record_demo(car, steady(1.5), VCFG, CCFG, tmp_path / "demo.partial.npz", track="circle", driver_name="test")
    assert demo.closed and car.stops >= 1
    assert demo.lap_time == pytest.approx(2 * math.pi * 5.0 / 1.5, rel=0.01)
    assert demo.lap_path()[-1] == pytest.approx(demo.pose[0, :2], abs=0.02)  # closes where it began
    assert np.all(np.diff(demo.t) > 0) and demo.frames.shape == (len(demo), 8, 8, 3)
    # The command is stored as the policy action too: speed = bias + scale·a0, steer = a1·max_steer.
    assert demo.action[0] == pytest.approx([(1.5 - VCFG.speed_bias) / VCFG.speed_scale, 0.1 / VCFG.max_steer])
    assert tuple(demo.command[-1]) == (NEUTRAL.speed, NEUTRAL.steer)
    assert 0.9 <= demo.path_length - demo.lap_time * 1.5 <= 1.2  # ~1 m recorded past the close
    assert not (tmp_path / "demo.partial.npz").exists()


def test_round_trip(tmp_path):
    demo = record_demo(CircleCar(radius=3.0), steady(2.0), VCFG, CCFG, tmp_path / "p.npz", track="circle")
    path = save_demo(demo, tmp_path / "demo.npz")
    back = load_demo(path)
    for name in ("t", "pose", "velocity", "action", "command", "frames", "collision"):
        np.testing.assert_array_equal(getattr(back, name), getattr(demo, name))
    assert (back.track, back.closed, back.lap_time, back.lap_end) == (demo.track, True, demo.lap_time, demo.lap_end)


@pytest.mark.parametrize("where", ["driver", "vehicle"])
def test_ctrl_c_keeps_the_partial_demo(tmp_path, where):
    partial = tmp_path / "demo.partial.npz"
    car = CircleCar(fail_at=25 if where == "vehicle" else None)
    calls = []

    def driver(obs):
        calls.append(obs.t)
        if where == "driver" and len(calls) == 25:
            raise KeyboardInterrupt
        return Command(speed=1.5, steer=0.0)

    with pytest.raises(DemoInterrupted) as err:
        record_demo(car, driver, VCFG, CCFG, partial)
    msg = str(err.value)
    assert "\n" not in msg and str(partial) in msg and "Ctrl-C" in msg
    assert car.stops >= 1  # the car is stopped whatever happened
    kept = load_demo(partial)
    assert not kept.closed and len(kept) == 24 + (where == "vehicle")
    assert not (tmp_path / "demo.npz").exists()


def test_unclosed_demo_is_rejected_and_kept(tmp_path):
    partial = tmp_path / "demo.partial.npz"
    cfg = CourseConfig(max_demo_seconds=5.0)
    with pytest.raises(DemoRejected, match="max_demo_seconds") as err:
        record_demo(CircleCar(radius=20.0), steady(1.0), VCFG, cfg, partial)
    assert "covered" in str(err.value) and str(partial) in str(err.value)
    assert len(load_demo(partial)) > 40


def test_a_loop_shorter_than_the_minimum_never_closes(tmp_path):
    # A 6.3 m circle against a 10 m minimum: it must not close after the first round, but the second.
    demo = record_demo(CircleCar(radius=1.0), steady(1.0), VCFG, CourseConfig(lap_close_radius=0.5), tmp_path / "p.npz")
    assert demo.lap_time == pytest.approx(2 * 2 * math.pi, rel=0.01)


def test_emergency_stop_rejects(tmp_path):
    car = CircleCar()
    car.estop = True
    with pytest.raises(DemoRejected, match="emergency stop"):
        record_demo(car, steady(1.0), VCFG, CCFG, tmp_path / "p.npz")


@pytest.fixture
def demo_file(tmp_path):
    demo = record_demo(CircleCar(radius=3.0), steady(2.0), VCFG, CCFG, tmp_path / "p.npz")
    return save_demo(demo, tmp_path / "demo.npz")


def assert_one_line(err, path, *words):
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and "fastrlap record-demo" in msg
    for w in words:
        assert w in msg


def test_truncated_demo_is_one_line(demo_file):
    data = demo_file.read_bytes()
    demo_file.write_bytes(data[: len(data) // 2])
    with pytest.raises(DemoFileError) as err:
        load_demo(demo_file)
    assert_one_line(err, demo_file, "corrupt or truncated")


def test_corrupt_demo_is_one_line(demo_file):
    data = bytearray(demo_file.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 64] = bytes(64)  # zeroed bytes inside the compressed frames
    demo_file.write_bytes(bytes(data))
    with pytest.raises(DemoFileError) as err:
        load_demo(demo_file)
    assert_one_line(err, demo_file)
    demo_file.write_bytes(b"not a zip at all")
    with pytest.raises(DemoFileError) as err:
        load_demo(demo_file)
    assert_one_line(err, demo_file, "corrupt or truncated")


def test_wrong_version_is_one_line(demo_file, tmp_path):
    with np.load(demo_file) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["format_version"] = np.int64(DEMO_FORMAT_VERSION + 1)
    other = tmp_path / "future.npz"
    np.savez_compressed(other, **arrays)
    with pytest.raises(DemoFileError) as err:
        load_demo(other)
    assert_one_line(err, other, f"version {DEMO_FORMAT_VERSION + 1}")


def test_missing_array_and_missing_file_are_one_line(demo_file, tmp_path):
    with np.load(demo_file) as z:
        arrays = {k: z[k] for k in z.files if k != "pose"}
    other = tmp_path / "nopose.npz"
    np.savez_compressed(other, **arrays)
    with pytest.raises(DemoFileError) as err:
        load_demo(other)
    assert_one_line(err, other, "pose")
    with pytest.raises(DemoFileError) as err:
        load_demo(tmp_path / "nothing.npz")
    assert_one_line(err, tmp_path / "nothing.npz", "no such")
    assert zipfile.is_zipfile(demo_file)


def test_keyboard_keys_map_to_commands():
    from fastrlap.course.keyboard import keys_to_command

    cmd, s = keys_to_command({"Up"}, 0.0, 1.5, 0.45)
    assert (cmd.speed, cmd.steer) == (1.5, 0.0)
    for _ in range(10):  # holding Left eases to full lock, not beyond
        cmd, s = keys_to_command({"Up", "Left"}, s, 1.5, 0.45)
    assert s == 1.0 and cmd.steer == pytest.approx(0.45)
    cmd, s = keys_to_command(set(), s, 1.5, 0.45)  # released: speed off, steering recentres
    assert cmd.speed == 0.0 and 0.0 <= s < 1.0
    cmd, s = keys_to_command({"Down", "Right"}, 0.0, 1.5, 0.45)
    assert cmd.speed < 0 and cmd.steer < 0


def test_ctrl_c_after_the_lap_closed_keeps_the_demo(tmp_path):
    period = 2 * math.pi * 5.0 / 1.5

    def driver(obs):
        if obs.t > period + 0.05:  # in the ~1 m recorded past the line
            raise KeyboardInterrupt
        return Command(speed=1.5, steer=0.0)

    demo = record_demo(CircleCar(radius=5.0), driver, VCFG, CCFG, tmp_path / "p.npz")
    assert demo.closed and demo.lap_time == pytest.approx(period, rel=0.01)
    assert demo.lap_end <= len(demo) - 1 and demo.t[-1] > period
    assert not (tmp_path / "p.npz").exists()


class BumpingCar(CircleCar):
    """A CircleCar that reports a contact beginning every 10th tick."""

    def observe(self):
        obs = super().observe()
        return dataclasses.replace(obs, collision=self.ticks % 10 == 1)


@pytest.mark.parametrize(
    "car, speed, cause",
    [
        (CircleCar(), 0.0, "the car barely moved"),
        (BumpingCar(), 0.0, "the car barely moved and hit something"),
        (CircleCar(radius=1000.0), 1.0, "never came back across the start line (closest"),
        (CircleCar(radius=0.5), 1.0, "never got more than 1.0 m from the start"),
    ],
)
def test_a_demo_that_never_closes_says_why(tmp_path, car, speed, cause):
    cfg = CourseConfig(max_demo_seconds=30.0)
    with pytest.raises(DemoRejected) as err:
        record_demo(car, steady(speed), VCFG, cfg, tmp_path / "p.npz")
    message = str(err.value)
    assert "timed out after 30 s" in message and cause in message, message
