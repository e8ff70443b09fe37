"""`SimulatedCar`: the simulator's car as the plant behind the board's ESC and servo pins.

The simulated ESC tracks a wheel speed proportional to its pulse (`top_speed` at full throttle),
so the host's speed loop has a plant with lag, limits and tyre slip to control.
"""

from __future__ import annotations

import math
import socket
import threading
import time

import numpy as np

from fastrlap.config import VehicleConfig
from fastrlap.sim.dynamics import car_params
from fastrlap.sim.render import Renderer
from fastrlap.sim.track import Track
from fastrlap.sim.world import World
from fastrlap.types import Command, Pose
from fastrlap.vehicle.hil.board import FirmwareBoard
from fastrlap.vehicle.pose_auth import sign_pose
from fastrlap.vehicle.protocol import pulse_fraction
from fastrlap.vehicle.real import ACCEL_COUNTS_PER_G, GYRO_COUNTS_PER_DPS, G


class SimulatedCar:
    """The simulator's car wired to a `FirmwareBoard`, stepped in real time in a thread.

    Each step reads the newest measured ESC and servo pulses, turns them into the simulated
    car's command (pulse offset from neutral as a fraction of the range: ESC -> `top_speed`·p,
    servo -> `steer_full_lock`·p), steps the world, and writes the encoder rate and IMU
    registers back. `pose_port`: also send the world's noisy pose as UDP JSON to this port
    (an indoor tracking system), at `pose_hz`, signed with `pose_key` as a tracker's sender must.
    """

    def __init__(
        self,
        board: FirmwareBoard,
        track: Track,
        vcfg: VehicleConfig,
        rate_hz: float = 50.0,
        top_speed: float = 8.0,
        seed: int = 0,
        pose_port: int | None = None,
        pose_hz: float = 20.0,
        pose_key: bytes = b"",
    ) -> None:
        self.board = board
        self.track = track
        self.vcfg = vcfg
        rc = vcfg.real
        self.rate_hz = rate_hz
        self.top_speed = top_speed
        self.steer_full_lock = rc.steer_full_lock
        self.metres_per_tick = math.pi * rc.wheel_diameter / rc.ticks_per_rev
        self.world = World(track, car_params(vcfg), vcfg.sim, rate_hz, seed=seed)
        self.renderer = Renderer(track, vcfg.sim.camera)
        self._render_rng = np.random.default_rng(seed + 7)
        self.pose_port = pose_port
        self.pose_period = 1.0 / pose_hz
        if pose_port and not pose_key:
            raise ValueError("SimulatedCar: a pose_port needs the pose_key its poses are signed with")
        self.pose_key = pose_key
        self._pose_seq = time.time_ns() // 1000  # grows across rig restarts, as docs/hardware.md asks of senders
        self._lock = threading.Lock()
        self._reading = None
        self.command = Command(speed=0.0, steer=0.0)
        self.steps = 0
        self.lagged = 0  # steps that started late by more than one period (a loaded machine)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM) if pose_port else None

    def start(self) -> SimulatedCar:
        self._thread = threading.Thread(target=self._run, name="hil simulated car", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    @property
    def state(self):
        with self._lock:
            return self.world.state

    @property
    def wheel_speed(self) -> float:
        """True wheel speed of the simulated car, m/s."""
        return float(self.state.wheel_speed)

    def true_pose(self) -> Pose:
        st = self.state
        return Pose(float(st.x), float(st.y), float(st.yaw))

    def render(self) -> np.ndarray:
        st = self.state
        return self.renderer.render(st.x, st.y, st.yaw, rng=self._render_rng)

    def pulse_command(self, esc_us: float, steer_us: float) -> Command:
        """Measured pulses (us) -> the simulated car's command; the firmware's default 1000-2000 us range."""
        thr = pulse_fraction(esc_us)
        steer = pulse_fraction(steer_us)
        if abs(thr) < 0.01:
            thr = 0.0
        return Command(speed=thr * self.top_speed, steer=steer * self.steer_full_lock)

    def _run(self) -> None:
        period = 1.0 / self.rate_hz
        next_t = time.monotonic()
        next_pose = next_t
        last_hz = -1
        while not self._stop.is_set():
            esc, steer = self.board.latest("esc"), self.board.latest("steer")
            if esc is not None and steer is not None:
                self.command = self.pulse_command(esc.width_us, steer.width_us)
            with self._lock:
                reading = self.world.step(self.command)
                self._reading = reading
            self.steps += 1
            hz = int(round(abs(reading.state.wheel_speed) / self.metres_per_tick))
            try:
                if hz != last_hz:
                    self.board.wheel(hz)
                    last_hz = hz
                self.board.imu(
                    _counts(reading.accel / G * ACCEL_COUNTS_PER_G),
                    _counts(np.degrees(reading.gyro) * GYRO_COUNTS_PER_DPS),
                )
            except (BrokenPipeError, ValueError, OSError):
                return  # the harness is gone
            now = time.monotonic()
            if self._sock is not None and now >= next_pose:
                next_pose += self.pose_period
                pe = reading.pose_estimate
                self._pose_seq += 1
                msg = {
                    "seq": self._pose_seq,
                    "t": time.time(),
                    "x": pe.x,
                    "y": pe.y,
                    "yaw": pe.yaw,
                    "pos_std": max(self.vcfg.sim.pose_noise, 1e-3),
                    "yaw_std": max(self.vcfg.sim.yaw_noise, 1e-3),
                }
                try:
                    self._sock.sendto(sign_pose(self.pose_key, msg), ("127.0.0.1", self.pose_port))
                except OSError:
                    pass  # nobody listening yet: a tracker does not care either
            next_t += period
            delay = next_t - time.monotonic()
            if delay < -period:
                self.lagged += 1
                next_t = time.monotonic()  # late: simulated time pauses rather than racing to catch up
            elif delay > 0:
                self._stop.wait(delay)


def _counts(values) -> tuple[int, int, int]:
    return tuple(int(max(-32768, min(32767, round(float(v))))) for v in values)  # type: ignore[return-value]
