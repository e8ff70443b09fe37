"""Gates, lap timing, checkpoints extracted from the demo lap, and the `Course` that follows them.

One `LapTimer` is shared by the demo, practice, evaluation and the simulator's oracle.

A lap time is the interval between two interpolated crossings of the start/finish gate, so it is
accurate to well below one control tick (at 10 Hz a car at 5 m/s moves 0.5 m per tick; rounding
to ticks would blur lap times by up to 0.1 s).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from fastrlap.errors import FastrlapError
from fastrlap.storage import atomic_write_text
from fastrlap.types import Pose


@dataclass(frozen=True)
class Gate:
    """A line across the course at `point`, crossed in the direction `heading` (rad)."""

    point: tuple[float, float]  # m, world
    heading: float  # rad, the direction of travel that counts as crossing
    half_width: float  # m, how far from `point` a crossing still counts

    def crossing(self, t0: float, p0: tuple[float, float], t1: float, p1: tuple[float, float]) -> float | None:
        """Time at which the straight move p0 -> p1 crossed the gate forward, or None.

        Linear interpolation between the two samples gives the sub-tick crossing time.
        """
        hx, hy = math.cos(self.heading), math.sin(self.heading)
        d0 = (p0[0] - self.point[0]) * hx + (p0[1] - self.point[1]) * hy
        d1 = (p1[0] - self.point[0]) * hx + (p1[1] - self.point[1]) * hy
        if not (d0 < 0.0 <= d1):
            return None
        f = -d0 / (d1 - d0)
        cx, cy = p0[0] + f * (p1[0] - p0[0]), p0[1] + f * (p1[1] - p0[1])
        lateral = -(cx - self.point[0]) * hy + (cy - self.point[1]) * hx
        if abs(lateral) > self.half_width:
            return None
        return t0 + f * (t1 - t0)


@dataclass
class LapTimer:
    """Lap times from successive start/finish crossings.

    The caller decides when a crossing completes a lap (the course requires every checkpoint in
    order first); the timer only keeps the clock. `restart` is for a lap that was invalidated
    (e.g. the car was reset): the next lap is timed from `t`.
    """

    lap_start: float | None = None
    laps: list[float] = field(default_factory=list)

    def restart(self, t: float) -> None:
        self.lap_start = t

    def complete(self, t: float) -> float | None:
        """Record a lap finishing at `t`; returns its time (None for the first crossing)."""
        if self.lap_start is None:
            self.lap_start = t
            return None
        lap = t - self.lap_start
        self.laps.append(lap)
        self.lap_start = t
        return lap

    @property
    def best(self) -> float | None:
        return min(self.laps) if self.laps else None


# ---------------------------------------------------------------------------------------------
# Checkpoints extracted from the demo lap (the paper's release had them typed in by hand).

CHECKPOINTS_FORMAT_VERSION = 1
_MIN_STEP = 0.10  # m: demo samples closer than this to the last kept one are noise (car at rest)
_SMOOTH = 2  # samples each side of the moving average that takes the pose noise off the path


class CheckpointsFileError(FastrlapError):
    """checkpoints.json is missing, corrupt, or of another format version."""


@dataclass(frozen=True)
class Checkpoint:
    x: float  # m, world
    y: float  # m, world
    heading: float  # rad, direction of the demo path here (the direction a crossing counts in)
    s: float  # m, arc length along the demo path from the start/finish (checkpoint 0 has s = 0)


@dataclass(frozen=True)
class CourseSpec:
    """What checkpoints.json holds: the checkpoints in driving order, checkpoint 0 = start/finish."""

    checkpoints: tuple[Checkpoint, ...]
    goal_radius: float  # m
    gate_half_width: float  # m
    course_length: float  # m, arc length of the closed demo path
    spacing: float  # m, actual arc length between successive checkpoints (course_length / count)
    demo_lap_time: float | None = None  # s, the demo's standing-start lap
    track: str = ""  # the simulator track the demo was driven on ("" on a real course)

    def gate(self, i: int) -> Gate:
        cp = self.checkpoints[i]
        return Gate(point=(cp.x, cp.y), heading=cp.heading, half_width=self.gate_half_width)


def path_arc_length(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Denoised demo path (M, 2) and its cumulative arc length (M,), from raw poses (N, 2).

    A moving average takes most of the pose noise off; then samples closer than 10 cm to the
    last kept one are dropped, so a car standing still (at the start, or waiting) adds no length
    by jittering. The last sample is always kept: the path must end where the lap closed.
    """
    xy = np.asarray(xy, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2 or len(xy) < 2:
        raise ValueError(f"demo path must be (N >= 2, 2) positions, got {xy.shape}")
    k = _SMOOTH
    padded = np.concatenate([np.repeat(xy[:1], k, axis=0), xy, np.repeat(xy[-1:], k, axis=0)])
    kernel = np.ones(2 * k + 1) / (2 * k + 1)
    smooth = np.stack([np.convolve(padded[:, j], kernel, mode="valid") for j in range(2)], axis=1)
    smooth[0], smooth[-1] = xy[0], xy[-1]  # the ends are where the lap starts and closes
    kept = [smooth[0]]
    for p in smooth[1:-1]:
        if np.hypot(*(p - kept[-1])) >= _MIN_STEP:
            kept.append(p)
    kept.append(smooth[-1])
    path = np.asarray(kept)
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(path, axis=0), axis=1))])
    return path, s


