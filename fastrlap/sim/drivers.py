"""Scripted drivers: the slow "human" demo driver and the friction-limited oracle.

Both follow the centerline by pure pursuit (steer toward a point a speed-dependent distance
ahead). The oracle drives the fastest speed profile the tires allow along the centerline
(forward/backward passes with the friction circle), and its lap time is the reference every
benchmark divides by. That the pure-pursuit oracle actually completes laps near that time without
touching a wall is the check that the dynamics and the oracle agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fastrlap.sim.dynamics import CarParams, G
from fastrlap.sim.track import Track
from fastrlap.types import Command, Pose


@dataclass(frozen=True)
class SpeedProfile:
    """Friction-limited speed along the centerline samples (m/s), and its lap time (s)."""

    speed: np.ndarray  # (N,) m/s at each dense centerline sample
    lap_time: float  # s


def speed_profile(track: Track, p: CarParams, grip: float = 1.0) -> SpeedProfile:
    """The fastest speed profile along the centerline for a car with params `p`.

    Lateral acceleration v²·|κ| may not exceed grip·mu·g; what is left of the friction circle
    (and of the ESC's acceleration / braking rates, less rolling resistance and drag) limits how
    fast speed can change between samples. Passes go round the loop twice so the profile is
    periodic. `grip` < 1 leaves a margin.
    """
    mu_g = grip * p.mu * G
    kappa = np.abs(track.curvature)
    v_corner = np.sqrt(mu_g / np.maximum(kappa, 1e-9))
    v = np.minimum(v_corner, p.max_speed)
    n, ds = len(v), track.ds

    def available(speed: float, k: float, limit: float) -> float:
        lat = speed * speed * k
        return min(limit, math.sqrt(max(mu_g * mu_g - lat * lat, 0.0)))

    resist = p.rolling * G
    for _ in range(2):  # forward: acceleration limited
        for i in range(2 * n):
            a, b = i % n, (i + 1) % n
            acc = available(v[a], kappa[a], p.accel) - resist - p.drag * v[a] ** 2 / p.mass
            v[b] = min(v[b], math.sqrt(max(v[a] ** 2 + 2 * max(acc, 0.0) * ds, 0.0)))
    for _ in range(2):  # backward: braking limited
        for i in range(2 * n, 0, -1):
            b, a = i % n, (i - 1) % n
            dec = available(v[b], kappa[b], p.brake) + resist
            v[a] = min(v[a], math.sqrt(v[b] ** 2 + 2 * dec * ds))
    lap_time = float(np.sum(ds / np.maximum(0.5 * (v + np.roll(v, -1)), 1e-6)))
    return SpeedProfile(speed=v, lap_time=lap_time)


class PurePursuit:
    """Steer toward the centerline point `lookahead` metres ahead of the car's projection."""

    def __init__(self, track: Track, params: CarParams, lookahead_min: float = 0.8, lookahead_time: float = 0.35):
        self.track = track
        self.params = params
        self.lookahead_min = lookahead_min
        self.lookahead_time = lookahead_time

    def steer(self, pose: Pose, speed: float, offset: float = 0.0) -> float:
        """Steering angle (rad) to reach a point at lateral `offset` (m) on the path ahead."""
        ld = max(self.lookahead_min, self.lookahead_time * abs(speed))
        s = self.track.project(pose.x, pose.y).s
        gx, gy = self.track.point_at(s + ld, offset)
        dx, dy = gx - pose.x, gy - pose.y
        alpha = math.atan2(dy, dx) - pose.yaw
        dist = math.hypot(dx, dy)
        delta = math.atan2(2.0 * self.params.wheelbase * math.sin(alpha), dist)
        return max(-self.params.max_steer, min(self.params.max_steer, delta))


class OracleDriver:
    """Pure pursuit at the friction-limited speed profile (looked up slightly ahead for lag)."""

    def __init__(self, track: Track, params: CarParams, grip: float = 0.95, preview: float = 0.15):
        self.track = track
        self.profile = speed_profile(track, params, grip=grip)
        self.pursuit = PurePursuit(track, params)
        self.preview = preview  # s: the ESC and tires lag the command, so brake for what is coming

    def __call__(self, pose: Pose, speed: float) -> Command:
        s = self.track.project(pose.x, pose.y).s
        ahead = s + np.arange(0.0, self.preview * max(speed, 1.0) + 1e-9, self.track.ds)
        idx = (np.round(self.track.wrap(ahead) / self.track.ds).astype(int)) % len(self.track.s)
        target = float(np.min(self.profile.speed[idx]))
        return Command(speed=target, steer=self.pursuit.steer(pose, speed))


class DemoDriver:
    """A slow, slightly noisy "human" lap: wandering line and speed, smooth steering noise.

    The demo only has to teach the course, so it drives well inside
    the limit; the noise keeps the recorded states from lying on one perfect line.
    """

    def __init__(self, track: Track, params: CarParams, speed: float = 1.5, seed: int = 0):
        self.track = track
        self.pursuit = PurePursuit(track, params, lookahead_min=0.8)
        self.speed = speed
        self.rng = np.random.default_rng(seed)
        self._offset = 0.0
        self._steer_noise = 0.0
        self._speed_noise = 0.0

    def __call__(self, pose: Pose, speed: float) -> Command:
        rng = self.rng
        limit = 0.25 * self.track.width
        # Ornstein-Uhlenbeck wander of the line, the steering hand and the throttle finger.
        self._offset = float(np.clip(0.95 * self._offset + rng.normal(0.0, 0.04), -limit, limit))
        self._steer_noise = 0.8 * self._steer_noise + rng.normal(0.0, 0.02)
        self._speed_noise = 0.9 * self._speed_noise + rng.normal(0.0, 0.05)
        steer = self.pursuit.steer(pose, speed, offset=self._offset) + self._steer_noise
        return Command(speed=max(0.5, self.speed + self._speed_noise), steer=steer)
