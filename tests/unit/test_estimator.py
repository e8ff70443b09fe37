"""Estimator: EKF on a simulated circle drive, NMEA parsing, GPS fusion, UDP external poses."""

from __future__ import annotations

import math
import socket
import time

import numpy as np
import pytest

from fastrlap.types import Pose
from fastrlap.vehicle.estimator import Estimator, EstimatorError, wrap_angle
from fastrlap.vehicle.external_pose import UdpPoseReceiver, parse_pose_message
from fastrlap.vehicle.gps import GgaFix, LocalFrame, NmeaGps, RmcFix, parse_nmea
from fastrlap.vehicle.pose_auth import PoseAuthenticator, sign_pose

RADIUS, SPEED, HZ = 3.0, 2.0, 50.0


def _circle(seconds: float):
    """Truth of a car driving a circle CCW from (0, 0) heading +x: yields (t, x, y, yaw)."""
    w = SPEED / RADIUS
    for k in range(1, int(seconds * HZ) + 1):
        t = k / HZ
        yaw = w * t
        yield t, RADIUS * math.sin(yaw), RADIUS * (1.0 - math.cos(yaw)), wrap_angle(yaw)


def _drive(est, seconds, rng, wheel_scale=1.0, gyro_bias=0.0, on_tick=None, standstill=0.0):
    """Stand still for `standstill` s (the car waiting at the start), then drive the circle."""
    for k in range(int(standstill * HZ)):
        est.update_odometry(k / HZ - standstill, 0.0, gyro_bias + rng.normal(0, 0.02))
    errors = []
    for t, x, y, yaw in _circle(seconds):
        est.update_odometry(
            t, SPEED * wheel_scale + rng.normal(0, 0.05), SPEED / RADIUS + gyro_bias + rng.normal(0, 0.02)
        )
        if on_tick is not None:
            on_tick(t, x, y, yaw)
        e = est.estimate()
        errors.append((math.hypot(e.pose.x - x, e.pose.y - y), abs(wrap_angle(e.pose.yaw - yaw))))
    return np.array(errors)


def _nmea(body: str) -> str:
    cs = 0
    for ch in body:
        cs ^= ord(ch)
    return f"${body}*{cs:02X}"


def _gga(lat: float, lon: float, hdop: float = 0.2, quality: int = 1) -> str:
    def dm(v, deg_digits):
        a = abs(v)
        d = int(a)
        return f"{d:0{deg_digits}d}{(a - d) * 60:07.4f}"

    return _nmea(
        f"GPGGA,120000.00,{dm(lat, 2)},{'N' if lat >= 0 else 'S'},{dm(lon, 3)},"
        f"{'E' if lon >= 0 else 'W'},{quality},09,{hdop:.1f},50.0,M,47.0,M,,"
    )


def test_circle_drive_odometry_and_gyro_stay_within_tolerance():
    rng = np.random.default_rng(0)
    est = Estimator(wheel_std=0.05, gyro_std=0.02)
    err = _drive(est, 30.0, rng, gyro_bias=0.02, standstill=1.0)  # 60 m, three laps, a biased gyro
    assert err[:, 0].max() < 0.6, err[:, 0].max()  # 1 % of the 60 m driven
    assert err[:, 1].max() < 0.15  # the bias left after 1 s of standstill (~0.003 rad/s) adds up
    e = est.estimate()
    assert abs(e.velocity[0] - SPEED) < 0.15 and abs(e.yaw_rate - SPEED / RADIUS) < 0.1
    assert e.gyro_bias == pytest.approx(0.02, abs=0.01)  # learnt while standing at the start
    health = est.health(now=30.0)
    assert health.ok and health.source == "odometry"
    assert health.pos_std > 0.05  # uncertainty grows without an absolute source ...
    assert err[-1, 0] < 4 * health.pos_std + 0.05  # ... and covers the error actually made


def test_biased_odometry_drifts_and_gps_pulls_it_back():
    origin = LocalFrame(47.3769, 8.5417)
    rng = np.random.default_rng(1)
    drifting = _drive(Estimator(), 40.0, rng, wheel_scale=1.05, gyro_bias=0.03)
    assert drifting[-250:, 0].mean() > 1.0  # without GPS: metres off after 40 s

    est = Estimator(source="gps")
    est.reset(Pose(0.0, 0.0, 0.0))
    gps = NmeaGps(est, origin=(origin.lat0, origin.lon0), uere=2.5)
    gps_rng = np.random.default_rng(2)

    def feed(t, x, y, yaw):
        if round(t * HZ) % 10 == 0:  # 5 Hz receiver, 0.5 m noise (HDOP 0.2 x UERE 2.5)
            lat, lon = origin.to_latlon(x + gps_rng.normal(0, 0.5), y + gps_rng.normal(0, 0.5))
            gps.handle(_gga(lat, lon, hdop=0.2), t)

    fused = _drive(est, 40.0, np.random.default_rng(1), wheel_scale=1.05, gyro_bias=0.03, on_tick=feed)
    assert gps.errors == 0 and gps.sentences == 200
    assert fused[-250:, 0].mean() < 0.5, fused[-250:, 0].mean()
    h = est.health(now=40.0)
    assert h.ok and h.fixes > 150 and h.fix_age is not None and h.fix_age < 0.3
    assert est.health(now=45.0).problem.startswith("gps pose source silent")


