import numpy as np
import pytest

from fastrlap.agent.sac import action_range
from fastrlap.cli import compose
from fastrlap.errors import ConfigError
from fastrlap.practice.limits import ActionLimits


def limits(*extra):
    return ActionLimits.of(
        compose(["vehicle.speed_bias=3", "vehicle.speed_scale=3", "agent.action_rate_per_tick=0.2", *extra])
    )


def test_the_speed_box_widens_linearly_from_the_start_speeds_to_the_full_range():
    lim = limits(
        "agent.action_limit_schedule=100",
        "agent.action_limit_start_min_speed=1",
        "agent.action_limit_start_max_speed=3",
    )
    lo, hi = lim.box(0)  # 1 m/s and 3 m/s: a[0] = (v - 3) / 3
    np.testing.assert_allclose([lo[0], hi[0]], [-2 / 3, 0.0], atol=1e-6)
    lo, hi = lim.box(50)
    np.testing.assert_allclose([lo[0], hi[0]], [-5 / 6, 0.5], atol=1e-6)
    for n in (100, 5000):
        lo, hi = lim.box(n)
        np.testing.assert_array_equal(lo, [-1, -1])
        np.testing.assert_array_equal(hi, [1, 1])
    assert lim.box(0)[0][1] == -1 and lim.box(0)[1][1] == 1  # steering is never boxed


def test_the_window_is_the_rate_limit_pulled_inside_the_box_and_never_empty():
    lim = limits(
        "agent.action_limit_schedule=100",
        "agent.action_limit_start_min_speed=1",
        "agent.action_limit_start_max_speed=3",
    )
    lo, hi = lim.window(np.array([-0.5, 0.9], np.float32), 0)
    np.testing.assert_allclose(lo, [-2 / 3, 0.7], atol=1e-6)  # floor of the box; steering as before
    np.testing.assert_allclose(hi, [-0.3, 1.0], atol=1e-6)
    # From standing still (the rest action, below the floor) the car may only speed up, at the rate limit.
    lo, hi = lim.window(np.array([-1.0, 0.0], np.float32), 0)
    np.testing.assert_allclose([lo[0], hi[0]], [-1.0, -0.8], atol=1e-6)
    rng = np.random.default_rng(0)
    for _ in range(500):
        prev, n = rng.uniform(-1, 1, 2).astype(np.float32), int(rng.integers(0, 150))
        lo, hi = lim.window(prev, n)
        assert np.all(hi - lo >= 0.2 - 1e-6) or np.all(hi - lo > 0)
        assert np.all(lo <= prev + 1e-6) and np.all(prev <= hi + 1e-6)


def test_without_a_schedule_the_window_is_the_plain_rate_limit():
    lim = limits()
    prev = np.array([0.95, -0.3], np.float32)
    for n in (0, 10_000):
        for got, want in zip(lim.window(prev, n), action_range(prev, 0.2)):
            np.testing.assert_array_equal(got, want)


def test_a_start_box_without_width_is_refused_in_one_line():
    with pytest.raises(ConfigError, match="action_limit_start_min_speed"):
        limits(
            "agent.action_limit_schedule=10",
            "agent.action_limit_start_min_speed=2",
            "agent.action_limit_start_max_speed=2",
        )
