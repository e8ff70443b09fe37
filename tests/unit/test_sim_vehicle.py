"""SimVehicle behind the Vehicle protocol: shapes, clock, determinism, sensors."""

import numpy as np
import pytest

from fastrlap.config import CameraConfig, SimConfig, VehicleConfig
from fastrlap.sim.track import load_track
from fastrlap.types import Command
from fastrlap.vehicle.base import Vehicle
from fastrlap.vehicle.sim import SimVehicle


def test_sim_vehicle_implements_the_protocol_and_advances_sim_time():
    car = SimVehicle(load_track("oval"), VehicleConfig(), seed=0)
    assert isinstance(car, Vehicle)
    obs = car.observe()
    assert obs.frame.shape == (128, 128, 3) and obs.frame.dtype == np.uint8
    assert obs.imu.accel.shape == (3,) and obs.imu.accel[2] == pytest.approx(9.81, abs=0.5)
    t0 = car.clock.now()
    for _ in range(5):
        car.act(Command(speed=2.0, steer=0.0))
    assert car.clock.now() == pytest.approx(t0 + 0.5)
    obs = car.observe()
    assert obs.t == pytest.approx(t0 + 0.5) and obs.wheel_speed > 0.5
    assert obs.true_pose is not None and abs(obs.pose.x - obs.true_pose.x) < 0.2


def test_camera_config_sets_the_frame_size():
    cfg = VehicleConfig(sim=SimConfig(camera=CameraConfig(width=96, height=64)))
    assert SimVehicle(load_track("technical"), cfg).observe().frame.shape == (64, 96, 3)


def test_same_seed_same_observations():
    def roll(seed):
        car = SimVehicle(load_track("chicane"), VehicleConfig(), seed=seed)
        frames = []
        for k in range(20):
            car.act(Command(speed=3.0, steer=0.2 * np.sin(k / 3)))
            obs = car.observe()
            frames.append((obs.frame.copy(), obs.pose.as_array(), obs.imu.accel.copy()))
        return frames

    a, b, c = roll(3), roll(3), roll(4)
    for (fa, pa, ia), (fb, pb, ib) in zip(a, b):
        np.testing.assert_array_equal(fa, fb)
        np.testing.assert_array_equal(pa, pb)
        np.testing.assert_array_equal(ia, ib)
    assert any(not np.array_equal(pa, pc) for (_, pa, _), (_, pc, _) in zip(a, c))


def test_collision_flag_and_stop():
    car = SimVehicle(load_track("oval"), VehicleConfig(), seed=0)
    car.reset(s=5.0, heading=1.5)  # facing the wall
    hits = 0
    for _ in range(10):
        car.act(Command(speed=3.0, steer=0.0))
        hits += car.observe().collision
    assert hits > 0
    for _ in range(10):
        car.stop()
    assert abs(car.last_reading.state.vx) < 0.05
