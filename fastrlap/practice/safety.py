"""The last filter before every command reaches the car, whoever produced it.

Whoever produced the command — the policy, recovery, a human — it passes through here: NaN/Inf
becomes neutral (and is reported), speed and steering are capped, and steering slews no faster
than the servo should be asked to. The firmware enforces its own watchdog underneath.
"""
from __future__ import annotations

import math

from fastrlap.config import SafetyConfig
from fastrlap.types import NEUTRAL, Command


class SafetyFilter:
    def __init__(self, cfg: SafetyConfig, control_hz: float) -> None:
        self.cfg = cfg
        self.max_steer_step = cfg.steer_rate / control_hz
        self._last_steer = 0.0

    def __call__(self, cmd: Command) -> tuple[Command, str | None]:
        """The command to send, and a fault description when the input had to be replaced."""
        if not (math.isfinite(cmd.speed) and math.isfinite(cmd.steer)):
            self._last_steer = 0.0
            return NEUTRAL, f"non-finite command (speed={cmd.speed}, steer={cmd.steer}) replaced by neutral"
        c = self.cfg
        speed = min(c.speed_cap, max(-c.reverse_cap, cmd.speed))
        steer = min(c.steer_cap, max(-c.steer_cap, cmd.steer))
        step = self.max_steer_step
        steer = self._last_steer + min(step, max(-step, steer - self._last_steer))
        self._last_steer = steer
        return Command(speed=speed, steer=steer), None
