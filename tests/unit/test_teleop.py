"""Human input for the demo lap: the gamepad over a fake joystick device (a FIFO carrying js_event
records), the RC transmitter's command in host units, and waiting for the transmitter to take over."""

from __future__ import annotations

import math
import os
import time

import numpy as np
import pytest

from fastrlap.cli import main
from fastrlap.config import CourseConfig, GamepadConfig, RealConfig, VehicleConfig
from fastrlap.course.demo import DemoRejected, record_demo
from fastrlap.types import NEUTRAL, Command, ImuReading, Observation, Pose
from fastrlap.vehicle import protocol as p
from fastrlap.vehicle import teleop
from fastrlap.vehicle.base import SimClock
from fastrlap.vehicle.camera import FakeCamera
from fastrlap.vehicle.estimator import Estimator
from fastrlap.vehicle.real import RcInput, RealVehicle
from fastrlap.vehicle.serial_link import SerialLink
from fastrlap.vehicle.teleop import (
    JS_EVENT_AXIS,
    JS_EVENT_BUTTON,
    JS_EVENT_INIT,
    Gamepad,
    GamepadDriver,
    JsEvent,
    RcDriver,
    TeleopError,
    decode_js_events,
    gamepad_command,
    wait_for_rc_override,
)

PAD = GamepadConfig()  # throttle axis 1, steering axis 3, stop button 1


def _obs(t=0.0, teleop_cmd=None, pose=Pose(0.0, 0.0, 0.0)) -> Observation:
    return Observation(
        t=t,
        frame=np.zeros((8, 8, 3), np.uint8),
        imu=ImuReading(accel=np.array([0.0, 0.0, 9.81]), gyro=np.zeros(3)),
        wheel_speed=0.0,
        pose=pose,
        velocity=np.zeros(2),
        yaw_rate=0.0,
        teleop=teleop_cmd,
    )


class FakeJoystick:
    """A FIFO standing in for /dev/input/jsN; the test writes js_event records into it."""

    def __init__(self, path, axes=6, buttons=4):
        os.mkfifo(path)
        self.path = str(path)
        self.fd = os.open(path, os.O_RDWR)  # a writer exists before the reader opens (no EOF)
        # what the kernel sends at open: one INIT event per axis and button, all centred / released
        self.send(
            *[JsEvent(0, 0, JS_EVENT_AXIS | JS_EVENT_INIT, n) for n in range(axes)],
            *[JsEvent(0, 0, JS_EVENT_BUTTON | JS_EVENT_INIT, n) for n in range(buttons)],
        )

    def send(self, *events: JsEvent) -> None:
        os.write(self.fd, b"".join(e.encode() for e in events))

    def unplug(self) -> None:
        os.close(self.fd)


def _until(predicate, timeout=2.0):
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "condition not met in time"
        time.sleep(0.01)


def _gone(pad: Gamepad) -> bool:
    try:
        pad.check()
    except TeleopError:
        return True
    return False


def test_js_event_records_round_trip_and_partial_records_wait():
    events = [JsEvent(123, -32767, JS_EVENT_AXIS, 1), JsEvent(124, 1, JS_EVENT_BUTTON, 0)]
    data = b"".join(e.encode() for e in events)
    assert len(data) == 16 and decode_js_events(data) == events
    assert decode_js_events(data[:12]) == events[:1]  # half a record is left for the next read


def test_stick_positions_become_commands():
    full_up_half_left = {1: -1.0, 3: -0.5}
    cmd = gamepad_command(full_up_half_left, PAD, max_steer=0.45)
    assert cmd.speed == pytest.approx(PAD.max_speed)
    assert cmd.steer == pytest.approx(0.45 * (0.5 - PAD.deadzone) / (1 - PAD.deadzone))  # left is positive
    back = gamepad_command({1: 1.0, 3: 0.05}, PAD, max_steer=0.45)
    assert back.speed == pytest.approx(-PAD.reverse_speed) and back.steer == 0.0  # inside the deadzone
    assert gamepad_command({}, PAD, 0.45) == Command(0.0, 0.0)


