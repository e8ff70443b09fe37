"""Keyboard demo driving in the simulator (`record-demo teleop=keyboard`).

A Tk window shows the car's camera; the arrow keys drive: Up holds the demo speed, Down
reverses slowly, Left/Right steer (the steering eases in and out like a thumb on a stick),
Escape or closing the window stops the recording like Ctrl-C (the partial demo is kept). The
simulator runs faster than real time, so the driver paces each tick to the wall clock: a human
needs the car to move at the speed it shows.
"""

from __future__ import annotations

import time

import numpy as np

from fastrlap.config import VehicleConfig
from fastrlap.errors import FastrlapError
from fastrlap.types import Command, Observation

STEER_RATE = 0.25  # fraction of full lock added (or released) per control tick while a key is held
REVERSE_SPEED = -0.8  # m/s with Down held


def keys_to_command(keys: set[str], steer_state: float, speed: float, max_steer: float) -> tuple[Command, float]:
    """The command for the arrow keys held now, and the new steering state in [-1, 1].

    keys: Tk key names ("Up", "Down", "Left", "Right"). speed: m/s with Up held.
    """
    target = ("Left" in keys) - ("Right" in keys)  # +1 steers left (positive angle)
    if target == 0:
        steer_state = float(np.sign(steer_state)) * max(0.0, abs(steer_state) - 2 * STEER_RATE)
    else:
        steer_state = float(np.clip(steer_state + STEER_RATE * target, -1.0, 1.0))
    forward = ("Up" in keys) - ("Down" in keys)
    v = speed if forward > 0 else REVERSE_SPEED if forward < 0 else 0.0
    return Command(speed=v, steer=steer_state * max_steer), steer_state


def _ppm(frame: np.ndarray, scale: int) -> bytes:
    big = np.repeat(np.repeat(frame, scale, axis=0), scale, axis=1)
    return f"P6 {big.shape[1]} {big.shape[0]} 255\n".encode() + np.ascontiguousarray(big, np.uint8).tobytes()


class KeyboardDriver:
    """A demo driver (Observation -> Command) reading the arrow keys of its own Tk window."""

    def __init__(self, vehicle_cfg: VehicleConfig, speed: float, scale: int = 4) -> None:
        import tkinter as tk

        try:
            self.root = tk.Tk()
        except tk.TclError as e:
            raise FastrlapError(
                f"teleop=keyboard cannot open a window ({e}); check DISPLAY or use teleop=script"
            ) from None
        self._tk = tk
        self.root.title("fastrlap demo: arrow keys drive, Esc stops")
        self.label = tk.Label(self.root)
        self.label.pack()
        self.keys: set[str] = set()
        self.quit = False
        self.root.bind("<KeyPress>", lambda e: self.keys.add(e.keysym))
        self.root.bind("<KeyRelease>", lambda e: self.keys.discard(e.keysym))
        self.root.bind("<Escape>", lambda e: self._stop())
        self.root.protocol("WM_DELETE_WINDOW", self._stop)
        self.speed, self.max_steer, self.scale = speed, vehicle_cfg.max_steer, scale
        self.period = 1.0 / vehicle_cfg.control_hz
        self.steer_state = 0.0
        self._next: float | None = None
        self._image = None

    def _stop(self) -> None:
        self.quit = True

    def __call__(self, obs: Observation) -> Command:
        self._image = self._tk.PhotoImage(data=_ppm(obs.frame, self.scale), format="PPM")
        self.label.configure(image=self._image)
        now = time.monotonic()
        self._next = now + self.period if self._next is None else max(self._next + self.period, now)
        while True:  # keep the window responsive until this tick is due
            self.root.update()
            if self.quit:
                raise KeyboardInterrupt
            if time.monotonic() >= self._next:
                break
            time.sleep(0.005)
        cmd, self.steer_state = keys_to_command(self.keys, self.steer_state, self.speed, self.max_steer)
        return cmd

    def close(self) -> None:
        try:
            self.root.destroy()
        except self._tk.TclError:
            pass
