"""The actor's output range each control tick: the rate limit, inside a speed box that widens.

FastRLAP limits how far each action component may move per tick ([a_prev - r, a_prev + r]).
Optionally (`agent.action_limit_schedule` > 0, after RACER) the speed component is also held
inside a box that starts around the demo's pace and widens linearly to the whole range over the
first N practice transitions. Early on the critic has not yet learned that speed pays, and an
untrained actor may command a crawl (the stuck detector fires and the car is reset) or full throttle
into the first corner; a floor keeps the car rolling and a ceiling keeps early impacts gentle, and
both are gone once the learner has seen enough of the track.

The box only pulls the rate-limit window inward; it never moves it away from the previous action.
After a pseudo-reset the previous action is the rest action (standing still), below the box's
floor: the car then accelerates toward the floor at the rate limit instead of being asked for an
impossible jump, and the window never becomes empty (its width is at least min(r, box width)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fastrlap.actions import to_action
from fastrlap.agent.sac import action_range
from fastrlap.config import Config, VehicleConfig
from fastrlap.errors import ConfigError

SPEED = 0  # index of the speed component in an action (steering is 1)


@dataclass(frozen=True)
class ActionLimits:
    """Per-tick output range of the actor, a function of the previous action and the number of
    practice transitions so far (which survives a resume, so the box does not narrow again)."""

    rate_limit: float  # max change of each component per tick (action units)
    schedule: int  # practice transitions until the speed box is the full range; 0 = no box
    start_lo: float  # speed component's box at transition 0 (action units)
    start_hi: float

    @staticmethod
    def of(cfg: Config) -> ActionLimits:
        """The limits a configuration asks for; the start box is given in m/s and converted with
        the vehicle's speed mapping (speed = speed_bias + speed_scale · a[0])."""
        agent, vehicle = cfg.agent, cfg.vehicle
        low, high = agent.action_limit_start_min_speed, agent.action_limit_start_max_speed
        if agent.action_limit_schedule and not low < high:
            raise ConfigError(
                f"agent.action_limit_start_min_speed={low:g} is not below "
                f"agent.action_limit_start_max_speed={high:g}; give the starting speed box a width"
            )
        return ActionLimits(
            agent.action_rate_per_tick,
            agent.action_limit_schedule,
            _speed_action(low, vehicle),
            _speed_action(high, vehicle),
        )

    def box(self, transitions: int) -> tuple[np.ndarray, np.ndarray]:
        """The whole range allowed after `transitions` practice transitions, (A,) each."""
        lo = np.array([-1.0, -1.0], dtype=np.float32)
        hi = np.array([1.0, 1.0], dtype=np.float32)
        if self.schedule and transitions < self.schedule:
            frac = transitions / self.schedule
            lo[SPEED] = self.start_lo + frac * (-1.0 - self.start_lo)
            hi[SPEED] = self.start_hi + frac * (1.0 - self.start_hi)
        return lo, hi

    def window(self, prev_action: np.ndarray, transitions: int) -> tuple[np.ndarray, np.ndarray]:
        """This tick's [lo, hi] (A,) each: the rate-limit window pulled inside the box."""
        lo, hi = action_range(prev_action, self.rate_limit)
        if not self.schedule or transitions >= self.schedule:
            return lo, hi
        box_lo, box_hi = self.box(transitions)
        prev = np.asarray(prev_action, dtype=np.float32)
        return (
            np.maximum(lo, np.minimum(box_lo, prev)).astype(np.float32),
            np.minimum(hi, np.maximum(box_hi, prev)).astype(np.float32),
        )


def _speed_action(speed: float, vehicle: VehicleConfig) -> float:
    """The speed component of the action that commands `speed` m/s, clamped to [-1, 1]."""
    return float(to_action(speed, 0.0, vehicle)[SPEED])
