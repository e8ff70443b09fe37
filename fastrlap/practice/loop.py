"""The control loop: observe, decide who drives, act, store, learn.

One `PracticeLoop.tick()` is one control period. The same loop drives the simulator and the
real car; only the `Vehicle` (and its `Clock`) differ. In the simulator the clock never sleeps;
on the car `wait_until` holds the period and the overrun is logged.

Episode semantics for the critic: entering RECOVERY truncates the episode — the transition on
which the crash began carries the collision penalty and still bootstraps (mask 1); leaving the
geofence is a state the car cannot drive out of, so it terminates (mask 0).

Practice time counts driving only: while the serial link is lost, and until a human confirms
after it came back (the supervisor's PAUSED modes), the practice clock stands still, so a cable
that falls out does not eat the session's minutes, and the events logged meanwhile carry the
practice time at which the car stopped.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sized
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from fastrlap.actions import all_finite, rest_action
from fastrlap.agent.encoder import Encoder, FrameStack
from fastrlap.agent.features import proprio
from fastrlap.agent.sac import PolicyInput
from fastrlap.config import Config, CourseConfig
from fastrlap.course.checkpoints import Checkpoint, Course, LapRecord, goal_features
from fastrlap.course.reward import reward as course_reward
from fastrlap.practice.limits import ActionLimits
from fastrlap.practice.pace import LearnerPace
from fastrlap.practice.safety import SafetyFilter
from fastrlap.practice.stops import Hold
from fastrlap.practice.supervisor import PAUSED, Event, Mode, StopReason, Supervisor, Tick
from fastrlap.types import NEUTRAL, Command, LapRow, Observation, Transition
from fastrlap.vehicle.base import RejectsPoses, SimClock, Vehicle
from fastrlap.vehicle.pose_auth import PoseRejections

JITTER_WINDOW = 100  # control ticks per "timing" event on a real clock (the simulator never waits)
REJECTION_EVENT_S = 1.0  # s between "pose_rejected" events at most, however many datagrams a sender fires
CONFIRM_KEY = "c key"  # how the supervisor is told a human confirmed at the terminal


@dataclass
class _Pending:
    """The LEARNING step whose outcome (reward, next state) arrives on the next tick."""

    embedding: np.ndarray
    proprio: np.ndarray
    action: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    target: int  # checkpoint the reward is measured toward


@dataclass
class LapSpeeds:
    """Speeds seen during the current lap (m/s), for laps.csv."""

    total: float = 0.0
    count: int = 0
    peak: float = 0.0

    def add(self, v: float) -> None:
        self.total += v
        self.count += 1
        self.peak = max(self.peak, v)

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0


@dataclass
class LoopState:
    """Counters that survive a resume (saved beside the learner checkpoint)."""

    ticks: int = 0
    practice_time: float = 0.0  # s of driving since practice began (all sessions)
    laps: int = 0
    collisions: int = 0
    recoveries: int = 0
    transitions: int = 0
    first_lap_time: float | None = None  # practice time at which the first lap completed (T2F)
    best_lap: float | None = None
    lap_times: list[float] = field(default_factory=list)


def record_lap(state: LoopState, lap: LapRecord, speeds: LapSpeeds) -> LapRow:
    """Count a lap the course finished in `state` (laps, T2F, best lap), and its laps.csv row.

    Shared by the practice loop and the gym environment that runs practice's task
    (practice/gym_env.py), so both count laps and time to the first lap alike."""
    state.laps += 1
    state.lap_times.append(lap.time)
    if state.first_lap_time is None:
        state.first_lap_time = state.practice_time
    state.best_lap = lap.time if state.best_lap is None else min(state.best_lap, lap.time)
    return LapRow(
        lap=state.laps,
        practice_time_s=float(state.practice_time),
        lap_time_s=float(lap.time),
        collisions=int(lap.collisions),
        recoveries=int(lap.recoveries),
        mean_speed_mps=float(speeds.mean),
        max_speed_mps=float(speeds.peak),
    )


def count_incidents(state: LoopState, decision: Tick) -> None:
    """Count a crash, and a recovery begun by a crash or a stuck car, once each at its start.

    Shared with the gym environment (practice/gym_env.py) so both report the same counts."""
    state.collisions += int(decision.crash_started)
    state.recoveries += int(decision.mode == Mode.RECOVERY and (decision.crash_started or decision.stuck_started))


def transition_outcome(
    obs: Observation, target: Checkpoint, decision: Tick, supervisor: Supervisor, cfg: CourseConfig
) -> tuple[float, bool]:
    """(reward, terminal) of the transition that ended at `obs`. The reward is measured toward
    `target`, the checkpoint the action was chosen for (the course may have moved on since);
    the episode ends only where the car left the geofence, so a crash or a stuck car is not a
    terminal state (the car backs out and goes on).

    Shared with the gym environment so both give practice's task the same reward."""
    toward = goal_features(obs.pose, target)
    r = course_reward(
        obs.velocity,
        toward.direction,
        cfg,
        crash_started=decision.crash_started,
        impact=decision.impact,
        stuck_started=decision.stuck_started,
    )
    terminal = decision.mode == Mode.STOPPED and supervisor.stopped_for is StopReason.GEOFENCE
    return r, terminal


