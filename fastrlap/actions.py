"""The action/units contract: how the policy's action becomes a command in physical units, and back.

The actor outputs a ∈ [-1, 1]² and the vehicle configuration gives it units:

    speed = speed_bias + speed_scale·a0   (m/s, negative reverses)
    steer = max_steer·a1                  (rad, positive turns left)

Everything that turns an action into a command (the practice loop, the gym environment) or a
command back into an action (the demo recorder, the pretraining data) goes through this module,
so the two directions cannot drift apart. The finiteness check lives here too: the practice loop
checks the policy's action with it before the action becomes learning data, and the safety filter
and the serial layer check each command with it before it reaches the car, since a caller may
bypass the policy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Protocol

import numpy as np

from fastrlap.types import Command

ACTION_LOW, ACTION_HIGH = -1.0, 1.0  # the box every action component lies in


class ActionUnits(Protocol):
    """What gives an action its units (`VehicleConfig` has these fields)."""

    speed_bias: float  # m/s at a0 = 0
    speed_scale: float  # m/s per unit of a0
    max_steer: float  # rad at a1 = ±1


def clamp(x: float, low: float, high: float) -> float:
    """`x` limited to [low, high]; NaN stays NaN, so a clamp never hides a broken value."""
    return x if math.isnan(x) else min(high, max(low, x))


def all_finite(values: Iterable[float]) -> bool:
    """No NaN or infinity among `values` (an action's components, a command's fields)."""
    return all(math.isfinite(float(v)) for v in values)


def command_fault(cmd: Command) -> str | None:
    """Why `cmd` must not reach the car (it is not finite), or None when it may."""
    if all_finite((cmd.speed, cmd.steer)):
        return None
    return f"non-finite command (speed={cmd.speed}, steer={cmd.steer})"


def to_command(action, units: ActionUnits) -> Command:
    """Policy action (two numbers, each clamped to [-1, 1]) -> command in m/s and rad."""
    a0 = clamp(float(action[0]), ACTION_LOW, ACTION_HIGH)
    a1 = clamp(float(action[1]), ACTION_LOW, ACTION_HIGH)
    return Command(speed=units.speed_bias + units.speed_scale * a0, steer=a1 * units.max_steer)


def to_action(speed: np.ndarray | float, steer: np.ndarray | float, units: ActionUnits) -> np.ndarray:
    """(…, 2) float64 actions for commands (m/s, rad): the inverse of `to_command`, clamped to [-1, 1].

    A command outside what the policy can ask for (reversing, a lock beyond `max_steer`) maps to the
    nearest action. A zero scale (the speed or steering fixed whatever the action) maps to 0.
    """
    a0 = (
        (np.asarray(speed, np.float64) - units.speed_bias) / units.speed_scale
        if units.speed_scale
        else np.zeros_like(np.asarray(speed, np.float64))
    )
    a1 = (
        np.asarray(steer, np.float64) / units.max_steer
        if units.max_steer
        else np.zeros_like(np.asarray(steer, np.float64))
    )
    return np.clip(np.stack([a0, a1], axis=-1), ACTION_LOW, ACTION_HIGH)


def rest_action(units: ActionUnits) -> np.ndarray:
    """The (2,) float32 action of a car standing still and straight: the policy's previous action
    whenever it did not drive (start, recovery, a human), so its rate limit starts from rest."""
    return to_action(0.0, 0.0, units).astype(np.float32)
