"""The action/units contract (fastrlap/actions.py): both directions agree, clamp, and keep NaN visible."""

import math

import numpy as np
import pytest

from fastrlap.actions import all_finite, clamp, command_fault, rest_action, to_action, to_command
from fastrlap.config import VehicleConfig
from fastrlap.types import Command


def test_to_action_inverts_to_command_and_clamps():
    v = VehicleConfig()
    a = to_action(np.array([1.0, 4.5, -1.0]), np.array([0.2, -0.45, 1.0]), v)
    assert a.shape == (3, 2) and np.all(np.abs(a) <= 1)
    for row, (speed, steer) in zip(a[:2], [(1.0, 0.2), (4.5, -0.45)]):
        cmd = to_command(row, v)
        assert cmd.speed == pytest.approx(speed) and cmd.steer == pytest.approx(steer)
    assert a[2].tolist() == [-1.0, 1.0]  # reversing and an over-lock map to the nearest action


def test_to_command_clamps_the_action_and_is_what_the_config_uses():
    v = VehicleConfig(speed_bias=1.5, speed_scale=1.5, max_steer=0.3)
    assert to_command([2.0, -3.0], v) == Command(speed=3.0, steer=-0.3)
    assert v.to_command([0.5, 0.5]) == to_command([0.5, 0.5], v) == Command(speed=2.25, steer=0.15)


def test_rest_action_is_standing_still_and_straight():
    v = VehicleConfig(speed_bias=1.0, speed_scale=2.0, max_steer=0.45)
    rest = rest_action(v)
    assert rest.dtype == np.float32 and rest.tolist() == [-0.5, 0.0]
    assert to_command(rest, v) == Command(speed=0.0, steer=0.0)
    assert rest_action(VehicleConfig()).tolist() == [-1.0, 0.0]


def test_a_zero_scale_maps_every_command_to_the_middle_action():
    v = VehicleConfig(speed_bias=2.0, speed_scale=0.0)
    assert rest_action(v).tolist() == [0.0, 0.0]  # no division by zero: the speed is fixed anyway
    assert to_command(rest_action(v), v).speed == 2.0


def test_nan_survives_the_clamp_and_is_reported_once():
    assert math.isnan(clamp(math.nan, -1.0, 1.0))
    assert math.isnan(to_command([math.nan, 0.0], VehicleConfig()).speed)
    assert not all_finite(np.array([0.1, np.inf])) and all_finite([0.1, -0.2])
    assert command_fault(Command(speed=1.0, steer=0.1)) is None
    assert "non-finite command" in command_fault(Command(speed=1.0, steer=math.nan))