def test_gamepad_over_a_fake_device_drives_stops_and_reports_unplugging(tmp_path):
    js = FakeJoystick(tmp_path / "js0")
    with Gamepad(js.path) as pad:
        driver = GamepadDriver(pad, PAD, max_steer=0.45)
        assert driver(_obs()) == Command(0.0, 0.0)
        js.send(JsEvent(10, -32767, JS_EVENT_AXIS, 1), JsEvent(11, 32767, JS_EVENT_AXIS, 3))
        _until(lambda: pad.state().events >= 12)
        cmd = driver(_obs())
        assert cmd.speed == pytest.approx(2.0) and cmd.steer == pytest.approx(-0.45)  # full forward, full right
        human = Command(speed=1.0, steer=0.2)
        assert driver(_obs(teleop_cmd=human)) == human  # the transmitter overrides the laptop: its command counts
        js.send(JsEvent(20, 1, JS_EVENT_BUTTON, PAD.stop_button), JsEvent(21, 0, JS_EVENT_BUTTON, PAD.stop_button))
        _until(lambda: pad.state().presses.get(PAD.stop_button) == 1)
        with pytest.raises(KeyboardInterrupt):  # the stop button takes Ctrl-C's path
            driver(_obs())
        js.unplug()
        _until(lambda: _gone(pad))
        with pytest.raises(TeleopError, match="went away"):
            driver(_obs())


def test_gamepad_errors_are_one_line(tmp_path):
    with pytest.raises(TeleopError) as err:
        Gamepad(str(tmp_path / "js9")).open()
    assert "no gamepad at" in str(err.value) and "gamepad.device=" in str(err.value) and "\n" not in str(err.value)
    js = FakeJoystick(tmp_path / "js0", axes=2)
    with Gamepad(js.path) as pad, pytest.raises(TeleopError, match=r"has axes \[0, 1\], not gamepad.steer_axis=3"):
        GamepadDriver(pad, PAD, max_steer=0.45)
    silent = tmp_path / "silent"
    os.mkfifo(silent)
    keep = os.open(silent, os.O_RDWR)
    try:
        with pytest.raises(TeleopError, match="sent nothing"):
            Gamepad(str(silent)).open(ready_timeout=0.2)
    finally:
        os.close(keep)


class StraightCar:
    """A fake Vehicle on the simulator clock that drives the commanded speed along a circle."""

    def __init__(self, radius=3.0, on_act=None):
        self.clock, self.control_hz = SimClock(), 10.0
        self.radius, self.angle, self.ticks, self.on_act = radius, 0.0, 0, on_act

    def observe(self):
        th = self.angle - math.pi / 2
        pose = Pose(self.radius * math.cos(th), self.radius * math.sin(th) + self.radius, self.angle)
        return _obs(self.clock.now(), pose=pose)

    def act(self, command):
        self.ticks += 1
        if self.on_act is not None:
            self.on_act(self.ticks)
        self.angle += command.speed / (self.control_hz * self.radius)
        self.clock.advance(0.1)

    def stop(self):
        pass


def test_a_demo_driven_by_the_gamepad_records_the_stick_commands_and_keeps_the_partial_on_unplug(tmp_path):
    js = FakeJoystick(tmp_path / "js0")
    js.send(JsEvent(1, -32767, JS_EVENT_AXIS, 1))  # stick held fully forward
    vcfg = VehicleConfig()
    with Gamepad(js.path) as pad:
        _until(lambda: pad.state().axes.get(1) == -1.0)
        demo = record_demo(
            StraightCar(),
            GamepadDriver(pad, PAD, vcfg.max_steer),
            vcfg,
            CourseConfig(),
            tmp_path / "p.npz",
            driver_name="gamepad",
        )
        assert demo.closed and demo.driver == "gamepad"
        assert np.allclose(demo.command[:-1, 0], PAD.max_speed)  # the last sample is the stop
        assert np.allclose(demo.action[:-1, 0], (PAD.max_speed - vcfg.speed_bias) / vcfg.speed_scale)

        def unplug_at_20(tick):
            if tick == 20:
                js.unplug()
                time.sleep(0.3)  # the reader thread notices the end of file

        with pytest.raises(DemoRejected) as err:
            record_demo(
                StraightCar(on_act=unplug_at_20),
                GamepadDriver(pad, PAD, vcfg.max_steer),
                vcfg,
                CourseConfig(),
                tmp_path / "p.npz",
            )
    msg = str(err.value)
    assert "went away" in msg and "p.npz" in msg and "\n" not in msg
    assert (tmp_path / "p.npz").is_file()


