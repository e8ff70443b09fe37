"""Physics invariants of the car model: no golden numbers from a run, which any model change would break."""

import math

import numpy as np
import pytest

from fastrlap.config import SimConfig
from fastrlap.sim.dynamics import CarParams, CarState, G, Surface, footprint, step
from fastrlap.sim.track import load_track
from fastrlap.sim.world import World
from fastrlap.types import Command

P = CarParams()
GRIP = Surface(P.mu, P.mu, P.rolling)


def drive(state, target_speed, steer, n, params=P, surface=GRIP, dt=0.01):
    states = []
    for _ in range(n):
        state = step(state, target_speed, steer, surface, params, dt)
        states.append(state)
    return states


def test_coasting_on_a_frictionless_floor_keeps_its_speed():
    params = CarParams(mu=0.0, mu_offtrack=0.0, rolling=0.0, drag=0.0)
    start = CarState(0.0, 0.0, 0.3, 4.0, 0.0, 0.0, 0.0, 0.0)  # wheels stopped: no grip to brake
    end = drive(start, 0.0, 0.4, 300, params, Surface(0.0, 0.0, 0.0))[-1]
    assert math.hypot(end.vx, end.vy) == pytest.approx(4.0, abs=1e-9)
    assert math.hypot(end.x, end.y) == pytest.approx(4.0 * 3.0, rel=1e-6)
    assert end.yaw == pytest.approx(0.3)


def _fit_circle_radius(pts):
    x, y = pts[:, 0], pts[:, 1]
    a = np.column_stack([x, y, np.ones_like(x)])
    b = -(x**2 + y**2)
    c = np.linalg.lstsq(a, b, rcond=None)[0]
    cx, cy = -c[0] / 2, -c[1] / 2
    return math.sqrt(cx**2 + cy**2 - c[2])


@pytest.mark.parametrize("steer", [0.15, 0.3, 0.45])
def test_low_speed_turning_radius_is_kinematic(steer):
    states = drive(CarState(0, 0, 0, 0.4, 0, 0, steer, 0.4), 0.4, steer, 1500)[300:]
    rear = np.array([(s.x - P.cg_to_rear * math.cos(s.yaw), s.y - P.cg_to_rear * math.sin(s.yaw)) for s in states])
    assert _fit_circle_radius(rear) == pytest.approx(P.wheelbase / math.tan(steer), rel=0.02)


@pytest.mark.parametrize("speed", [4.0, 5.5])
def test_lateral_acceleration_saturates_near_mu_g(speed):
    """Ramp the steering at constant speed: cornering force rises, then plateaus at the limit."""
    s = CarState(0, 0, 0, speed, 0, 0, 0, speed)
    accels, prev = [], None
    for k in range(1500):
        s = step(s, speed, min(P.max_steer, k * 0.0004), GRIP, P, 0.01)
        c, sn = math.cos(s.yaw), math.sin(s.yaw)
        vw = np.array([s.vx * c - s.vy * sn, s.vx * sn + s.vy * c])
        if prev is not None:
            accels.append(np.linalg.norm(vw - prev) / 0.01)
        prev = vw
    peak = max(accels[50:])
    assert 0.85 * P.mu * G <= peak <= 1.05 * P.mu * G


def test_reverse_backs_up_and_steers_the_other_way():
    states = drive(CarState(0, 0, 0, 0, 0, 0, 0, 0), -1.0, 0.3, 200)
    end = states[-1]
    assert end.vx == pytest.approx(-1.0, abs=0.05)
    assert end.x < -1.0
    assert end.yaw < -0.3  # backing with left lock swings the nose right (clockwise)


def test_no_tunnelling_into_a_wall_at_top_speed():
    track = load_track("oval")
    world = World(track, P, SimConfig(imu_accel_noise=0.0), control_hz=10.0, seed=0)
    world.reset(s=5.0, n=0.0, heading=math.pi / 2, speed=P.max_speed)  # aimed straight at the left wall
    peak = 0.0
    for _ in range(15):
        reading = world.step(Command(speed=P.max_speed, steer=0.0))
        peak = max(peak, float(np.hypot(*reading.accel[:2])))
        for cx, cy in footprint(reading.state, P):
            assert track.project(cx, cy).n <= track.width / 2 + 0.07
    assert peak > 2.5 * P.mu * G  # the impact shows as a spike far above cornering loads


def test_world_is_deterministic_for_a_seed():
    track = load_track("hairpin")
    runs = []
    for _ in range(2):
        world = World(track, P, SimConfig(), control_hz=10.0, seed=7)
        rng = np.random.default_rng(1)
        out = [
            world.step(Command(speed=float(rng.uniform(0, 5)), steer=float(rng.uniform(-0.4, 0.4)))) for _ in range(100)
        ]
        runs.append(
            np.array([[r.state.x, r.state.y, r.state.yaw, *r.accel, r.wheel_speed, r.pose_estimate.x] for r in out])
        )
    np.testing.assert_array_equal(runs[0], runs[1])


def test_latency_delays_the_command_by_whole_ticks():
    track = load_track("oval")
    world = World(track, P, SimConfig(latency_ticks=1, wheel_speed_noise=0.0), control_hz=10.0)
    first = world.step(Command(speed=3.0, steer=0.0))
    second = world.step(Command(speed=3.0, steer=0.0))
    assert first.wheel_speed == 0.0 and second.wheel_speed > 0.0


def test_non_finite_command_is_refused():
    world = World(load_track("oval"), P, SimConfig(), control_hz=10.0)
    with pytest.raises(ValueError, match="non-finite"):
        world.step(Command(speed=float("nan"), steer=0.0))
