"""The reward on hand-worked examples: sign, magnitude, penalty growth and cap."""

import math

import numpy as np
import pytest

from fastrlap.config import CourseConfig
from fastrlap.course.reward import collision_penalty, reward

CFG = CourseConfig(collision_penalty=1.0, collision_penalty_per_mps=0.5, collision_penalty_max=3.0)


def test_speed_toward_the_goal():
    assert reward(np.array([2.0, 0.0]), np.array([1.0, 0.0]), CFG) == pytest.approx(2.0)
    # Goal 60 degrees to the left: only cos(60°) of the forward speed counts.
    g = np.array([math.cos(math.pi / 3), math.sin(math.pi / 3)])
    assert reward(np.array([2.0, 0.0]), g, CFG) == pytest.approx(1.0)
    # Sliding sideways toward a goal on the left earns its full lateral speed.
    assert reward(np.array([0.0, 1.5]), np.array([0.0, 1.0]), CFG) == pytest.approx(1.5)
    # Direction is normalised: the distance part of the goal features does not scale the reward.
    assert reward(np.array([2.0, 0.0]), np.array([5.0, 0.0]), CFG) == pytest.approx(2.0)


def test_driving_away_is_negative():
    assert reward(np.array([3.0, 0.0]), np.array([-1.0, 0.0]), CFG) == pytest.approx(-3.0)
    assert reward(np.array([-1.0, 0.0]), np.array([1.0, 0.0]), CFG) == pytest.approx(-1.0)


def test_collision_penalty_grows_with_impact_and_is_capped():
    assert collision_penalty(0.0, CFG) == pytest.approx(1.0)
    assert collision_penalty(2.0, CFG) == pytest.approx(2.0)
    assert collision_penalty(10.0, CFG) == pytest.approx(3.0)
    assert collision_penalty(float("nan"), CFG) == pytest.approx(1.0)
    # 1 m/s toward the goal, crash at 2 m/s impact: 1 - (1 + 0.5*2) = -1
    r = reward(np.array([1.0, 0.0]), np.array([1.0, 0.0]), CFG, crash_started=True, impact=2.0)
    assert r == pytest.approx(-1.0)


def test_stuck_is_penalised_once_without_impact():
    assert reward(np.zeros(2), np.array([1.0, 0.0]), CFG, stuck_started=True, impact=9.0) == pytest.approx(-1.0)
    assert reward(np.zeros(2), np.array([1.0, 0.0]), CFG) == 0.0
