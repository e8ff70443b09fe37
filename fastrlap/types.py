"""Records that cross module boundaries: observations, commands and transitions.

Built with keywords everywhere (field order never matters): no string-keyed dicts and no tuple-order coupling
between the vehicle, the course, the supervisor and the learner. SI units, world frame x/y on the
ground with yaw CCW from +x, body frame x forward / y left.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

import numpy as np

# Gravity, m/s²: what the IMU reads at rest and what the simulator's tyres press down with. One
# value, so the simulated car and the real car's accelerometer agree on "1 g". 9.81 is what the
# simulator has always used (a seed drives the same laps as before); standard gravity (9.80665)
# differs by 0.03%, far below the accelerometer's own scale error.
GRAVITY = 9.81


@dataclass(frozen=True)
class Pose:
    """Planar pose in the world frame: metres and radians (yaw CCW from +x)."""

    x: float
    y: float
    yaw: float

    def as_array(self) -> np.ndarray:
        return np.array([self.x, self.y, self.yaw], dtype=np.float64)


@dataclass(frozen=True)
class ImuReading:
    """Body-frame IMU sample. `accel` includes gravity (a car at rest reads +GRAVITY on z)."""

    accel: np.ndarray  # (3,) m/s^2, body frame
    gyro: np.ndarray  # (3,) rad/s, body frame


@dataclass(frozen=True)
class Command:
    """What the loop asks the car to do, in physical units.

    The policy's action a ∈ [-1, 1]² is mapped to this by `fastrlap.actions.to_command`
    (`speed = bias + scale·a0`, `steer = a1·max_steer`), so recovery and teleop, which are not
    policies, command the car in the same units.
    """

    speed: float  # target wheel speed, m/s (negative reverses)
    steer: float  # front wheel angle, rad (positive turns left)


NEUTRAL = Command(speed=0.0, steer=0.0)


@dataclass(frozen=True)
class Observation:
    """Everything the car senses at one control tick."""

    t: float  # s, from the vehicle's Clock
    frame: np.ndarray  # (H, W, 3) uint8 RGB, newest camera frame
    imu: ImuReading
    wheel_speed: float  # m/s, signed, from the wheel encoder
    pose: Pose  # estimated pose (noisy in the simulator, the estimator's on the car)
    velocity: np.ndarray  # (2,) estimated body-frame velocity (vx forward, vy left), m/s
    yaw_rate: float  # rad/s
    collision: bool = False  # a contact began or continued during the last tick
    teleop: Command | None = None  # a human command when one is active (RC override, keyboard)
    estop: bool = False  # an emergency stop was requested by hardware or the user
    link_lost: str = ""  # the serial port whose link to the car is down ("" while it is up)
    true_pose: Pose | None = None  # ground truth, only the simulator knows it
    frame_t: float | None = None  # s, when the frame was captured (real cameras lag)


@dataclass(frozen=True)
class Transition:
    """One step of experience as the learner stores it (from practice or the demo lap alike).

    `action_lo/action_hi` is the per-step output range the actor sampled in (the paper's rate
    limit), kept so the critic and the actor see the same constraint at update time.
    """

    embedding: np.ndarray  # (E,) frozen-encoder embedding of the frame stack
    proprio: np.ndarray  # (P,) float32
    action: np.ndarray  # (2,) in [-1, 1]
    action_lo: np.ndarray  # (2,)
    action_hi: np.ndarray  # (2,)
    reward: float
    next_embedding: np.ndarray  # (E,)
    next_proprio: np.ndarray  # (P,)
    next_action_lo: np.ndarray  # (2,) range the actor will sample in at the next state
    next_action_hi: np.ndarray  # (2,)
    done: bool  # terminal: do not bootstrap
    mask: float = 1.0  # 0 when terminal, 1 otherwise (kept separate from `done` as in rlpd)
    source: str = field(default="practice")  # "demo" | "practice"


@dataclass(frozen=True)
class LapRow:
    """One completed lap of practice as laps.csv holds it (and the lap callbacks receive it).

    The course's `LapRecord` is the lap as the checkpoints saw it within one session; a row adds
    what practice knows: the practice time it ended at, counted across sessions, and the lap's
    speeds."""

    lap: int  # 1-based, continued across resumes
    practice_time_s: float  # s of practice at which the lap ended
    lap_time_s: float
    collisions: int  # collisions that began during the lap
    recoveries: int  # pseudo-resets that began during the lap
    mean_speed_mps: float
    max_speed_mps: float

    @staticmethod
    def columns() -> tuple[str, ...]:
        """laps.csv's header, in column order."""
        return tuple(f.name for f in fields(LapRow))

    def csv_line(self) -> str:
        """The row for laps.csv: counts as integers, the rest with four decimals."""
        return ",".join(str(v) if isinstance(v, int) else f"{v:.4f}" for v in asdict(self).values())

    @staticmethod
    def from_csv(rec: dict[str, str]) -> LapRow:
        """A row read back by `csv.DictReader`; every laps.csv written so far has these columns
        (counts may be written as "3" or "3.0"). ValueError/KeyError/TypeError when damaged."""
        return LapRow(
            lap=int(rec["lap"]),
            practice_time_s=float(rec["practice_time_s"]),
            lap_time_s=float(rec["lap_time_s"]),
            collisions=int(float(rec["collisions"])),
            recoveries=int(float(rec["recoveries"])),
            mean_speed_mps=float(rec["mean_speed_mps"]),
            max_speed_mps=float(rec["max_speed_mps"]),
        )
