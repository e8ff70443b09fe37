"""RealVehicle's host-side pieces: the speed loop, wheel odometry, unit mapping, bad commands.

The whole car over the real firmware is tested in tests/hil/test_real_vehicle_hil.py; these run
without the AVR toolchain.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from fastrlap.config import RealConfig
from fastrlap.types import GRAVITY, Command
from fastrlap.vehicle import protocol as p
from fastrlap.vehicle.camera import FakeCamera
from fastrlap.vehicle.estimator import Estimator
from fastrlap.vehicle.real import RealVehicle, VehicleError, WheelOdometry, axes_matrix, calibration_from
from fastrlap.vehicle.speed_control import SpeedController


def _telemetry(**kw) -> p.Telemetry:
    base = dict(
        uptime_ms=0,
        ack_seq=0,
        mode=p.Mode.AUTO,
        faults=0,
        flags=p.TelemetryFlag.SESSION,
        steer_us=1500,
        esc_us=1500,
        rc_steer_us=0,
        rc_throttle_us=0,
        rc_mode_us=0,
        wheel_ticks=0,
        wheel_period_us=0,
    )
    base.update(kw)
    return p.Telemetry(**base)


def test_speed_loop_reaches_the_target_on_a_car_the_feed_forward_gets_wrong():
    cfg = RealConfig()
    ctl = SpeedController(cfg.ff_gain, cfg.ff_offset, cfg.kp, cfg.ki, cfg.i_limit)
    # a car whose steady speed is 20 % below what the feed-forward assumes (a weak battery),
    # with a 0.3 s motor lag; control at 10 Hz
    v, dt = 0.0, 0.1
    trace = []
    for _ in range(40):
        u = ctl(2.0, v, dt)
        steady = max(0.0, (abs(u) - cfg.ff_offset) / cfg.ff_gain) * 0.8 * math.copysign(1, u)
        v += (steady - v) * dt / 0.3
        trace.append(v)
    assert abs(trace[-1] - 2.0) < 0.1, trace[-1]
    assert max(trace) < 2.4  # no wild overshoot
    assert ctl(0.0, v, dt) == 0  # zero target: neutral at once, integral cleared
    assert ctl(-1.0, 0.0, dt) < 0  # reverse uses the feed-forward's sign
    assert abs(ctl(50.0, 0.0, dt)) <= 1000


def test_wheel_odometry_speed_sign_and_decay():
    odo = WheelOdometry(metres_per_tick=0.1, neutral_us=1500, reverse_throttle=False)
    assert odo.update(_telemetry(esc_us=1600, wheel_ticks=0, wheel_period_us=0), 0.0).speed == 0.0
    r = odo.update(_telemetry(esc_us=1600, wheel_ticks=20, wheel_period_us=50_000), 1.0)
    assert r.speed == pytest.approx(2.0)
    # braking (ESC pulse below neutral) while still rolling: still forward
    r = odo.update(_telemetry(esc_us=1300, wheel_ticks=21, wheel_period_us=50_000), 1.05)
    assert r.speed == pytest.approx(2.0)
    # no tick for 0.5 s although the last period said 50 ms: the speed decays
    r = odo.update(_telemetry(esc_us=1300, wheel_ticks=21, wheel_period_us=50_000), 1.55)
    assert r.speed == pytest.approx(0.2)
    # stopped, then reversing: negative
    odo.update(_telemetry(esc_us=1300, wheel_ticks=21, wheel_period_us=0), 2.0)
    r = odo.update(_telemetry(esc_us=1300, wheel_ticks=25, wheel_period_us=100_000), 2.4)
    assert r.speed == pytest.approx(-1.0)
    for reverse, sign in ((True, 1.0), (False, -1.0)):  # a motor wired backwards drives forward below neutral
        odo = WheelOdometry(metres_per_tick=0.1, neutral_us=1500, reverse_throttle=reverse)
        odo.update(_telemetry(esc_us=1300, wheel_ticks=0), 0.0)
        assert odo.update(_telemetry(esc_us=1300, wheel_ticks=3, wheel_period_us=100_000), 1.0).speed == pytest.approx(
            sign
        )


def test_imu_axes_and_calibration_mapping():
    assert np.array_equal(axes_matrix(["-y", "x", "z"]) @ np.array([1.0, 2.0, 3.0]), [-2.0, 1.0, 3.0])
    with pytest.raises(VehicleError, match="imu_axes"):
        axes_matrix(["x", "x", "z"])
    cal = calibration_from(RealConfig(reverse_steer=True, throttle_limit=300))
    assert cal.flags == p.CalFlag.REVERSE_STEER and cal.throttle_limit == 300


class RecordingLink:
    """Records what RealVehicle writes; only what act/stop/close touch (no firmware behind it)."""

    port = "fake"
    connected = True

    def __init__(self) -> None:
        self.sent: list[p.CommandMessage] = []

    def command(self, throttle, steer, mode=p.CommandMode.DRIVE):
        self.sent.append(p.CommandMessage(throttle=throttle, steer=steer, mode=mode))

    def send(self, msg):
        self.sent.append(msg)

    def close(self):
        self.sent.append("closed")


def test_commands_map_to_permille_and_nan_sends_neutral_then_fails():
    link = RecordingLink()
    car = RealVehicle(link, FakeCamera(), Estimator(), RealConfig(steer_full_lock=0.5))
    car._opened = True
    car.act(Command(speed=0.0, steer=0.25))
    car.act(Command(speed=0.0, steer=-2.0))
    assert [(c.throttle, c.steer) for c in link.sent] == [(0, 500), (0, -1000)]
    car.act(Command(speed=1.0, steer=0.0))
    assert link.sent[-1].throttle == round(RealConfig().ff_offset + RealConfig().ff_gain + RealConfig().kp)
    with pytest.raises(VehicleError, match="non-finite command"):
        car.act(Command(speed=float("nan"), steer=0.0))
    assert link.sent[-1] == p.CommandMessage(throttle=0, steer=0, mode=p.CommandMode.NEUTRAL)
    assert car.rc_steer_angle(1750) == pytest.approx(0.25) and car.rc_steer_angle(0) == 0.0
    car.close()
    assert (
        link.sent[-2] == p.CommandMessage(throttle=0, steer=0, mode=p.CommandMode.NEUTRAL) and link.sent[-1] == "closed"
    )


def test_telemetry_feeds_the_estimator_with_imu_in_si_units():
    est = Estimator()
    car = RealVehicle(RecordingLink(), FakeCamera(), est, RealConfig(wheel_diameter=0.1 / math.pi, ticks_per_rev=1.0))
    flags = p.TelemetryFlag.SESSION | p.TelemetryFlag.IMU_PRESENT
    yaw_rate_counts = int(round(math.degrees(0.5) * 65.5))
    for k in range(51):  # 1 s at 50 Hz: 1 m/s (10 ticks of 0.1 m per second), turning at 0.5 rad/s
        car.process_telemetry(
            _telemetry(
                esc_us=1600,
                flags=flags,
                wheel_ticks=k // 5,
                wheel_period_us=100_000,
                accel=(0, 0, 8192),
                gyro=(0, 0, yaw_rate_counts),
            ),
            k / 50,
        )
    e = est.estimate()
    assert e.velocity[0] == pytest.approx(1.0, abs=0.05)
    assert e.pose.yaw == pytest.approx(0.5, abs=0.05)
    assert car._imu.accel[2] == pytest.approx(GRAVITY)


def test_observe_reports_the_tick_average_imu_so_an_impact_is_not_missed():
    from fastrlap.vehicle.serial_link import SerialTimeout

    class SilentLink(RecordingLink):
        def latest_telemetry(self, max_age=None):
            raise SerialTimeout("no telemetry")

    flags = p.TelemetryFlag.SESSION | p.TelemetryFlag.IMU_PRESENT
    with FakeCamera() as cam:
        car = RealVehicle(SilentLink(), cam, Estimator(), RealConfig())
        for k, ax in enumerate([0, 0, 5 * 8192, 0, 0]):  # one 5 g sample among five (a wall hit)
            car.process_telemetry(_telemetry(flags=flags, accel=(ax, 0, 8192)), k / 50)
        obs = car.observe()
        # the mean over the tick (delta-v / tick length), the quantity the simulator reports and the
        # supervisor's crash threshold was set on; a single sample would see 0 or 49 m/s² by chance
        assert obs.imu.accel[0] == pytest.approx(GRAVITY)
        assert obs.estop  # no telemetry reaching observe() is an e-stop
        car.process_telemetry(_telemetry(flags=flags, accel=(0, 0, 8192)), 0.2)
        assert car.observe().imu.accel[0] == 0.0  # the next tick starts a new average


def test_a_dropped_or_silent_link_is_reported_with_its_port():
    from fastrlap.vehicle.serial_link import TimedTelemetry

    class Link(RecordingLink):
        port = "/dev/ttyUSB3"

        def __init__(self):
            super().__init__()
            self.arrived = 0.0

        def latest_telemetry(self, max_age=None):
            return TimedTelemetry(telemetry=_telemetry(), t=self.arrived)

    class Clock:
        t = 0.0

        def now(self):
            return self.t

    link, clock = Link(), Clock()
    with FakeCamera() as cam:
        car = RealVehicle(link, cam, Estimator(), RealConfig(telemetry_stale=0.2, link_lost_after=1.0), clock=clock)
        assert car.observe().link_lost == "" and not car.observe().estop
        link.connected = False  # the port went away (USB unplugged)
        assert car.observe().link_lost == "/dev/ttyUSB3"
        link.connected, clock.t = True, 0.5  # open, nothing for 0.5 s: an e-stop that clears itself
        obs = car.observe()
        assert obs.estop and obs.link_lost == ""
        clock.t = 1.5  # nothing for 1.5 s: the link is lost
        assert car.observe().link_lost == "/dev/ttyUSB3"
        link.arrived = 1.45
        assert car.observe().link_lost == ""
