"""The car as the control loop sees it, and the clock the loop runs on.

The same loop drives the simulator and the real car, so it is tested once; only the `Vehicle` differs.
The simulator advances its world when a command arrives, so its `Clock` never sleeps and practice
runs faster than real time; the real car uses wall time and the loop holds its period.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

from fastrlap.types import Command, Observation
from fastrlap.vehicle.pose_auth import PoseRejections


@runtime_checkable
class Clock(Protocol):
    def now(self) -> float:
        """Seconds since an arbitrary origin (float64)."""

    def wait_until(self, t: float) -> float:
        """Block until time `t`; return how late we are (s, >= 0) — the loop logs overruns."""


class WallClock:
    """Monotonic wall time for the real car."""

    def now(self) -> float:
        return time.monotonic()

    def wait_until(self, t: float) -> float:
        delay = t - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        return max(0.0, time.monotonic() - t)  # oversleep or overrun: the loop's jitter


class SimClock:
    """Simulated time: advanced by the simulator, waiting is free (faster than real time)."""

    def __init__(self, t0: float = 0.0) -> None:
        self._t = float(t0)

    def now(self) -> float:
        return self._t

    def advance(self, dt: float) -> None:
        if dt < 0:
            raise ValueError(f"SimClock cannot go backwards (dt={dt})")
        self._t += dt

    def wait_until(self, t: float) -> float:
        return max(0.0, self._t - t)


@runtime_checkable
class Vehicle(Protocol):
    """observe -> decide -> act, once per control tick.

    `act` is non-blocking on the car; in the simulator it advances the world by one control
    period. `stop` commands neutral (it is what every `finally` calls); `close` releases devices.
    """

    clock: Clock
    control_hz: float

    def observe(self) -> Observation: ...

    def act(self, command: Command) -> None: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class RejectsPoses(Protocol):
    """A vehicle that takes pose from the network and refuses what it cannot authenticate.

    The practice loop logs and shows the refusals: a stream of forged or replayed poses is an
    attack or a misconfigured tracker, and either way the operator must know."""

    def pose_rejections(self) -> PoseRejections: ...
