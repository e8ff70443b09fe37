"""The oracle's speed profile and the scripted drivers against the dynamics."""

import math

import numpy as np
import pytest

from fastrlap.config import SimConfig
from fastrlap.course.checkpoints import Gate, LapTimer
from fastrlap.sim.drivers import DemoDriver, OracleDriver, speed_profile
from fastrlap.sim.dynamics import CarParams, G
from fastrlap.sim.track import builtin_tracks, load_track
from fastrlap.sim.world import World
from fastrlap.types import Pose

P = CarParams()


def lap_times(track, driver, laps=2, max_ticks=1500):
    world = World(track, P, SimConfig(), control_hz=10.0, seed=0)
    world.reset(s=track.start - 1.0, speed=2.0)
    gate = Gate(tuple(track.point_at(track.start)), track.heading_at(track.start), track.width / 2 + 0.5)
    timer, state, t_prev, collisions = LapTimer(), world.state, 0.0, 0
    for _ in range(max_ticks):
        reading = world.step(driver(Pose(state.x, state.y, state.yaw), state.vx))
        crossing = gate.crossing(t_prev, (state.x, state.y), reading.t, (reading.state.x, reading.state.y))
        if crossing is not None:
            timer.complete(crossing)
        state, t_prev = reading.state, reading.t
        collisions += reading.collision
        if len(timer.laps) >= laps:
            break
    return timer.laps, collisions


def test_profile_respects_the_friction_limit():
    for name in builtin_tracks():
        track = load_track(name)
        prof = speed_profile(track, P)
        assert np.all(prof.speed**2 * np.abs(track.curvature) <= P.mu * G + 1e-6)
        assert prof.speed.max() <= P.max_speed + 1e-9
        assert prof.lap_time >= track.length / P.max_speed - 1e-6


@pytest.mark.parametrize("name", builtin_tracks("race") + builtin_tracks("prior"))
def test_oracle_driver_laps_within_ten_percent_without_collision(name):
    track = load_track(name)
    driver = OracleDriver(track, P)
    laps, collisions = lap_times(track, driver)
    assert len(laps) == 2, f"{name}: only {len(laps)} laps"
    assert collisions == 0
    assert laps[-1] <= 1.10 * speed_profile(track, P).lap_time


def test_demo_driver_is_slow_noisy_and_safe():
    track = load_track("oval")
    laps, collisions = lap_times(track, DemoDriver(track, P, seed=0), laps=1, max_ticks=800)
    assert laps and collisions == 0
    assert laps[0] > 2.5 * speed_profile(track, P).lap_time
    a, b = lap_times(track, DemoDriver(track, P, seed=1), laps=1, max_ticks=800)[0], laps
    assert a[0] != pytest.approx(b[0], abs=1e-6)


def test_gate_interpolates_the_crossing_time():
    gate = Gate(point=(0.0, 0.0), heading=0.0, half_width=1.0)
    assert gate.crossing(1.0, (-0.25, 0.1), 1.1, (0.75, 0.1)) == pytest.approx(1.025)
    assert gate.crossing(1.0, (0.75, 0.1), 1.1, (-0.25, 0.1)) is None  # backwards
    assert gate.crossing(1.0, (-0.25, 3.0), 1.1, (0.75, 3.0)) is None  # beside the gate
    timer = LapTimer()
    assert timer.complete(2.0) is None and timer.complete(12.5) == pytest.approx(10.5)
    assert math.isclose(timer.best, 10.5)
