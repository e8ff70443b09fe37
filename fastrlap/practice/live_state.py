"""The run as the operator sees it now: one snapshot per control tick, read by every display.

The terminal dashboard and the field console's page show the same figures (speed, laps, best
lap, the supervisor's mode and stop reason, who holds the car, the learner's rate, the link).
They are computed here once, from the loop, so the two can never disagree: a phone that says
4.8 m/s while the terminal says 5.1 m/s, or two different updates/s, would make the operator
doubt both. The displays only format and throttle what they are given.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from fastrlap.practice.loop import PracticeLoop
from fastrlap.practice.supervisor import Mode
from fastrlap.types import Pose

RATE_WINDOW_S = 3.0  # learner updates/s is measured over about this much wall time
RATE_SAMPLE_S = 0.1  # one sample of the update count at most this often (the simulator ticks far faster)


@dataclass(frozen=True)
class LiveState:
    """One tick of the run, for display (never fed back into the loop)."""

    mode: Mode
    stop_reason: str  # why the supervisor last stopped the car, "" if it never did
    estop: str  # what the operator stop holding the car says (how to continue), "" while none holds it
    estop_source: str  # who holds the car ("space key", "console"), "" while nobody does
    speed: float  # m/s over the ground, as laps.csv measures it
    laps: int
    lap_times: tuple[float, ...]  # s, in order
    best_lap: float | None
    collisions: int
    practice_time: float  # s of driving so far (all sessions)
    total_time: float  # s of driving planned
    updates_per_s: float  # learner updates over the last few seconds of wall time
    buffer: int  # transitions in the replay buffer (demo and practice), the number resume reports as loaded
    link: str  # the serial link's trouble, "" while it is up and confirmed
    learner_link: str  # a learner on another machine: its link, weights version, backlog; "" for one in this process
    learner_pace: str  # that the learner cannot keep its UTD in real time and what to do, "" while it keeps up
    poses_rejected: str  # external poses refused so far ("3 unauthenticated, 1 replayed"), "" while none were
    car: Pose | None  # where the car is, None before the first observation
    camera_age: float | None  # s between the newest camera frame and the newest observation
    frame: np.ndarray | None = field(default=None, repr=False, compare=False)  # the newest camera image

    @property
    def urgent(self) -> str:
        """What every display shows at once rather than at its next throttled refresh: who holds
        the car and the serial link's trouble (the operator must act on either now)."""
        return self.estop + self.link


class UpdateRate:
    """Learner updates per second over the last `RATE_WINDOW_S` of wall time.

    A windowed rate, not the mean since start: the operator wants to see the learner slow down
    now (a hot CPU, a busy disk), not an average that hides it after the first minutes."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._samples: deque[tuple[float, int]] = deque()

    def __call__(self, updates: int) -> float:
        now = self.clock()
        if not self._samples or now - self._samples[-1][0] >= RATE_SAMPLE_S:
            self._samples.append((now, updates))
        while len(self._samples) > 2 and now - self._samples[1][0] >= RATE_WINDOW_S:
            self._samples.popleft()
        t0, u0 = self._samples[0]
        return (updates - u0) / (now - t0) if now > t0 else 0.0


class LiveTracker:
    """Builds the `LiveState` of each tick; the session calls `update(loop)` once per tick."""

    def __init__(self, total_time: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.total_time = total_time
        self._rate = UpdateRate(clock)

    def update(self, loop: PracticeLoop) -> LiveState:
        st, obs, hold = loop.state, loop.last_obs, loop.operator_hold
        rejected = loop.pose_rejections
        return LiveState(
            mode=loop.mode,
            stop_reason=loop.supervisor.stop_reason,
            estop=hold.line if hold is not None else "",
            estop_source=hold.source if hold is not None else "",
            speed=float(math.hypot(*obs.velocity)) if obs is not None else 0.0,
            laps=st.laps,
            lap_times=tuple(st.lap_times),
            best_lap=st.best_lap,
            collisions=st.collisions,
            practice_time=st.practice_time,
            total_time=self.total_time,
            updates_per_s=self._rate(loop.learner.updates),
            buffer=len(loop.learner.replay),
            link=loop.link_message,
            learner_link=getattr(loop.learner, "link_state", ""),
            learner_pace=loop.pace.message,
            poses_rejected=rejected.describe() if rejected.total else "",
            car=obs.pose if obs is not None else None,
            camera_age=None if obs is None or obs.frame_t is None else obs.t - obs.frame_t,
            frame=obs.frame if obs is not None else None,
        )
