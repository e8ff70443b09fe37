"""The practice state machine: who drives the car right now, and why (states in docs/design.md).

An `Enum` of modes, an explicit transition table, and an error on an illegal transition. Every
transition is reported to a callback (the loop writes it to events.jsonl). The supervisor only
decides; it never touches the car.

- LEARNING: the policy drives.
- RECOVERY: the paper's pseudo-reset. A crash (IMU acceleration spike) or being stuck (moved less
  than `stuck_distance` over `stuck_seconds`) starts it: reverse at a set speed with random
  steering for `recovery_seconds`, then LEARNING again. No human resets the car.
- TELEOP: a human input is active (RC transmitter, keyboard, gamepad); back to LEARNING after
  `teleop_release` seconds without input.
- STOPPED: e-stop, geofence (too far from the demo path) or stale sensors; neutral, and wait.
  Only a human (TELEOP) or fresh sensors (STARTING) get the car out of it. An e-stop (the
  firmware's, or the operator's space key or field console) holds against human input too: whoever pressed it
  wants the car still until it is released (the firmware's RC override works underneath).
- LINK_LOST: the serial link to the car is down (cable out, board reset): neutral, and practice
  time stands still. Nothing else matters while it lasts; no command could reach the car anyway.
- AWAITING_CONFIRM: the link is back, but the car may have been picked up, moved or switched off
  meanwhile, so it stays at neutral until a human confirms: the operator's continue key, or taking
  over with the transmitter (which is TELEOP, and LEARNING after release as always). A car that
  drove off by itself the moment a cable was plugged back in is what this state prevents.
- ERRORED: something broke (e.g. a non-finite action); neutral, terminal.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import numpy as np

from fastrlap.config import SupervisorConfig
from fastrlap.errors import FastrlapError
from fastrlap.types import NEUTRAL, Command, Observation


class Mode(Enum):
    STARTING = "STARTING"
    LEARNING = "LEARNING"
    RECOVERY = "RECOVERY"
    TELEOP = "TELEOP"
    STOPPED = "STOPPED"
    ERRORED = "ERRORED"
    LINK_LOST = "LINK_LOST"
    AWAITING_CONFIRM = "AWAITING_CONFIRM"


TRANSITIONS: dict[Mode, frozenset[Mode]] = {
    Mode.STARTING: frozenset({Mode.LEARNING, Mode.TELEOP, Mode.STOPPED, Mode.ERRORED, Mode.LINK_LOST}),
    Mode.LEARNING: frozenset({Mode.RECOVERY, Mode.TELEOP, Mode.STOPPED, Mode.ERRORED, Mode.LINK_LOST}),
    Mode.RECOVERY: frozenset({Mode.LEARNING, Mode.TELEOP, Mode.STOPPED, Mode.ERRORED, Mode.LINK_LOST}),
    Mode.TELEOP: frozenset({Mode.LEARNING, Mode.STOPPED, Mode.ERRORED, Mode.LINK_LOST}),
    Mode.STOPPED: frozenset({Mode.STARTING, Mode.TELEOP, Mode.ERRORED, Mode.LINK_LOST}),
    Mode.ERRORED: frozenset(),
    Mode.LINK_LOST: frozenset({Mode.AWAITING_CONFIRM, Mode.ERRORED}),
    Mode.AWAITING_CONFIRM: frozenset({Mode.STARTING, Mode.TELEOP, Mode.LINK_LOST, Mode.ERRORED}),
}

# Modes in which the car waits for its link or for a human: not practice (the loop's clock stands still).
PAUSED: frozenset[Mode] = frozenset({Mode.LINK_LOST, Mode.AWAITING_CONFIRM})


class StopReason(Enum):
    """Why the supervisor stopped the car. Code compares these, never the words; the value starts
    the reason's text in events.jsonl ("geofence (4.1 m from the demo path)"), written exactly as
    before the enum existed, so logs of old and new runs read alike."""

    ESTOP = "e-stop"  # the car's (firmware, RC failsafe) or an operator's (space key, console)
    STALE_CAMERA = "stale camera"
    GEOFENCE = "geofence"

    def text(self, detail: str = "") -> str:
        """The reason as events.jsonl and the operator see it: "geofence (4.1 m from the demo path)"."""
        return f"{self.value} ({detail})" if detail else self.value


class IllegalTransition(FastrlapError, RuntimeError):
    """A transition the table does not allow: a bug in the caller, never a runtime condition.

    Still a `FastrlapError`, so a practice that hits one ends with one line (and the car at
    neutral, which the loop's `finally` sees to) rather than a traceback over the dashboard."""


@dataclass(frozen=True)
class Event:
    """A mode change, with the time and reason (one line of events.jsonl)."""

    t: float
    old: Mode
    new: Mode
    reason: str


@dataclass(frozen=True)
class Tick:
    """The supervisor's decision for one control tick."""

    mode: Mode
    override: Command | None = None  # the command to send instead of the policy's (recovery, teleop, neutral)
    crash_started: bool = False  # a crash began this tick (the collision penalty lands here)
    stuck_started: bool = False  # being stuck was detected this tick
    impact: float = 0.0  # m/s, velocity change of a crash (tick-average acceleration × tick), 0 otherwise


class Supervisor:
    def __init__(
        self,
        cfg: SupervisorConfig,
        distance_to_path: Callable[[float, float], float],
        control_hz: float,
        on_event: Callable[[Event], None] | None = None,
        seed: int = 0,
    ) -> None:
        self.cfg = cfg
        self.distance_to_path = distance_to_path
        self.control_hz = control_hz
        self.on_event = on_event
        self.rng = np.random.default_rng(seed)
        self.mode = Mode.STARTING
        self._mode_since = -math.inf
        self._positions: deque[tuple[float, float, float]] = deque()
        self._recovery_steer = 0.0
        self._last_human = -math.inf
        self._stop_reason = ""
        self._stopped_for: StopReason | None = None
        self._lost_port = ""

    @property
    def stop_reason(self) -> str:
        """Why the car was last stopped, in words ("" if it never was)."""
        return self._stop_reason

    @property
    def stopped_for(self) -> StopReason | None:
        """Why the car was last stopped (None if it never was)."""
        return self._stopped_for

    @property
    def lost_port(self) -> str:
        """The serial port of the last lost link ("" if none was lost)."""
        return self._lost_port

    def transition(self, t: float, new: Mode, reason: str) -> None:
        if new == self.mode:
            return
        if new not in TRANSITIONS[self.mode]:
            raise IllegalTransition(
                f"{self.mode.value} -> {new.value} is not in the transition table ({reason}); "
                f"a bug in fastrlap: the run directory is intact, resume it with "
                f"`fastrlap practice resume=<run>`"
            )
        event = Event(t=t, old=self.mode, new=new, reason=reason)
        self.mode = new
        self._mode_since = t
        if new == Mode.LEARNING:
            self._positions.clear()  # the stuck window starts afresh
        if self.on_event:
            self.on_event(event)

    def error(self, t: float, reason: str) -> None:
        """Any mode -> ERRORED (e.g. NaN in the policy); the loop then sends neutral and stops."""
        if self.mode != Mode.ERRORED:
            self.transition(t, Mode.ERRORED, reason)

    def tick(self, obs: Observation, operator_stop: str = "", confirm: str = "") -> Tick:
        """Decide this tick's mode from the newest observation.

        `operator_stop`: why an operator e-stop outside the vehicle is held (e.g. "e-stop (space
        key)"), "" when none is; it counts exactly like `obs.estop`. `confirm`: how a human
        confirmed since the last tick that the car may drive again after its link came back
        (e.g. "c key"), "" when nobody did.
        """
        cfg, t = self.cfg, obs.t
        accel = float(math.hypot(obs.imu.accel[0], obs.imu.accel[1]))
        crash = accel > cfg.crash_accel
        if self.mode == Mode.ERRORED:
            return Tick(Mode.ERRORED, override=NEUTRAL)

        estop = obs.estop or bool(operator_stop)
        held = self._link_hold(obs, estop, confirm)
        if held is not None:
            return held

        # Safety stops come first, from every mode.
        stop = (StopReason.ESTOP, operator_stop) if operator_stop else self._stop_condition(obs)
        if stop is not None:
            if self.mode == Mode.TELEOP and obs.teleop is not None and not estop:
                pass  # a human driving back inside the geofence / past stale data is allowed
            elif self.mode != Mode.STOPPED:
                self._stopped_for, self._stop_reason = stop
                self.transition(t, Mode.STOPPED, self._stop_reason)
                return Tick(Mode.STOPPED, override=NEUTRAL)
            elif estop:
                # who holds the car now (one stop released, another still holding)
                self._stopped_for, self._stop_reason = stop
                return Tick(Mode.STOPPED, override=NEUTRAL)

        if obs.teleop is not None:
            self._last_human = t
            if self.mode != Mode.TELEOP:
                self.transition(t, Mode.TELEOP, "human input")
            return Tick(Mode.TELEOP, override=obs.teleop)

        if self.mode == Mode.STOPPED:
            if stop is not None:
                return Tick(Mode.STOPPED, override=NEUTRAL)
            self.transition(t, Mode.STARTING, f"cleared: {self._stop_reason}")

        if self.mode == Mode.TELEOP:
            if t - self._last_human < cfg.teleop_release:
                return Tick(Mode.TELEOP, override=NEUTRAL)
            self.transition(t, Mode.LEARNING, "human input released")
        if self.mode == Mode.STARTING:
            self.transition(t, Mode.LEARNING, "sensors fresh, inside the geofence")

        if self.mode == Mode.RECOVERY:
            if t - self._mode_since < cfg.recovery_seconds - 1e-9:
                return Tick(Mode.RECOVERY, override=Command(-cfg.recovery_speed, self._recovery_steer))
            self.transition(t, Mode.LEARNING, "recovery done")

        # LEARNING: watch for crashes and for being stuck.
        pose = obs.pose
        self._positions.append((t, pose.x, pose.y))
        while self._positions and t - self._positions[0][0] > cfg.stuck_seconds + 1e-9:
            self._positions.popleft()
        stuck = False
        if t - self._mode_since >= cfg.stuck_seconds - 1e-9 and self._positions:
            t0, x0, y0 = self._positions[0]
            if t - t0 >= cfg.stuck_seconds - 0.5 / self.control_hz:
                stuck = max(math.hypot(x - x0, y - y0) for _, x, y in self._positions) < cfg.stuck_distance
        if crash or stuck:
            self._recovery_steer = float(self.rng.uniform(-cfg.recovery_steer, cfg.recovery_steer))
            self.transition(
                t,
                Mode.RECOVERY,
                f"crash ({accel:.1f} m/s²)"
                if crash
                else f"stuck (< {cfg.stuck_distance} m in {cfg.stuck_seconds:.0f} s)",
            )
            return Tick(
                Mode.RECOVERY,
                override=Command(-cfg.recovery_speed, self._recovery_steer),
                crash_started=crash,
                stuck_started=stuck and not crash,
                impact=accel / self.control_hz if crash else 0.0,
            )
        return Tick(Mode.LEARNING)

    def _link_hold(self, obs: Observation, estop: bool, confirm: str) -> Tick | None:
        """LINK_LOST and AWAITING_CONFIRM: the tick to return, or None to decide as usual.

        A lost link wins over everything else. When it comes back the car waits for a human; the
        tick on which the link returns never confirms (a key pressed while the link was down was
        not an answer to "the link is back"). A held e-stop keeps the car waiting whatever else.
        """
        t = obs.t
        if obs.link_lost:
            self._lost_port = obs.link_lost
            self.transition(t, Mode.LINK_LOST, f"serial link lost: {obs.link_lost}")
            return Tick(Mode.LINK_LOST, override=NEUTRAL)
        if self.mode == Mode.LINK_LOST:
            self.transition(
                t, Mode.AWAITING_CONFIRM, f"serial link back: {self._lost_port}; waiting for a human to confirm"
            )
            return Tick(Mode.AWAITING_CONFIRM, override=NEUTRAL)
        if self.mode != Mode.AWAITING_CONFIRM:
            return None
        if not estop and obs.teleop is not None:
            self._last_human = t
            self.transition(t, Mode.TELEOP, "confirmed by the transmitter (human input)")
            return Tick(Mode.TELEOP, override=obs.teleop)
        if estop or not confirm:
            return Tick(Mode.AWAITING_CONFIRM, override=NEUTRAL)
        self.transition(t, Mode.STARTING, f"confirmed by the operator ({confirm})")
        return None

    def _stop_condition(self, obs: Observation) -> tuple[StopReason, str] | None:
        """Why the car must stop now and the reason's text, or None when it may drive."""
        cfg = self.cfg
        if obs.estop:
            return StopReason.ESTOP, StopReason.ESTOP.text()
        frame_t = obs.frame_t if obs.frame_t is not None else obs.t
        if obs.t - frame_t > cfg.stale_after:
            return StopReason.STALE_CAMERA, StopReason.STALE_CAMERA.text(f"{obs.t - frame_t:.2f} s old")
        d = self.distance_to_path(obs.pose.x, obs.pose.y)
        if d > cfg.geofence:
            return StopReason.GEOFENCE, StopReason.GEOFENCE.text(f"{d:.1f} m from the demo path")
        return None
