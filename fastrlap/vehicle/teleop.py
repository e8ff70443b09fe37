"""Human input sources for the demo lap on a car: the RC transmitter and a gamepad.

The demo lap teaches the course, so a human drives it. On the car there are two ways:

- `teleop=rc`, the RC transmitter. The firmware passes the receiver's pulses straight to the ESC
  and the servo (mode TELEOP, docs/protocol.md "Session, safety and timing" 5) and reports them
  in telemetry; `RealVehicle.observe()` turns them into `Observation.teleop`, the human's command
  in the host's units. The host only listens while the human drives (`PacedVehicle(listen_only=
  True)` sends NEUTRAL commands), so a human who lets go of the sticks with the switch on auto
  stops the car instead of handing it to the laptop. `RcDriver` records what the human commands.
- `teleop=gamepad`, a game controller on the laptop, read through the Linux joystick API
  (`/dev/input/js*`: 8-byte `js_event` records, `linux/joystick.h`) with `struct`, so no new
  dependency. The host sends its commands through the speed loop like the policy's; the
  transmitter still overrides the laptop, and then its command is what gets recorded.

Both return the command that actually drove the car, which `course.demo.record_demo` stores as
the demo's command and (through `fastrlap.actions.to_action`) its action.
"""

from __future__ import annotations

import errno
import os
import select
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastrlap.config import GamepadConfig
from fastrlap.errors import FastrlapError
from fastrlap.types import NEUTRAL, Command, Observation

JS_EVENT = struct.Struct("<IhBB")  # u32 time (ms), s16 value, u8 type, u8 number: struct js_event
JS_EVENT_BUTTON = 0x01
JS_EVENT_AXIS = 0x02
JS_EVENT_INIT = 0x80  # or-ed into the type for the synthetic events that report the state at open
JS_AXIS_MAX = 32767
RC_NO_SIGNAL_GRACE = 1.5  # s without a valid RC signal before record-demo gives up (receiver binding)


class TeleopError(FastrlapError):
    """The human input cannot be used: the message names the device and the fix."""


# ---------------------------------------------------------------------------------------------
# RC transmitter


class RcDriver:
    """The demo driver for `teleop=rc`: the human's RC command while the firmware reports TELEOP.

    Outside TELEOP (the human let go, the firmware holds neutral) the car is not driven, and
    neutral is what is recorded."""

    def __call__(self, obs: Observation) -> Command:
        return obs.teleop if obs.teleop is not None else NEUTRAL


def wait_for_rc_override(vehicle, timeout: float, status: Callable[[str], None] = print) -> Observation:
    """Block until the firmware reports TELEOP (the human took the transmitter); returns that observation.

    `vehicle` is a listening car (`PacedVehicle(listen_only=True)` around `RealVehicle`): each
    tick sends neutral and holds the control period. The demo's clock and standing start begin
    when the human takes over, not when the command was typed.
    """
    status(
        "take the transmitter: flip the mode switch (ch3) to manual or move a stick; recording starts "
        "when the car reports TELEOP"
    )
    start = time.monotonic()
    while True:
        obs = vehicle.observe()
        if obs.teleop is not None:
            return obs
        rc = vehicle.rc_input()
        waited = time.monotonic() - start
        if not rc.valid and waited > RC_NO_SIGNAL_GRACE:
            raise TeleopError(
                f"no RC signal at the car (firmware mode {rc.mode}): switch the transmitter on and "
                f"check the receiver wires on D4/D5 (docs/hardware.md), or drive the demo with "
                f"teleop=gamepad"
            )
        if waited > timeout:
            raise TeleopError(
                f"the transmitter did not take over within vehicle.real.rc_wait={timeout:g} s (RC "
                f"switch {rc.switch_us} us, firmware mode {rc.mode}): flip the mode switch to manual "
                f"(above 1700 us) or move a stick"
            )
        vehicle.act(NEUTRAL)


