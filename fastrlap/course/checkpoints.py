"""Gates and lap timing shared by the demo, practice, evaluation and the simulator's oracle.

A lap time is the interval between two interpolated crossings of the start/finish gate, so it is
accurate to well below one control tick (at 10 Hz a car at 5 m/s moves 0.5 m per tick; rounding
to ticks would blur lap times by up to 0.1 s).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field


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
