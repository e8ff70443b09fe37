"""The reward: speed toward the current checkpoint, minus a penalty when a crash
or a stuck condition begins.

FastRLAP (arXiv 2304.09831, §IV) rewards progress toward the next checkpoint rather than
progress along a track model, so the same reward works on a course known only from one demo lap.
Pure functions: the loop passes in what it measured and decides where the parts are logged.
"""

from __future__ import annotations

import math

import numpy as np

from fastrlap.config import CourseConfig


def collision_penalty(impact: float, cfg: CourseConfig) -> float:
    """Penalty (reward units, >= 0) for a crash that begins with a velocity change of `impact` m/s.

    It grows with the impact so a hard hit costs more than a brush, and is capped so one
    violent event cannot dominate the critic's targets.
    """
    impact = max(0.0, float(impact)) if math.isfinite(impact) else 0.0
    return min(cfg.collision_penalty_max, cfg.collision_penalty + cfg.collision_penalty_per_mps * impact)


def progress_reward(velocity: np.ndarray, goal_direction: np.ndarray) -> float:
    """v_body · ĝ (m/s): the body-frame velocity (vx, vy) projected on the unit goal direction."""
    v = np.asarray(velocity, dtype=np.float64).reshape(2)
    g = np.asarray(goal_direction, dtype=np.float64).reshape(2)
    norm = float(np.hypot(g[0], g[1]))
    if norm < 1e-9:
        return 0.0
    return float(v @ g) / norm


def reward(
    velocity: np.ndarray,
    goal_direction: np.ndarray,
    cfg: CourseConfig,
    crash_started: bool = False,
    impact: float = 0.0,
    stuck_started: bool = False,
) -> float:
    """One tick's reward.

    velocity: (2,) body-frame velocity, m/s. goal_direction: (2,) direction to the current
    checkpoint in the body frame (normalised here). crash_started / stuck_started: the condition
    began this tick (not: continues), so a car pinned against a wall is penalised once, and then
    earns nothing because it does not move. impact: m/s velocity change of the crash.
    """
    r = progress_reward(velocity, goal_direction)
    if crash_started or stuck_started:
        r -= collision_penalty(impact if crash_started else 0.0, cfg)
    return r
