"""The policy's proprioceptive input: the state vector that goes with the camera embedding.

One function builds it for the practice loop, evaluation and demo seeding alike, so a transition
from the demo lap and one from practice mean the same thing to the critic. Entries are scaled to
roughly unit size (the networks use LayerNorm on the image path only). It lives with the agent,
below both practice and pretraining, because it defines what the networks see: pretraining
scales its goal and motion inputs by the same constants so that its encoder meets the units
practice will feed.
"""

from __future__ import annotations

import numpy as np

PROPRIO_DIM = 10
SPEED_SCALE = 3.0  # m/s
YAW_RATE_SCALE = 2.0  # rad/s
ACCEL_SCALE = 10.0  # m/s²
DISTANCE_SCALE = 5.0  # m


def proprio(
    velocity: np.ndarray,
    yaw_rate: float,
    accel: np.ndarray,
    goal_direction: np.ndarray,
    goal_distance: float,
    prev_action: np.ndarray,
) -> np.ndarray:
    """(10,) float32: body velocity (2), yaw rate, IMU acceleration x/y (2), unit direction to the
    current checkpoint in the body frame (2), its distance, and the previous action (2)."""
    out = np.empty(PROPRIO_DIM, dtype=np.float32)
    out[0:2] = np.asarray(velocity, dtype=np.float64)[:2] / SPEED_SCALE
    out[2] = yaw_rate / YAW_RATE_SCALE
    out[3:5] = np.clip(np.asarray(accel, dtype=np.float64)[:2] / ACCEL_SCALE, -5.0, 5.0)
    out[5:7] = goal_direction
    out[7] = min(goal_distance, 4 * DISTANCE_SCALE) / DISTANCE_SCALE
    out[8:10] = prev_action
    return out