def test_missing_gamepad_in_record_demo_is_one_line_before_anything_starts(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["record-demo", "teleop=gamepad", f"gamepad.device={tmp_path / 'js7'}"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no gamepad at" in err[0], err
    assert not list((tmp_path / "runs").iterdir())


def _car(**cfg) -> RealVehicle:
    return RealVehicle(SerialLink("/dev/null-not-opened"), FakeCamera(), Estimator(), RealConfig(**cfg))


def _tm(**kw) -> p.Telemetry:
    base = dict(
        uptime_ms=0,
        ack_seq=0,
        mode=p.Mode.TELEOP,
        faults=0,
        flags=p.TelemetryFlag.RC_VALID,
        steer_us=1500,
        esc_us=1500,
        rc_steer_us=1500,
        rc_throttle_us=1500,
        rc_mode_us=2000,
        wheel_ticks=0,
        wheel_period_us=0,
    )
    base.update(kw)
    return p.Telemetry(**base)


def test_rc_sticks_become_the_speed_the_host_loop_would_hold_at_that_pulse():
    car = _car(ff_gain=125.0, ff_offset=0.0, steer_full_lock=0.45)
    cmd = car.rc_command(_tm(rc_throttle_us=1750, rc_steer_us=1700))
    assert cmd.speed == pytest.approx(4.0)  # p = 500 permille, 125 permille per m/s
    assert cmd.steer == pytest.approx(0.4 * 0.45)  # 1700 us = 400 permille of full lock, left
    car = _car(ff_gain=60.0, ff_offset=40.0)
    assert car.rc_command(_tm(rc_throttle_us=1750)).speed == pytest.approx(460 / 60)
    assert car.rc_command(_tm(rc_throttle_us=1515)).speed == 0.0  # inside the ESC deadband
    assert car.rc_command(_tm(rc_throttle_us=1250)).speed == pytest.approx(-460 / 60)
    flipped = _car(ff_gain=125.0, ff_offset=0.0, reverse_throttle=True)
    assert flipped.rc_command(_tm(rc_throttle_us=1750)).speed == pytest.approx(-4.0)  # the host flips its own throttle


class ListeningCar:
    """A fake listening car: `takes_over` ticks after start the firmware reports TELEOP."""

    def __init__(self, takes_over=None, rc_valid=True):
        self.clock, self.control_hz = SimClock(), 10.0
        self.takes_over, self.rc_valid, self.ticks, self.sent = takes_over, rc_valid, 0, []

    def observe(self):
        human = Command(1.2, 0.1) if self.takes_over is not None and self.ticks >= self.takes_over else None
        return _obs(self.clock.now(), teleop_cmd=human)

    def rc_input(self):
        return RcInput(
            valid=self.rc_valid,
            mode="NEUTRAL" if self.rc_valid else "FAILSAFE",
            steer_us=1500,
            throttle_us=1500,
            switch_us=1000,
        )

    def act(self, command):
        self.sent.append(command)
        self.ticks += 1
        time.sleep(0.01)


def test_recording_waits_for_the_transmitter_and_reports_no_signal(monkeypatch):
    car = ListeningCar(takes_over=3)
    obs = wait_for_rc_override(car, timeout=5.0, status=lambda line: None)
    assert obs.teleop == Command(1.2, 0.1) and car.sent == [NEUTRAL] * 3
    assert RcDriver()(obs) == Command(1.2, 0.1) and RcDriver()(_obs()) == NEUTRAL
    monkeypatch.setattr(teleop, "RC_NO_SIGNAL_GRACE", 0.05)
    with pytest.raises(TeleopError, match="no RC signal") as err:
        wait_for_rc_override(ListeningCar(rc_valid=False), timeout=5.0, status=lambda line: None)
    assert "teleop=gamepad" in str(err.value)
    with pytest.raises(TeleopError, match="did not take over within vehicle.real.rc_wait=0.1 s"):
        wait_for_rc_override(ListeningCar(), timeout=0.1, status=lambda line: None)