def extract_checkpoints(
    xy: np.ndarray,
    spacing: float,
    goal_radius: float,
    gate_half_width: float,
    demo_lap_time: float | None = None,
    track: str = "",
) -> CourseSpec:
    """Checkpoints every ~`spacing` m along a closed demo lap `xy` (N, 2), start/finish first.

    `xy` runs from the start to the point where the lap closed (back at the start). The count is
    rounded so the checkpoints divide the lap evenly (no short last leg), with at least three so
    the order of a lap is defined. Headings are the path's direction over ±0.5 m.
    """
    if spacing <= 0 or goal_radius <= 0 or gate_half_width <= 0:
        raise ValueError(
            f"checkpoint spacing, goal radius and gate half width must be > 0, got "
            f"{spacing}, {goal_radius}, {gate_half_width}"
        )
    path, s = path_arc_length(xy)
    length = float(s[-1])
    if length < 3 * goal_radius:
        raise ValueError(f"demo path is {length:.1f} m long; a course needs at least {3 * goal_radius:.1f} m")
    count = max(3, int(round(length / spacing)))
    step = length / count
    h = min(0.5, step / 2)

    def at(q: np.ndarray) -> np.ndarray:
        q = np.mod(q, length)  # the path is closed: before the start is the end of the lap
        return np.stack([np.interp(q, s, path[:, 0]), np.interp(q, s, path[:, 1])], axis=-1)

    cs = np.arange(count) * step
    pos, ahead, behind = at(cs), at(cs + h), at(cs - h)
    heading = np.arctan2(ahead[:, 1] - behind[:, 1], ahead[:, 0] - behind[:, 0])
    cps = tuple(
        Checkpoint(x=float(p[0]), y=float(p[1]), heading=float(a), s=float(c)) for p, a, c in zip(pos, heading, cs)
    )
    return CourseSpec(
        checkpoints=cps,
        goal_radius=float(goal_radius),
        gate_half_width=float(gate_half_width),
        course_length=length,
        spacing=step,
        demo_lap_time=demo_lap_time,
        track=track,
    )