class Learner(Protocol):
    """What the loop needs from a learner (SyncLearner in the simulator, ThreadedLearner on a car)."""

    updates: int
    lag: int  # UTD blocks owed: transitions stored whose updates have not run yet
    last_metrics: dict[str, float]
    replay: Sized  # the transitions learned from (the dashboard shows how many)

    def act(self, obs: PolicyInput, deterministic: bool) -> np.ndarray: ...
    def insert(self, transition: Transition) -> None: ...
    def on_transition(self) -> None: ...


class PracticeLoop:
    def __init__(
        self,
        vehicle: Vehicle,
        course: Course,
        encoder: Encoder,
        learner: Learner,
        cfg: Config,
        distance_to_path: Callable[[float, float], float],
        state: LoopState | None = None,
        on_lap: Callable[[LapRow], None] | None = None,
        on_event: Callable[[float, str, dict], None] | None = None,
        learn: bool = True,
        deterministic: bool = False,
        operator_stop: Callable[[], Hold | None] | None = None,
        continue_presses: Callable[[], int] | None = None,
    ) -> None:
        self.vehicle = vehicle
        self.course = course
        self.encoder = encoder
        self.learner = learner
        self.cfg = cfg
        self.learn = learn
        self.deterministic = deterministic
        self.state = state or LoopState()
        self.on_lap = on_lap
        self.on_event = on_event
        # The operator stops (the space key, the console; practice/stops.py), read every tick:
        # which one holds the car and what to tell the operator, None while none does.
        self.operator_stop = operator_stop
        self.operator_hold: Hold | None = None
        # How often the operator has pressed the continue key (practice/keys.py): a press after
        # the link came back confirms that the car may drive again.
        self.continue_presses = continue_presses
        self._presses_seen = 0
        self.safety = SafetyFilter(cfg.practice.safety, vehicle.control_hz)
        # The widening speed box is a practice aid; without learning (evaluation) the policy drives
        # over the whole range it ended with.
        limits = ActionLimits.of(cfg)
        self.limits = limits if learn else ActionLimits(limits.rate_limit, 0, limits.start_lo, limits.start_hi)
        self.supervisor = Supervisor(
            cfg.practice.supervisor, distance_to_path, vehicle.control_hz, on_event=self._mode_event, seed=cfg.seed
        )
        self.frames = FrameStack(encoder.spec)
        self.rest_action = rest_action(cfg.vehicle)
        self.prev_action = self.rest_action.copy()
        self.pending: _Pending | None = None
        self.lap_speeds = LapSpeeds()
        self.last_obs: Observation | None = None
        self.last_command: Command = NEUTRAL
        self._t_start: float | None = None
        self.pace = LearnerPace(vehicle.control_hz, cfg.agent.utd_ratio)
        self._t_last: float | None = None
        self._paused = 0.0  # s of this session spent in the supervisor's PAUSED modes
        self.pose_rejections = PoseRejections()  # external pose datagrams refused, as last reported
        self._count_rejections = vehicle.pose_rejections if isinstance(vehicle, RejectsPoses) else None
        self._rejections_t = -math.inf
        self._practice_offset = self.state.practice_time

    # ------------------------------------------------------------------ events
    def _emit(self, t: float, kind: str, **data) -> None:
        """Events carry practice time (s since practice began, across resumes), whatever the clock."""
        if self.on_event is not None:
            since = 0.0 if self._t_start is None else t - self._t_start - self._paused
            self.on_event(self._practice_offset + since, kind, data)

    def _mode_event(self, ev: Event) -> None:
        self._emit(ev.t, "mode", old=ev.old.value, new=ev.new.value, reason=ev.reason)
        port = self.supervisor.lost_port
        if ev.new == Mode.LINK_LOST:
            self._emit(ev.t, "link", state="lost", port=port, detail=f"serial link lost: {port}")
        elif ev.new == Mode.AWAITING_CONFIRM:
            self._presses_seen = self._presses()
            self._emit(ev.t, "link", state="back", port=port, detail=self.link_message)
        elif ev.old == Mode.AWAITING_CONFIRM:
            self._emit(
                ev.t,
                "confirm",
                port=port,
                source="transmitter" if ev.new == Mode.TELEOP else CONFIRM_KEY,
                detail=ev.reason,
            )

    def _presses(self) -> int:
        return self.continue_presses() if self.continue_presses is not None else 0

    @property
    def link_message(self) -> str:
        """What the operator must know about the serial link now, "" while it is up and confirmed."""
        port = self.supervisor.lost_port
        if self.mode == Mode.LINK_LOST:
            return f"serial link lost: {port}"
        if self.mode == Mode.AWAITING_CONFIRM:
            how = (
                "press c to drive on, or take over with the transmitter"
                if self.continue_presses is not None
                else "take over with the transmitter's mode switch, then release it, to drive on"
            )
            return f"serial link back on {port}: the car waits; {how}"
        return ""

    @property
    def mode(self) -> Mode:
        return self.supervisor.mode

    def _report_rejections(self, t: float) -> None:
        """A "pose_rejected" event with the counts when they grew, at most every REJECTION_EVENT_S."""
        if self._count_rejections is None or t - self._rejections_t < REJECTION_EVENT_S - 1e-6:
            return
        counts = self._count_rejections()
        if counts.total > self.pose_rejections.total:
            self.pose_rejections = counts
            self._rejections_t = t
            self._emit(
                t,
                "pose_rejected",
                unauthenticated=counts.unauthenticated,
                stale=counts.stale,
                replayed=counts.replayed,
                malformed=counts.malformed,
                detail=f"external poses rejected: {counts.describe()}",
            )

    # ------------------------------------------------------------------ one control tick
    def tick(self) -> Mode:
        obs = self.vehicle.observe()
        if self._t_start is None:
            self._t_start = obs.t
            self.course.reset(obs.t, obs.pose, standing_start=True)
            self.frames.reset(obs.frame)
        self.last_obs = obs
        self._report_rejections(obs.t)
        self._read_operator_stop(obs.t)
        before = self.supervisor.mode
        # The time since the last tick was not practice if the car waited then or its link is down
        # now (the supervisor enters a PAUSED mode only from one or the other); counted before the
        # supervisor decides, so the events it logs carry the practice time the car stopped at.
        if self._t_last is not None and (before in PAUSED or obs.link_lost):
            self._paused += obs.t - self._t_last
        self._t_last = obs.t
        confirm = CONFIRM_KEY if before == Mode.AWAITING_CONFIRM and self._presses() > self._presses_seen else ""
        hold = self.operator_hold
        decision = self.supervisor.tick(obs, operator_stop=hold.reason if hold is not None else "", confirm=confirm)
        mode = decision.mode
        step = self.course.update(obs.t, obs.pose, collision=decision.crash_started, recovering=mode == Mode.RECOVERY)
        st = self.state
        st.practice_time = self._practice_offset + (obs.t - self._t_start) - self._paused
        count_incidents(st, decision)
        speed = float(math.hypot(*obs.velocity))
        self.lap_speeds.add(speed)
        if step.lap is not None:
            self._record_lap(step.lap)
        stack = self.frames.push(obs.frame)

        needs_features = mode == Mode.LEARNING or self.pending is not None
        if needs_features:
            emb = self.encoder.embed(stack)
            p = proprio(
                obs.velocity, obs.yaw_rate, obs.imu.accel, step.goal.direction, step.goal.distance, self.prev_action
            )
            lo, hi = self.limits.window(self.prev_action, self.state.transitions)
        if self.pending is not None:
            pen = self.pending
            target = self.course.spec.checkpoints[pen.target]
            r, terminal = transition_outcome(obs, target, decision, self.supervisor, self.cfg.course)
            if self.learn:
                self.learner.insert(
                    Transition(
                        embedding=pen.embedding,
                        proprio=pen.proprio,
                        action=pen.action,
                        action_lo=pen.lo,
                        action_hi=pen.hi,
                        reward=float(r),
                        next_embedding=emb,
                        next_proprio=p,
                        next_action_lo=lo,
                        next_action_hi=hi,
                        done=terminal,
                        mask=0.0 if terminal else 1.0,
                        source="practice",
                    )
                )
                st.transitions += 1
                self.learner.on_transition()
                change = self.pace.check(self.learner.lag)
                if change is not None:
                    self._emit(
                        obs.t,
                        "learner_behind" if change.behind else "learner_caught_up",
                        lag_s=round(change.lag_s, 1),
                        utd_ratio=self.pace.utd_ratio,
                    )
            self.pending = None

        if mode == Mode.LEARNING:
            action = self.learner.act(
                PolicyInput(embedding=emb, proprio=p, action_lo=lo, action_hi=hi), self.deterministic
            )
            if not all_finite(action):
                self.supervisor.error(obs.t, f"non-finite action from the policy: {action.tolist()}")
                self._emit(obs.t, "fault", what="policy", detail="non-finite action; neutral sent")
                command = NEUTRAL
            else:
                # The actor samples inside [lo, hi] already; clipping makes the rate limit (and
                # the speed box) a guarantee of the loop rather than a property of one policy class.
                action = np.clip(np.asarray(action, dtype=np.float32), lo, hi)
                command = self.cfg.vehicle.to_command(action)
                self.pending = _Pending(emb, p, action, lo, hi, step.target)
                self.prev_action = action
        else:
            command = decision.override or NEUTRAL
            self.prev_action = self.rest_action.copy()

        command, fault = self.safety(command)
        if fault:
            self.supervisor.error(obs.t, fault)
            self._emit(obs.t, "fault", what="safety", detail=fault)
        self.vehicle.act(command)
        self.last_command = command
        st.ticks += 1
        return self.supervisor.mode

    @property
    def operator_stopped(self) -> bool:
        """An operator stop (space key, console) holds the car this tick."""
        return self.operator_hold is not None

    def _read_operator_stop(self, t: float) -> None:
        """Read the operator stops; an `estop` event names each source that starts or stops
        holding the car (one source releasing while another still holds is both)."""
        hold = self.operator_stop() if self.operator_stop is not None else None
        was = self.operator_hold
        self.operator_hold = hold
        if (was.source if was is not None else "") == (hold.source if hold is not None else ""):
            return
        if was is not None:
            self._emit(t, "estop", source=was.source, active=False, detail=f"{was.source} e-stop released")
        if hold is not None:
            self._emit(t, "estop", source=hold.source, active=True, detail=hold.line)

    def _record_lap(self, lap: LapRecord) -> None:
        row = record_lap(self.state, lap, self.lap_speeds)
        self.lap_speeds = LapSpeeds()
        if self.on_lap is not None:
            self.on_lap(row)

    # ------------------------------------------------------------------ running
    def run(
        self,
        seconds: float,
        max_ticks: int = 0,
        should_stop: Callable[[], bool] | None = None,
        on_tick: Callable[[PracticeLoop], None] | None = None,
    ) -> LoopState:
        """Tick until `seconds` more of driving time (or `max_ticks` ticks) have passed.

        Always leaves the car commanded to neutral (`finally`), whatever ends the run.
        """
        clock = self.vehicle.clock
        period = 1.0 / self.vehicle.control_hz
        begin = self.state.practice_time
        ticks = 0
        lateness: list[float] = []
        next_t = clock.now()
        try:
            while True:
                if self.state.practice_time - begin >= seconds - 1e-9 and ticks > 0:
                    break
                if max_ticks and ticks >= max_ticks:
                    break
                if should_stop is not None and should_stop():
                    break
                mode = self.tick()
                ticks += 1
                if on_tick is not None:
                    on_tick(self)
                if mode == Mode.ERRORED:
                    break
                if self.operator_stopped and isinstance(clock, SimClock):
                    # The simulator never waits, so a stopped car would burn the practice minutes
                    # in a blink; held at wall speed, the operator has time to look and continue.
                    time.sleep(period)
                next_t += period
                late = clock.wait_until(next_t)
                lateness.append(late)
                if late > period:
                    self._emit(clock.now(), "overrun", late_s=round(late, 4))
                    next_t = clock.now()
                if len(lateness) >= JITTER_WINDOW:
                    if not isinstance(clock, SimClock):  # a real clock: report how well the period was held
                        self._emit(
                            clock.now(),
                            "timing",
                            jitter_mean_ms=round(1e3 * sum(lateness) / len(lateness), 2),
                            jitter_max_ms=round(1e3 * max(lateness), 2),
                            ticks=len(lateness),
                        )
                    lateness.clear()
        finally:
            self.vehicle.stop()
        return self.state
