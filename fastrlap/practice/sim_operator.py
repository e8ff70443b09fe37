"""The simulator's stand-in for the person at the track who carries a lost car back.

On the car, leaving the geofence stops it (neutral, STOPPED) until a human drives it back with
the transmitter (TELEOP) or walks over and moves it: practice must never drive itself back from
somewhere it was not shown. The simulator has no human, so on a course without walls (`sweeper`)
one early excursion onto the grass would hold the car for the rest of the run, and the practice
minutes would pass with nothing learned. `SimOperator` plays that person: when the car has been
stopped by the geofence for `wait_s` of simulated time, it sets the car down at rest on the track
beside the nearest point of the demo path, and the supervisor's own rule (inside the geofence
again -> STARTING -> LEARNING) takes it from there. The excursion stays in the record: the
transition that left the geofence is terminal, the wait counts as practice time and lap time,
and each carry is an `operator` event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np

from fastrlap.practice.loop import LoopState
from fastrlap.practice.supervisor import Mode, StopReason, Supervisor
from fastrlap.types import Observation, Pose


@runtime_checkable
class Carriable(Protocol):
    """A vehicle that can be picked up and set down on the track: the simulator's (`SimVehicle`).

    The real car has no such method; there a person does it.
    """

    def place(self, x: float, y: float) -> Pose: ...


class Attended(Protocol):
    """What the operator watches: the practice loop (`PracticeLoop`), or the gym environment that
    runs practice's task (practice/gym_env.py)."""

    supervisor: Supervisor
    last_obs: Observation | None
    state: LoopState


class SimOperator:
    """Call once per control tick (the loop's `on_tick`); moves the car only after a geofence stop."""

    def __init__(
        self,
        vehicle: Carriable,
        demo_path: np.ndarray,
        wait_s: float,
        on_event: Callable[[float, str, dict], None] | None = None,
    ) -> None:
        if wait_s <= 0:
            raise ValueError(f"practice.sim_carry_back_s must be > 0 to carry the car back, got {wait_s}")
        self.vehicle = vehicle
        self.path = np.asarray(demo_path, dtype=np.float64)
        self.wait_s = wait_s
        self.on_event = on_event
        self.carries = 0
        self._stopped_since: float | None = None

    def __call__(self, loop: Attended) -> None:
        sup, obs = loop.supervisor, loop.last_obs
        if obs is None or sup.mode != Mode.STOPPED or sup.stopped_for is not StopReason.GEOFENCE:
            self._stopped_since = None
            return
        if self._stopped_since is None:
            self._stopped_since = obs.t
        if obs.t - self._stopped_since < self.wait_s - 1e-9:
            return
        here = np.array([obs.pose.x, obs.pose.y])
        nearest = self.path[int(np.argmin(np.sum((self.path - here) ** 2, axis=1)))]
        pose = self.vehicle.place(float(nearest[0]), float(nearest[1]))
        self.carries += 1
        self._stopped_since = None
        if self.on_event is not None:
            self.on_event(
                loop.state.practice_time,
                "operator",
                {
                    "action": "carried back to the demo path",
                    "reason": sup.stop_reason,
                    "from": [round(obs.pose.x, 2), round(obs.pose.y, 2)],
                    "to": [round(pose.x, 2), round(pose.y, 2)],
                },
            )
