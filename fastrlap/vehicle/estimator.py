"""Pose and body velocity on the real car: an EKF over wheel odometry + IMU yaw rate, optionally
corrected by GPS (NMEA) outdoors or an external pose (UDP JSON) from an indoor tracking system.

State `[x, y, yaw, v, b]`: world position (m), heading (rad, CCW from +x), forward wheel speed
(m/s) and the gyro's yaw-rate bias (rad/s; a cheap MEMS gyro drifts by a few hundredths of a
rad/s, which alone turns a 30 s drive into metres of error). The body's lateral velocity is taken
as zero (a car that is not sliding; the course and the reward only need the forward component and
the heading).

- Prediction (`update_odometry`, at the telemetry rate, 50 Hz): unicycle motion with the
  gyro's yaw rate. Without an IMU the yaw rate comes from the steering angle through the
  kinematic bicycle `v·tan(δ)/L`, which is much worse (tyres slip); `doctor` says so.
- Wheel speed is a measurement of `v`. While the wheels stand still the car is not turning,
  so the gyro reading is a measurement of its bias (a zero-velocity update).
- GPS (`update_position`, `update_heading`): a position in a local metric frame (east, north
  from the first fix, `LocalFrame`) and, when moving, the course over ground as a heading.
- External pose (`update_pose`): x, y, yaw in the tracking system's frame.

Absolute measurements are gated by their Mahalanobis distance (χ², 2 dof at 99.97 %), so one
multipath GPS jump or a tracker glitch is rejected; after `reset_after` rejections in a row the
filter trusts the source again and jumps to it (the tracker relocalised, or our estimate
drifted). The first absolute fix places the filter in that source's frame. `health()` reports
the covariance, the age of the last fix and a one-line problem for `doctor` and the loop.

The sources that feed it live beside it: `fastrlap.vehicle.gps` (NMEA from a serial GPS) and
`fastrlap.vehicle.external_pose` (signed UDP poses from a tracking system).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np

from fastrlap.errors import FastrlapError
from fastrlap.types import Pose

GATE_CHI2_2DOF = 16.0  # P(chi2_2 > 16) = 3e-4: a consistent fix is almost never rejected
GATE_CHI2_1DOF = 12.0
GATE_CHI2_3DOF = 21.0


class EstimatorError(FastrlapError):
    """A pose source problem (bad NMEA, unusable UDP message, port missing)."""


def wrap_angle(a: float) -> float:
    return (a + math.pi) % (2.0 * math.pi) - math.pi


@dataclass(frozen=True)
class Estimate:
    t: float  # s, time of the last odometry update
    pose: Pose
    velocity: np.ndarray  # (2,) body frame (vx, vy), m/s; vy is 0 (no-slip model)
    yaw_rate: float  # rad/s, the rate used in the last prediction
    covariance: np.ndarray  # (5, 5) over (x, y, yaw, v, gyro bias)
    gyro_bias: float  # rad/s, estimated yaw-rate bias


@dataclass(frozen=True)
class EstimatorHealth:
    source: str  # odometry | gps | external: the absolute source the filter expects
    pos_std: float  # m, sqrt of the largest eigenvalue of the position covariance
    yaw_std: float  # rad
    fix_age: float | None  # s since the last accepted absolute fix (None: never)
    fixes: int  # absolute fixes accepted
    rejected: int  # absolute fixes rejected by the gate
    bad_inputs: int  # non-finite or malformed inputs dropped
    problem: str  # "" when healthy, else one line naming the problem and the fix

    @property
    def ok(self) -> bool:
        return not self.problem


class Estimator:
    """EKF over (x, y, yaw, v, gyro bias). Thread-safe: the GPS/UDP threads and the control loop share it.

    Args:
        source: the absolute pose source expected (odometry | gps | external); health reports a
            problem when a configured source has not delivered for `fix_timeout` seconds.
        wheel_std: m/s, wheel-speed measurement noise.
        gyro_std: rad/s, yaw-rate noise (per sample; enters as a random walk on yaw).
        accel_std: m/s², how fast the speed may change between wheel measurements.
        slip_std: m/√s, position random walk for wheel slip and the no-slip assumption.
        bias_std: rad/s, prior uncertainty of the gyro bias; bias_walk: rad/s/√s, its drift.
        wheelbase: m, for the bicycle-model yaw rate when there is no gyro.
        max_pos_std: m, position uncertainty above which health reports a problem.
    """

    def __init__(
        self,
        source: str = "odometry",
        wheel_std: float = 0.05,
        gyro_std: float = 0.02,
        accel_std: float = 3.0,
        slip_std: float = 0.05,
        bias_std: float = 0.05,
        bias_walk: float = 0.002,
        wheelbase: float = 0.26,
        fix_timeout: float = 1.0,
        max_pos_std: float = 1.0,
        reset_after: int = 5,
    ) -> None:
        if source not in ("odometry", "gps", "external"):
            raise EstimatorError(f"pose source {source!r}: use odometry, gps or external")
        self.source = source
        self.wheel_std, self.gyro_std, self.accel_std = wheel_std, gyro_std, accel_std
        self.slip_std, self.wheelbase = slip_std, wheelbase
        self.bias_std, self.bias_walk = bias_std, bias_walk
        self.fix_timeout, self.max_pos_std, self.reset_after = fix_timeout, max_pos_std, reset_after
        self._lock = threading.Lock()
        self.reset(Pose(0.0, 0.0, 0.0))

    def reset(self, pose: Pose, t: float | None = None) -> None:
        """Start at `pose` with a tight covariance (the car is where we say, at rest)."""
        with self._lock:
            self._x = np.array([pose.x, pose.y, pose.yaw, 0.0, 0.0])
            self._P = np.diag([1e-4, 1e-4, 1e-4, 1e-4, self.bias_std**2])
            self._t = t
            self._yaw_rate = 0.0
            self._fix_t: float | None = None
            self._fixes = 0
            self._rejected = 0
            self._in_a_row = 0
            self._bad = 0
            self._absolute = False  # the first absolute fix places us in that source's frame

    # ------------------------------------------------------------------ prediction
    def update_odometry(self, t: float, wheel_speed: float, yaw_rate: float | None, steer: float = 0.0) -> None:
        """Advance to `t` with the yaw rate (gyro, rad/s; None = bicycle model from `steer`, rad),
        then correct the speed with the wheel measurement (m/s)."""
        values = (t, wheel_speed, steer) + (() if yaw_rate is None else (yaw_rate,))
        if not all(math.isfinite(v) for v in values):
            with self._lock:
                self._bad += 1
            return
        with self._lock:
            dt = 0.0 if self._t is None else t - self._t
            if dt < 0:
                self._bad += 1  # out of order: keep the newer state
                return
            dt = min(dt, 0.5)  # a long gap (link drop) must not fling the car along its heading
            self._t = t
            x, y, yaw, v, b = self._x
            F = np.eye(5)
            if yaw_rate is None:
                w = v * math.tan(steer) / self.wheelbase
                w_var = (0.3 * abs(w) + 0.1) ** 2  # slip makes the bicycle model loose
            else:
                w = yaw_rate - b
                w_var = self.gyro_std**2
                F[2, 4] = -dt
            self._yaw_rate = w
            c, s = math.cos(yaw), math.sin(yaw)
            self._x = np.array([x + v * c * dt, y + v * s * dt, wrap_angle(yaw + w * dt), v, b])
            F[0, 2], F[0, 3] = -v * s * dt, c * dt
            F[1, 2], F[1, 3] = v * c * dt, s * dt
            Q = np.diag(
                [
                    self.slip_std**2 * dt,
                    self.slip_std**2 * dt,
                    w_var * dt * dt + 1e-6 * dt,
                    self.accel_std**2 * dt,
                    self.bias_walk**2 * dt,
                ]
            )
            self._P = F @ self._P @ F.T + Q
            self._update(np.array([wheel_speed - self._x[3]]), _row(3), np.array([[self.wheel_std**2]]), gate=None)
            if yaw_rate is not None and abs(wheel_speed) < 0.01:
                # standing still: the car is not turning, the gyro reads its own bias
                self._update(
                    np.array([yaw_rate - self._x[4]]), _row(4), np.array([[self.gyro_std**2]]), gate=GATE_CHI2_1DOF
                )

    # ------------------------------------------------------------------ absolute fixes
    def update_position(self, t: float, x: float, y: float, std: float) -> bool:
        """A position fix (m, local frame) with its standard deviation (m). True if accepted."""
        if not all(math.isfinite(v) for v in (t, x, y, std)) or std <= 0:
            with self._lock:
                self._bad += 1
            return False
        with self._lock:
            if not self._absolute:
                self._x[:2] = (x, y)
                self._P[:2, :] = 0.0
                self._P[:, :2] = 0.0
                self._P[0, 0] = self._P[1, 1] = std**2
                self._P[2, 2] = math.pi**2  # heading unknown in this frame until we move
                return self._accepted(t)
            H = np.vstack([_row(0), _row(1)])
            return self._absolute_update(
                t,
                np.array([x, y]) - self._x[:2],
                H,
                np.eye(2) * std**2,
                GATE_CHI2_2DOF,
                jump=lambda: self._x.__setitem__(slice(0, 2), (x, y)),
            )

    def update_heading(self, t: float, yaw: float, std: float) -> bool:
        """A heading measurement (rad), e.g. GPS course over ground while moving forward."""
        if not all(math.isfinite(v) for v in (t, yaw, std)) or std <= 0:
            with self._lock:
                self._bad += 1
            return False
        with self._lock:
            if self._P[2, 2] > 0.3**2:  # heading still unknown: take it (linearising a 180° error fails)
                self._x[2] = wrap_angle(yaw)
                self._P[2, :] = 0.0
                self._P[:, 2] = 0.0
                self._P[2, 2] = std**2
                return True
            H = _row(2)
            return self._update(np.array([wrap_angle(yaw - self._x[2])]), H, np.array([[std**2]]), gate=GATE_CHI2_1DOF)

    def update_pose(self, t: float, pose: Pose, pos_std: float, yaw_std: float) -> bool:
        """A full pose from an external tracker (its frame becomes ours at the first message)."""
        vals = (t, pose.x, pose.y, pose.yaw, pos_std, yaw_std)
        if not all(math.isfinite(v) for v in vals) or pos_std <= 0 or yaw_std <= 0:
            with self._lock:
                self._bad += 1
            return False
        with self._lock:

            def jump() -> None:
                self._x[:3] = (pose.x, pose.y, wrap_angle(pose.yaw))
                self._P[:3, :] = 0.0
                self._P[:, :3] = 0.0
                self._P[0, 0] = self._P[1, 1] = pos_std**2
                self._P[2, 2] = yaw_std**2

            if not self._absolute:
                jump()
                return self._accepted(t)
            H = np.vstack([_row(0), _row(1), _row(2)])
            innov = np.array([pose.x - self._x[0], pose.y - self._x[1], wrap_angle(pose.yaw - self._x[2])])
            R = np.diag([pos_std**2, pos_std**2, yaw_std**2])
            return self._absolute_update(t, innov, H, R, GATE_CHI2_3DOF, jump=jump)

    # ------------------------------------------------------------------ reading
    def estimate(self) -> Estimate:
        with self._lock:
            x, y, yaw, v, _ = self._x
            return Estimate(
                t=self._t or 0.0,
                pose=Pose(float(x), float(y), float(yaw)),
                velocity=np.array([float(v), 0.0]),
                yaw_rate=float(self._yaw_rate),
                covariance=self._P.copy(),
                gyro_bias=float(self._x[4]),
            )

    def health(self, now: float) -> EstimatorHealth:
        """`now` on the clock the updates were stamped with."""
        with self._lock:
            pos_std = float(math.sqrt(max(np.linalg.eigvalsh(self._P[:2, :2]).max(), 0.0)))
            yaw_std = float(math.sqrt(max(self._P[2, 2], 0.0)))
            age = None if self._fix_t is None else now - self._fix_t
            problem = ""
            if self.source != "odometry" and (age is None or age > self.fix_timeout):
                what = "no fix yet" if age is None else f"last fix {age:.1f} s ago"
                fix = (
                    "check the GPS has a sky view and its port/baud (vehicle.real.pose.gps_port)"
                    if self.source == "gps"
                    else "check the tracking system sends signed poses to vehicle.real.pose.udp_host:udp_port "
                    "(docs/hardware.md, Pose sources)"
                )
                problem = f"{self.source} pose source silent ({what}): {fix}"
            elif pos_std > self.max_pos_std:
                problem = (
                    f"position uncertainty {pos_std:.2f} m exceeds {self.max_pos_std:.2f} m: the estimate "
                    f"has drifted; add a pose source (GPS or external) or restart at the start line"
                )
            return EstimatorHealth(
                source=self.source,
                pos_std=pos_std,
                yaw_std=yaw_std,
                fix_age=age,
                fixes=self._fixes,
                rejected=self._rejected,
                bad_inputs=self._bad,
                problem=problem,
            )

    # ------------------------------------------------------------------ internals (lock held)
    def _accepted(self, t: float) -> bool:
        self._absolute = True
        self._fix_t = t
        self._fixes += 1
        self._in_a_row = 0
        return True

    def _absolute_update(self, t, innov, H, R, gate, jump) -> bool:
        if self._update(innov, H, R, gate):
            return self._accepted(t)
        self._rejected += 1
        self._in_a_row += 1
        if self._in_a_row >= self.reset_after:
            jump()  # the source disagrees persistently: it is right, our estimate drifted
            self._P[:2, :2] = np.maximum(self._P[:2, :2], R[:2, :2])
            return self._accepted(t)
        return False

    def _update(self, innov: np.ndarray, H: np.ndarray, R: np.ndarray, gate: float | None) -> bool:
        S = H @ self._P @ H.T + R
        S_inv = np.linalg.inv(S)
        if gate is not None and float(innov @ S_inv @ innov) > gate:
            return False
        K = self._P @ H.T @ S_inv
        self._x = self._x + K @ innov
        self._x[2] = wrap_angle(self._x[2])
        I_KH = np.eye(5) - K @ H
        self._P = I_KH @ self._P @ I_KH.T + K @ R @ K.T  # Joseph form: stays symmetric positive
        return True


def _row(i: int) -> np.ndarray:
    """Measurement matrix picking state component `i` (1 x 5)."""
    h = np.zeros((1, 5))
    h[0, i] = 1.0
    return h
