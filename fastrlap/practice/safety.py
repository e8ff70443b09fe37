"""The last filter before every command reaches the car, whoever produced it.

Whoever produced the command — the policy, recovery, a human — it passes through here: NaN/Inf
becomes neutral (and is reported), speed and steering are capped, and steering slews no faster
than the servo should be asked to. The firmware enforces its own watchdog underneath.
"""

from __future__ import annotations

from fastrlap.actions import clamp, command_fault
from fastrlap.config import SafetyConfig
from fastrlap.types import NEUTRAL, Command


class SafetyFilter:
    def __init__(self, cfg: SafetyConfig, control_hz: float) -> None:
        self.cfg = cfg
        self.max_steer_step = cfg.steer_rate_rad_s / control_hz
        self._last_steer = 0.0

    def __call__(self, cmd: Command) -> tuple[Command, str | None]:
        """The command to send, and a fault description when the input had to be replaced."""
        fault = command_fault(cmd)
        if fault is not None:
            self._last_steer = 0.0
            return NEUTRAL, f"{fault} replaced by neutral"
        c = self.cfg
        speed = clamp(cmd.speed, -c.reverse_cap, c.speed_cap)
        steer = clamp(cmd.steer, -c.steer_cap, c.steer_cap)
        step = self.max_steer_step
        steer = self._last_steer + clamp(steer - self._last_steer, -step, step)
        self._last_steer = steer
        return Command(speed=speed, steer=steer), None