def test_nmea_sentences_parse_and_bad_ones_are_rejected():
    gga = parse_nmea("$GPGGA,092750.000,5321.6802,N,00630.3372,W,1,8,1.03,61.7,M,55.2,M,,*76")
    assert isinstance(gga, GgaFix) and gga.quality == 1 and gga.satellites == 8
    assert gga.lat == pytest.approx(53 + 21.6802 / 60) and gga.lon == pytest.approx(-(6 + 30.3372 / 60))
    assert gga.hdop == pytest.approx(1.03)
    rmc = parse_nmea("$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A")
    assert isinstance(rmc, RmcFix) and rmc.valid
    assert rmc.speed == pytest.approx(22.4 * 0.514444, rel=1e-4) and rmc.course == pytest.approx(84.4)
    assert parse_nmea(_nmea("GNGSA,A,3,01,02,,,,,,,,,,,1.0,0.8,0.6")) is None  # a type we do not use
    assert parse_nmea(_nmea("GPGGA,120000,,,,,0,00,,,M,,M,,")).quality == 0  # no fix: not a position
    with pytest.raises(EstimatorError, match="checksum"):
        parse_nmea("$GPGGA,092750.000,5321.6802,N,00630.3372,W,1,8,1.03,61.7,M,55.2,M,,*77")
    with pytest.raises(EstimatorError, match="malformed"):
        parse_nmea(_nmea("GPGGA,1,xx,N,00630.3372,W,1,8,1.03"))
    frame = LocalFrame(47.0, 8.0)
    x, y = frame.to_local(*frame.to_latlon(120.0, -35.0))
    assert (x, y) == (pytest.approx(120.0, abs=1e-6), pytest.approx(-35.0, abs=1e-6))
    # one arc-minute of latitude is about one nautical mile
    assert frame.to_local(47.0 + 1 / 60, 8.0)[1] == pytest.approx(1852.0, rel=0.01)


def test_gps_course_sets_an_unknown_heading_and_outliers_are_gated():
    est = Estimator(source="gps")
    gps = NmeaGps(est, origin=(47.0, 8.0))
    gps.handle(_gga(47.0, 8.0), 0.0)  # first fix: position known, heading unknown
    assert est.health(0.0).yaw_std > 3.0
    gps.handle(_nmea("GPRMC,120000,A,4700.000,N,00800.000,E,3.9,000.0,010125,,"), 0.1)  # due north, 2 m/s
    assert est.estimate().pose.yaw == pytest.approx(math.pi / 2) and est.health(0.1).yaw_std < 0.3
    far = LocalFrame(47.0, 8.0).to_latlon(50.0, 0.0)
    gps.handle(_gga(*far), 0.2)  # a 50 m jump: rejected ...
    assert est.estimate().pose.x < 1.0 and est.health(0.2).rejected == 1
    for k in range(4):  # ... until the source insists
        gps.handle(_gga(*far), 0.3 + 0.1 * k)
    assert est.estimate().pose.x == pytest.approx(50.0, abs=0.5)


def test_nan_inputs_are_counted_not_used():
    est = Estimator()
    est.update_odometry(0.0, 1.0, 0.0)
    est.update_odometry(0.1, float("nan"), 0.0)
    est.update_odometry(0.2, 1.0, float("inf"))
    assert not est.update_pose(0.3, Pose(float("nan"), 0.0, 0.0), 0.1, 0.1)
    e = est.estimate()
    assert all(math.isfinite(v) for v in (e.pose.x, e.pose.y, e.pose.yaw)) and est.health(0.3).bad_inputs == 3


def test_udp_pose_message_updates_the_estimate():
    est = Estimator(source="external")
    key = b"k" * 32
    rx = UdpPoseReceiver(est, port=0, auth=PoseAuthenticator(key, max_age=0.5), host="127.0.0.1")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            tx.sendto(sign_pose(key, {"seq": 1, "t": time.time(), "x": "garbage"}), ("127.0.0.1", rx.port))
            tx.sendto(
                sign_pose(key, {"seq": 2, "t": time.time(), "x": 2.0, "y": -1.0, "yaw": 0.5, "pos_std": 0.01}),
                ("127.0.0.1", rx.port),
            )
            deadline = time.monotonic() + 2.0
            while rx.messages < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
        assert rx.errors == 1 and "bad pose message" in rx.last_error and rx.rejections.malformed == 1
        e = est.estimate()
        assert (e.pose.x, e.pose.y, e.pose.yaw) == (pytest.approx(2.0), pytest.approx(-1.0), pytest.approx(0.5))
        h = est.health(time.monotonic())
        assert h.ok and h.fixes == 1 and h.pos_std < 0.02
    finally:
        rx.close()
    # driving on from there: odometry moves it, the next message corrects it
    est.update_odometry(0.0, 0.0, 0.0)
    for k in range(1, 11):
        est.update_odometry(0.1 * k, 1.0, 0.0)
    x_odo = est.estimate().pose.x
    assert x_odo == pytest.approx(2.0 + 0.9 * math.cos(0.5), abs=0.1)
    est.update_pose(1.0, Pose(2.0 + math.cos(0.5), -1.0 + math.sin(0.5), 0.5), 0.01, 0.01)
    assert est.estimate().pose.x == pytest.approx(2.0 + math.cos(0.5), abs=0.02)
    with pytest.raises(EstimatorError, match="finite"):
        parse_pose_message(b'{"x": 1, "y": 2, "yaw": NaN}')