# ---------------------------------------------------------------------------------------------
# Gamepad (Linux joystick API)


@dataclass(frozen=True)
class JsEvent:
    """One `struct js_event` (linux/joystick.h)."""

    time_ms: int  # event timestamp, ms (the kernel's clock, wraps)
    value: int  # axis position -32767..32767, or button 0/1
    type: int  # JS_EVENT_BUTTON | JS_EVENT_AXIS, possibly or-ed with JS_EVENT_INIT
    number: int  # axis or button number

    def encode(self) -> bytes:
        return JS_EVENT.pack(self.time_ms & 0xFFFFFFFF, self.value, self.type, self.number)


def decode_js_events(data: bytes) -> list[JsEvent]:
    """Whole 8-byte records of `data` (a caller keeps any trailing partial record)."""
    n = len(data) // JS_EVENT.size
    return [JsEvent(*JS_EVENT.unpack_from(data, i * JS_EVENT.size)) for i in range(n)]


@dataclass(frozen=True)
class GamepadState:
    axes: dict[int, float]  # axis number -> position in [-1, 1] (Linux: negative = left / up)
    buttons: dict[int, bool]  # button number -> held
    presses: dict[int, int]  # button number -> presses since open (init events do not count)
    events: int  # events read since open


class Gamepad:
    """A joystick device read in a background thread; `state()` is the newest position of everything.

    The kernel sends one synthetic (INIT) event per axis and button at open, so the state is
    complete as soon as those arrived. A device that disappears (unplugged, a wireless pad out of
    range: ENODEV, or end of file on a pipe) is reported by `check()`, so the driver stops the car.
    """

    def __init__(self, device: str) -> None:
        self.device = device
        self._fd: int | None = None
        self._lock = threading.Lock()
        self._axes: dict[int, float] = {}
        self._buttons: dict[int, bool] = {}
        self._presses: dict[int, int] = {}
        self._events = 0
        self._lost: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def open(self, ready_timeout: float = 1.0) -> Gamepad:
        fix = "plug the gamepad in (`ls /dev/input/js*` lists joysticks) or set gamepad.device=/dev/input/jsN"
        try:
            self._fd = os.open(self.device, os.O_RDONLY | os.O_NONBLOCK)
        except FileNotFoundError:
            raise TeleopError(f"no gamepad at {self.device}: {fix}") from None
        except PermissionError:
            raise TeleopError(
                f"cannot read the gamepad {self.device} (permission denied): add yourself to the "
                f"input group (sudo usermod -aG input $USER, then log in again)"
            ) from None
        except OSError as e:
            raise TeleopError(f"cannot open the gamepad {self.device} ({e.strerror}): {fix}") from None
        self._thread = threading.Thread(target=self._run, name="gamepad", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline and not self._events and self._lost is None:
            time.sleep(0.01)
        if not self._events:
            self.close()
            raise TeleopError(
                f"{self.device} sent nothing within {ready_timeout:g} s of opening (a joystick reports "
                f"its axes at once): is it a joystick device? {fix}"
            )
        return self

    def _run(self) -> None:
        assert self._fd is not None
        pending = b""
        while not self._stop.is_set():
            try:
                readable, _, _ = select.select([self._fd], [], [], 0.1)
                if not readable:
                    continue
                chunk = os.read(self._fd, JS_EVENT.size * 64)
            except BlockingIOError:
                continue
            except OSError as e:
                self._lost = (
                    f"the gamepad {self.device} went away ({errno.errorcode.get(e.errno, e.errno)}): plug it in again"
                )
                return
            if not chunk:
                self._lost = f"the gamepad {self.device} went away (end of file): plug it in again"
                return
            pending += chunk
            events = decode_js_events(pending)
            pending = pending[len(events) * JS_EVENT.size :]
            with self._lock:
                for ev in events:
                    kind = ev.type & ~JS_EVENT_INIT
                    if kind == JS_EVENT_AXIS:
                        self._axes[ev.number] = max(-1.0, min(1.0, ev.value / JS_AXIS_MAX))
                    elif kind == JS_EVENT_BUTTON:
                        down = ev.value != 0
                        if down and not self._buttons.get(ev.number, False) and not ev.type & JS_EVENT_INIT:
                            self._presses[ev.number] = self._presses.get(ev.number, 0) + 1
                        self._buttons[ev.number] = down
                    self._events += 1

    def state(self) -> GamepadState:
        with self._lock:
            return GamepadState(
                axes=dict(self._axes), buttons=dict(self._buttons), presses=dict(self._presses), events=self._events
            )

    def check(self) -> None:
        """Raise `TeleopError` when the device went away."""
        if self._lost is not None:
            raise TeleopError(self._lost)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
            self._thread = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Gamepad:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()


def _deadzone(x: float, dz: float) -> float:
    """Zero inside ±dz, then rescaled so the stick still reaches ±1."""
    mag = max(0.0, abs(x) - dz) / max(1e-9, 1.0 - dz)
    return mag if x >= 0 else -mag


def gamepad_command(axes: dict[int, float], cfg: GamepadConfig, max_steer: float) -> Command:
    """Stick positions -> command: forward stick up to `max_speed` m/s, back to `reverse_speed`, steering
    in proportion up to `max_steer` rad. Linux pads read negative for up and for left, so both are
    negated unless flipped in the config."""
    thr = _deadzone(axes.get(cfg.throttle_axis, 0.0), cfg.deadzone)
    steer = _deadzone(axes.get(cfg.steer_axis, 0.0), cfg.deadzone)
    thr = thr if cfg.flip_throttle else -thr
    steer = steer if cfg.flip_steer else -steer
    speed = thr * (cfg.max_speed if thr >= 0 else cfg.reverse_speed)
    return Command(speed=speed, steer=steer * max_steer)


class GamepadDriver:
    """The demo driver for `teleop=gamepad` (Observation -> Command).

    `stop_button` ends the recording like Ctrl-C (the partial demo is kept). `pace_hz`: wait for
    the next control tick on the wall clock (the simulator runs faster than real time, and a
    human needs the car to move at the speed it shows); on the car the vehicle paces itself.
    When the RC transmitter overrides the laptop, its command is what drove the car and is returned.
    """

    def __init__(self, gamepad: Gamepad, cfg: GamepadConfig, max_steer: float, pace_hz: float | None = None) -> None:
        self.gamepad = gamepad
        self.cfg = cfg
        self.max_steer = max_steer
        self.period = None if pace_hz is None else 1.0 / pace_hz
        self._next: float | None = None
        state = gamepad.state()
        missing = [
            f"gamepad.{name}={axis}"
            for name, axis in (("throttle_axis", cfg.throttle_axis), ("steer_axis", cfg.steer_axis))
            if axis not in state.axes
        ]
        if missing:
            raise TeleopError(
                f"the gamepad {gamepad.device} has axes {sorted(state.axes)}, not {', '.join(missing)}: "
                f"pick axes it has (move the sticks and watch `jstest {gamepad.device}`)"
            )
        self._stop_presses = state.presses.get(cfg.stop_button, 0)

    def __call__(self, obs: Observation) -> Command:
        self.gamepad.check()
        if self.period is not None:
            now = time.monotonic()
            self._next = now + self.period if self._next is None else max(self._next + self.period, now)
            time.sleep(max(0.0, self._next - time.monotonic()))
        state = self.gamepad.state()
        if state.presses.get(self.cfg.stop_button, 0) > self._stop_presses:
            raise KeyboardInterrupt  # the stop button: the same path as Ctrl-C
        if obs.teleop is not None:
            return obs.teleop
        return gamepad_command(state.axes, self.cfg, self.max_steer)

    def close(self) -> None:
        self.gamepad.close()