def save_checkpoints(spec: CourseSpec, path: str | Path) -> None:
    """Write checkpoints.json atomically (a crash never leaves half a file)."""
    path = Path(path)
    data = {
        "format_version": CHECKPOINTS_FORMAT_VERSION,
        "track": spec.track,
        "course_length": spec.course_length,
        "spacing": spec.spacing,
        "goal_radius": spec.goal_radius,
        "gate_half_width": spec.gate_half_width,
        "demo_lap_time": spec.demo_lap_time,
        "checkpoints": [asdict(cp) for cp in spec.checkpoints],
    }
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def load_checkpoints(path: str | Path) -> CourseSpec:
    path = Path(path)
    fix = f"extract them again from the demo with `fastrlap checkpoints extract run_dir={path.parent}`"
    if not path.is_file():
        raise CheckpointsFileError(f"{path}: no such checkpoints file; {fix}")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointsFileError(f"{path}: not readable as JSON ({type(e).__name__}); {fix}") from None
    version = data.get("format_version") if isinstance(data, dict) else None
    if version != CHECKPOINTS_FORMAT_VERSION:
        raise CheckpointsFileError(
            f"{path}: checkpoints format version {version}, this fastrlap reads {CHECKPOINTS_FORMAT_VERSION}; {fix}"
        )
    try:
        cps = tuple(
            Checkpoint(x=float(c["x"]), y=float(c["y"]), heading=float(c["heading"]), s=float(c["s"]))
            for c in data["checkpoints"]
        )
        lap = data["demo_lap_time"]
        spec = CourseSpec(
            checkpoints=cps,
            goal_radius=float(data["goal_radius"]),
            gate_half_width=float(data["gate_half_width"]),
            course_length=float(data["course_length"]),
            spacing=float(data["spacing"]),
            demo_lap_time=None if lap is None else float(lap),
            track=str(data["track"]),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointsFileError(f"{path}: malformed checkpoints ({type(e).__name__}: {e}); {fix}") from None
    if len(cps) < 3:
        raise CheckpointsFileError(f"{path}: {len(cps)} checkpoints, a course needs at least 3; {fix}")
    return spec


# ---------------------------------------------------------------------------------------------
# Course: the current goal, advancing, laps (the reward and the episode ends are built on these; docs/design.md).


@dataclass(frozen=True)
class GoalFeatures:
    """The current checkpoint as the policy sees it (part of the proprio vector)."""

    direction: np.ndarray  # (2,) unit vector to the checkpoint in the body frame (x forward, y left)
    distance: float  # m


@dataclass(frozen=True)
class LapRecord:
    lap: int  # 1-based count of timed laps
    time: float  # s, between two interpolated start/finish crossings
    collisions: int  # collisions that began during the lap
    recoveries: int  # recoveries that began during the lap


@dataclass(frozen=True)
class CourseStep:
    """What one `Course.update` learned."""

    target: int  # index of the checkpoint to drive to now
    goal: GoalFeatures  # of `target`, from the pose passed to update
    reached: tuple[int, ...]  # checkpoints reached during this tick, in order
    lap: LapRecord | None  # a lap finished during this tick


def goal_features(pose: Pose, cp: Checkpoint) -> GoalFeatures:
    dx, dy = cp.x - pose.x, cp.y - pose.y
    dist = math.hypot(dx, dy)
    c, s = math.cos(pose.yaw), math.sin(pose.yaw)
    if dist < 1e-9:  # on top of it: point the way the course goes
        dx, dy, dist_n = math.cos(cp.heading), math.sin(cp.heading), 1.0
    else:
        dist_n = dist
    bx, by = (c * dx + s * dy) / dist_n, (-s * dx + c * dy) / dist_n
    return GoalFeatures(direction=np.array([bx, by]), distance=dist)


class Course:
    """Tracks the car along the checkpoints: current goal, advancing, laps and per-lap counts.

    A checkpoint is reached inside `goal_radius`, or when the car crosses its gate line (so a
    fast car that passes just outside the radius is not sent back to orbit it). A lap finishes
    when the car crosses the start/finish gate after reaching every other checkpoint in order;
    its time comes from the interpolated gate crossings (`LapTimer`), not from ticks.
    """

    def __init__(self, spec: CourseSpec) -> None:
        if len(spec.checkpoints) < 3:
            raise ValueError(f"a course needs at least 3 checkpoints, got {len(spec.checkpoints)}")
        self.spec = spec
        self.gates = [spec.gate(i) for i in range(len(spec.checkpoints))]
        self.timer = LapTimer()
        self.laps: list[LapRecord] = []
        self.target = 0
        self._armed = False  # every checkpoint after the start reached in order since the last lap
        self._prev: tuple[float, tuple[float, float]] | None = None
        self._collisions = self._recoveries = 0
        self._in_collision = self._in_recovery = False

    def __len__(self) -> int:
        return len(self.spec.checkpoints)

    def reset(self, t: float, pose: Pose, standing_start: bool = False) -> GoalFeatures:
        """Start following the course from `pose` at time `t`.

        With `standing_start` a car at rest at the start/finish (inside the goal radius) starts a
        timed lap now, as the demo lap does; otherwise the first start/finish crossing starts the
        clock and the first lap is the next full one.
        """
        cps = self.spec.checkpoints
        d = [math.hypot(cp.x - pose.x, cp.y - pose.y) for cp in cps]
        self.timer.lap_start = None
        if d[0] <= self.spec.goal_radius:
            self.target = 1
            if standing_start:
                self.timer.restart(t)
        else:
            nearest = int(np.argmin(d))
            g = self.gates[nearest]
            past = (pose.x - g.point[0]) * math.cos(g.heading) + (pose.y - g.point[1]) * math.sin(g.heading) >= 0
            self.target = (nearest + 1) % len(self) if past else nearest
        self._armed = False
        self._prev = (t, (pose.x, pose.y))
        self._collisions = self._recoveries = 0
        self._in_collision = self._in_recovery = False
        return goal_features(pose, cps[self.target])

    def update(self, t: float, pose: Pose, collision: bool = False, recovering: bool = False) -> CourseStep:
        """Advance with the pose at time `t`; `collision`/`recovering` are this tick's levels
        (their rising edges are counted against the current lap)."""
        if self._prev is None:
            self.reset(t, pose)
        t0, p0 = self._prev
        p1 = (pose.x, pose.y)
        self._prev = (t, p1)
        self._collisions += bool(collision and not self._in_collision)
        self._recoveries += bool(recovering and not self._in_recovery)
        self._in_collision, self._in_recovery = bool(collision), bool(recovering)

        lap = None
        crossed_start = self.gates[0].crossing(t0, p0, t, p1)
        if crossed_start is not None:
            if self._armed:
                time = self.timer.complete(crossed_start)
                if time is not None:
                    lap = LapRecord(
                        lap=len(self.laps) + 1,
                        time=float(time),
                        collisions=self._collisions,
                        recoveries=self._recoveries,
                    )
                    self.laps.append(lap)
                self._collisions = self._recoveries = 0
                self._armed = False
            elif self.timer.lap_start is None:
                self.timer.complete(crossed_start)  # first crossing: the clock starts here

        reached: list[int] = []
        for _ in range(len(self)):
            k = self.target
            cp = self.spec.checkpoints[k]
            inside = math.hypot(cp.x - pose.x, cp.y - pose.y) <= self.spec.goal_radius
            crossed = crossed_start if k == 0 else self.gates[k].crossing(t0, p0, t, p1)
            if not (inside or crossed is not None):
                break
            reached.append(k)
            if k == len(self) - 1:
                self._armed = True
            self.target = (k + 1) % len(self)
        goal = goal_features(pose, self.spec.checkpoints[self.target])
        return CourseStep(target=self.target, goal=goal, reached=tuple(reached), lap=lap)
