"""`ScriptedTransmitter`: a scripted human on the RC transmitter (`teleop=rc` on `vehicle=hil`).

It drives the receiver pins, so the firmware really is in RC passthrough and reports TELEOP.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from fastrlap.types import Command, Pose
from fastrlap.vehicle.hil.board import FirmwareBoard
from fastrlap.vehicle.hil.plant import SimulatedCar
from fastrlap.vehicle.protocol import PULSE_NEUTRAL_US, pulse_width

RC_SWITCH_MANUAL_US = 2000  # the transmitter's mode switch on manual (firmware: above 1700 us)
RC_SWITCH_AUTO_US = 1000


class ScriptedTransmitter:
    """A scripted human with the RC transmitter: mode switch on manual, sticks from `driver`.

    `driver(true_pose, wheel_speed) -> Command` (the simulator's demo driver) is turned into the
    receiver pulses the firmware passes through: steering `1500 + 500·steer/steer_full_lock` us,
    throttle `1500 + 500·speed/top_speed` us (the simulated ESC holds a wheel speed proportional to
    its pulse, so a steady stick is a steady speed, as a human's thumb would find it). `release()`
    centres the sticks and puts the switch back on auto, with the transmitter still on.
    """

    def __init__(
        self, board: FirmwareBoard, car: SimulatedCar, driver: Callable[[Pose, float], Command], rate_hz: float = 20.0
    ) -> None:
        self.board, self.car, self.driver = board, car, driver
        self.period = 1.0 / rate_hz
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hil transmitter", daemon=True)

    def pulses(self, cmd: Command) -> tuple[int, int]:
        """(steer_us, throttle_us) for a command in m/s and rad."""
        return pulse_width(cmd.steer / self.car.steer_full_lock), pulse_width(cmd.speed / self.car.top_speed)

    def start(self) -> ScriptedTransmitter:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            steer_us, throttle_us = self.pulses(self.driver(self.car.true_pose(), self.car.wheel_speed))
            try:
                self.board.rc(steer_us, throttle_us, RC_SWITCH_MANUAL_US)
            except (BrokenPipeError, ValueError, OSError):
                return  # the harness is gone
            self._stop.wait(self.period)

    def release(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
        try:
            self.board.rc(PULSE_NEUTRAL_US, PULSE_NEUTRAL_US, RC_SWITCH_AUTO_US)
        except (BrokenPipeError, ValueError, OSError):
            pass
