"""The host's speed loop: the firmware takes throttle, not speed (docs/protocol.md, COMMAND), so a
target wheel speed becomes throttle here, once per `RealVehicle.act`, next to the estimator that
measures the speed it closes on.
"""

from __future__ import annotations

import math

from fastrlap.actions import clamp
from fastrlap.vehicle.protocol import PERMILLE_FULL


class SpeedController:
    """Target wheel speed (m/s) -> throttle permille: feed-forward plus PI on the speed error.

    `ff = sign(v)·(offset + gain·|v|)` is the open-loop throttle that holds speed `v` on flat
    ground; the PI removes what it gets wrong (battery sag, slope, grass). The integral is bounded
    (`i_limit`) and cleared when the target is zero or changes direction, so a stop is a stop.
    """

    def __init__(self, ff_gain: float, ff_offset: float, kp: float, ki: float, i_limit: float) -> None:
        self.ff_gain, self.ff_offset, self.kp, self.ki, self.i_limit = ff_gain, ff_offset, kp, ki, i_limit
        self.reset()

    def reset(self) -> None:
        self._integral = 0.0  # permille
        self._last_sign = 0.0

    def __call__(self, target: float, measured: float, dt: float) -> int:
        if abs(target) < 0.05:
            self.reset()
            return 0
        sign = math.copysign(1.0, target)
        if sign != self._last_sign:
            self._integral = 0.0
            self._last_sign = sign
        error = target - measured
        self._integral = clamp(self._integral + self.ki * error * max(dt, 0.0), -self.i_limit, self.i_limit)
        out = sign * (self.ff_offset + self.ff_gain * abs(target)) + self.kp * error + self._integral
        return int(round(clamp(out, -PERMILLE_FULL, PERMILLE_FULL)))
