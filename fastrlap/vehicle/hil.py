"""The car without the car (`vehicle=hil`): the real firmware under simavr driving a simulated car.

```
RealVehicle ──SerialLink──► pty ──► firmware.elf under simavr (firmware/sim/harness.c)
    ▲                                   │ ESC / servo pulses measured on D10 / D9
    │ Camera(CallbackSource)            ▼
    │◄── Renderer ◄── SimulatedCar: World (fastrlap.sim) stepped at 50 Hz on the wall clock
    │◄── UDP pose JSON, signed (the world's noisy pose, as an indoor tracker would send it)
    └─── wheel-encoder pin pulsed at |wheel speed| / metres-per-tick, MPU-6050 registers fed
```

Everything the host does is the real car's code path: the serial protocol, the firmware's
safety logic (its watchdog stops the simulated car when the host dies), the speed loop on
measured wheel ticks, the estimator, the camera thread. Only the physics and the pictures are
simulated. The simulated ESC tracks a wheel speed proportional to its pulse (`top_speed` at full
throttle), so the host's speed loop has a plant with lag, limits and tyre slip to control.

`FirmwareBoard` is the firmware process with its "oscilloscope" (measured output pulses) and
"signal generator" (RC receiver, wheel encoder, IMU inputs); the HIL tests use it directly.
`ScriptedTransmitter` is a scripted human holding the RC transmitter (`teleop=rc`): it drives the
receiver pins, so the firmware really is in RC passthrough and reports TELEOP.

A rig normally lives inside the command that drives it. `RigServer` serves one over a Unix
socket instead (`python -m fastrlap.vehicle.hil SOCKET [overrides]`, `vehicle.hil.attach=SOCKET`
for the commands), so the simulated car outlives a host that crashes or is killed — as a real car
outlives its laptop, which is what the firmware's watchdog is for.
This module is the only part of `fastrlap.vehicle` that imports the simulator.
"""
from __future__ import annotations

import dataclasses
import math
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from fastrlap.config import RealConfig, VehicleConfig
from fastrlap.errors import FastrlapError
from fastrlap.sim.drivers import DemoDriver
from fastrlap.sim.dynamics import CarParams, car_params
from fastrlap.sim.render import Renderer
from fastrlap.sim.track import Track
from fastrlap.sim.world import World
from fastrlap.types import Command, Observation, Pose
from fastrlap.vehicle.camera import CallbackSource, Camera
from fastrlap.vehicle.estimator import Estimator
from fastrlap.vehicle.pose_auth import sign_pose
from fastrlap.vehicle.real import ACCEL_COUNTS_PER_G, G, GYRO_COUNTS_PER_DPS, RealVehicle
from fastrlap.vehicle.serial_link import SerialLink

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
ELF = FIRMWARE / "build" / "fastrlap.elf"
HARNESS = FIRMWARE / "build" / "fastrlap-fwsim"
INSTALL_HINT = ("needs the AVR toolchain and simavr: `make firmware-deps` (as root: apt-get update && "
                "apt-get install -y gcc-avr avr-libc simavr libsimavr-dev libsimavrparts1 libelf-dev)")


class HilUnavailable(FastrlapError):
    """The firmware simulator cannot run here (toolchain missing, build failed, harness died)."""


def toolchain_missing() -> str | None:
    """Why the firmware cannot be built and simulated here, or None."""
    if not FIRMWARE.is_dir():
        return f"{FIRMWARE} not found (vehicle=hil needs a source checkout with firmware/)"
    if shutil.which("avr-gcc") is None:
        return "avr-gcc not found"
    if not Path("/usr/include/simavr/sim_avr.h").exists():
        return "simavr headers (libsimavr-dev) not found"
    return None


def build_firmware(timeout: float = 300.0) -> Path:
    """`make -C firmware all` (the .elf and the harness); returns the .elf."""
    missing = toolchain_missing()
    if missing:
        raise HilUnavailable(f"{missing}: {INSTALL_HINT}")
    out = subprocess.run(["make", "-s", "-C", str(FIRMWARE), "all"], capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        last = (out.stderr or out.stdout).strip().splitlines()[-1:] or ["no output"]
        raise HilUnavailable(f"`make -C {FIRMWARE} all` failed ({last[0]}); run it by hand to see the errors")
    return ELF


@dataclass(frozen=True)
class Pulse:
    width_us: float
    t_us: int  # simulated time of the falling edge (≈ firmware uptime_ms * 1000)
    arrived: float  # time.monotonic() when the harness reported it


class FirmwareBoard:
    """One running firmware under simavr; `link` is the serial port path for SerialLink.

    The harness's protocol (stdin commands, stdout events) is documented at the top of
    firmware/sim/harness.c. Pulses are kept in memory (50 Hz per channel: ~100 KB per minute).
    """

    def __init__(self, elf: Path, workdir: Path, imu: bool = False) -> None:
        self.link = str(Path(workdir) / "ttyFW")
        extra = ["--imu"] if imu else []
        self.proc = subprocess.Popen([str(HARNESS), str(elf), "--link", self.link, *extra], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        self.pulses: dict[str, list[Pulse]] = {"steer": [], "esc": []}
        self.ready_count = 0
        self.resets: list[int] = []  # sim time (us) of each MCU restart
        self.hung_at: int | None = None  # sim time (us) the `hang` command took effect
        self._cond = threading.Condition()
        self._write_lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        with self._cond:
            if not self._cond.wait_for(lambda: self.ready_count > 0, timeout=10):
                err = self.proc.stderr.read() if self.proc.poll() is not None else "no `ready` within 10 s"
                self.close()
                raise HilUnavailable(f"the firmware simulator did not start ({err.strip()[:200]}); run "
                                     f"`{HARNESS} {elf}` by hand")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            parts = line.split()
            with self._cond:
                if parts[:1] == ["pulse"]:
                    self.pulses[parts[1]].append(Pulse(float(parts[2]), int(parts[3]), time.monotonic()))
                elif parts[:1] == ["ready"]:
                    self.ready_count += 1
                elif parts[:1] == ["reset"]:
                    self.resets.append(int(parts[1]))
                elif parts[:1] == ["hung"]:
                    self.hung_at = int(parts[1])
                self._cond.notify_all()

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        with self._write_lock:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()

    def rc(self, steer_us: int, throttle_us: int, mode_us: int) -> None:
        """Drive the RC receiver inputs (0 = that channel stops pulsing)."""
        self.send(f"rc {steer_us} {throttle_us} {mode_us}")

    def wheel(self, hz: int) -> None:
        self.send(f"wheel {hz}")

    def imu(self, accel: tuple[int, int, int], gyro: tuple[int, int, int]) -> None:
        """Raw counts the simulated MPU-6050 reports (only with imu=True)."""
        self.send("imu " + " ".join(str(v) for v in (*accel, *gyro)))

    def imu_unplug(self) -> None:
        self.send("imu off")

    def drop(self, ms: int) -> None:
        """Unplug the serial port for `ms` (the port path disappears, then a new pty appears)."""
        self.send(f"drop {ms}")

    def hang(self) -> int:
        """Freeze the firmware (interrupts off, spinning); returns the sim time it happened."""
        self.send("hang")
        with self._cond:
            if not self._cond.wait_for(lambda: self.hung_at is not None, timeout=2.0):
                raise TimeoutError("harness did not report the hang")
            return self.hung_at

    def count(self, channel: str) -> int:
        with self._cond:
            return len(self.pulses[channel])

    def latest(self, channel: str) -> Pulse | None:
        with self._cond:
            pulses = self.pulses[channel]
            return pulses[-1] if pulses else None

    def pulses_after(self, channel: str, index: int) -> list[Pulse]:
        with self._cond:
            return list(self.pulses[channel][index:])

    def next_pulses(self, channel: str, n: int, timeout: float = 2.0) -> list[Pulse]:
        """The next `n` pulses reported after this call."""
        with self._cond:
            start = len(self.pulses[channel])
            if not self._cond.wait_for(lambda: len(self.pulses[channel]) >= start + n, timeout):
                raise TimeoutError(f"no {channel} pulses within {timeout} s")
            return self.pulses[channel][start : start + n]

    def settled(self, channel: str, periods: int = 2) -> float:
        """Width of a pulse that started after everything sent so far took effect."""
        return self.next_pulses(channel, periods)[-1].width_us

    def wait_pulse(self, channel: str, predicate, timeout: float) -> Pulse:
        """The first pulse from now on whose width satisfies `predicate`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            i = len(self.pulses[channel])
            while True:
                while i < len(self.pulses[channel]):
                    if predicate(self.pulses[channel][i].width_us):
                        return self.pulses[channel][i]
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0 or not self._cond.wait(left):
                    if time.monotonic() >= deadline:
                        raise TimeoutError(f"no matching {channel} pulse within {timeout} s")

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.wait(timeout=3)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


class SimulatedCar:
    """The simulator's car wired to a `FirmwareBoard`, stepped in real time in a thread.

    Each step reads the newest measured ESC and servo pulses, turns them into the simulated
    car's command (pulse offset from neutral as a fraction of the range: ESC -> `top_speed`·p,
    servo -> `steer_full_lock`·p), steps the world, and writes the encoder rate and IMU
    registers back. `pose_port`: also send the world's noisy pose as UDP JSON to this port
    (an indoor tracking system), at `pose_hz`, signed with `pose_key` as a tracker's sender must.
    """

    def __init__(self, board: FirmwareBoard, track: Track, vcfg: VehicleConfig, rate_hz: float = 50.0,
                 top_speed: float = 8.0, seed: int = 0, pose_port: int | None = None, pose_hz: float = 20.0,
                 pose_key: bytes = b"") -> None:
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

    def start(self) -> "SimulatedCar":
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
        thr = max(-1.0, min(1.0, (esc_us - 1500.0) / 500.0))
        steer = max(-1.0, min(1.0, (steer_us - 1500.0) / 500.0))
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
                self.board.imu(_counts(reading.accel / G * ACCEL_COUNTS_PER_G),
                               _counts(np.degrees(reading.gyro) * GYRO_COUNTS_PER_DPS))
            except (BrokenPipeError, ValueError, OSError):
                return  # the harness is gone
            now = time.monotonic()
            if self._sock is not None and now >= next_pose:
                next_pose += self.pose_period
                pe = reading.pose_estimate
                self._pose_seq += 1
                msg = {"seq": self._pose_seq, "t": time.time(), "x": pe.x, "y": pe.y, "yaw": pe.yaw,
                       "pos_std": max(self.vcfg.sim.pose_noise, 1e-3), "yaw_std": max(self.vcfg.sim.yaw_noise, 1e-3)}
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

    def __init__(self, board: FirmwareBoard, car: SimulatedCar, driver: Callable[[Pose, float], Command],
                 rate_hz: float = 20.0) -> None:
        self.board, self.car, self.driver = board, car, driver
        self.period = 1.0 / rate_hz
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hil transmitter", daemon=True)

    def pulses(self, cmd: Command) -> tuple[int, int]:
        """(steer_us, throttle_us) for a command in m/s and rad."""
        steer = max(-1.0, min(1.0, cmd.steer / self.car.steer_full_lock))
        thr = max(-1.0, min(1.0, cmd.speed / self.car.top_speed))
        return int(round(1500 + 500 * steer)), int(round(1500 + 500 * thr))

    def start(self) -> "ScriptedTransmitter":
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
            self.board.rc(1500, 1500, RC_SWITCH_AUTO_US)
        except (BrokenPipeError, ValueError, OSError):
            pass


def _host_config(rc: RealConfig, link: str, pose_port: int | None, pose_key: str) -> RealConfig:
    pose = dataclasses.replace(rc.pose, udp_port=pose_port or rc.pose.udp_port, udp_host="127.0.0.1",
                               udp_key=pose_key, udp_key_file="")
    return dataclasses.replace(rc, port=link, pose=pose)


def _rig_camera(vcfg: VehicleConfig, render: Callable[[], np.ndarray]) -> Camera:
    rc, cam = vcfg.real, vcfg.sim.camera
    return Camera(CallbackSource(render, fps=rc.camera.fps or 15.0, description="hil camera (renderer)"),
                  width=cam.width, height=cam.height, stale_after=rc.camera.stale_after)


class HilRig:
    """The simulated board and car without the host side: what `open_hil_vehicle` and
    `fastrlap doctor vehicle=hil` connect to. `host_config()` is the `vehicle.real` section
    pointing at the rig (its pty, its UDP pose port and the key its poses are signed with, made
    afresh for each rig); `camera()` shows the renderer."""

    def __init__(self, vcfg: VehicleConfig, track: Track, seed: int = 0, top_speed: float = 8.0) -> None:
        elf = build_firmware()
        self.vcfg = vcfg
        self.track = track
        self.seed = seed
        self.workdir = tempfile.TemporaryDirectory(prefix="fastrlap-hil-")
        self.board: FirmwareBoard | None = None
        self.car: SimulatedCar | None = None
        self.transmitter: ScriptedTransmitter | None = None
        try:
            self.board = FirmwareBoard(elf, Path(self.workdir.name), imu=True)
            self.pose_port = _free_udp_port() if vcfg.real.pose.source == "external" else None
            self.pose_key = secrets.token_hex(32)
            self.car = SimulatedCar(self.board, track, vcfg, top_speed=top_speed, seed=seed,
                                    pose_port=self.pose_port, pose_key=self.pose_key.encode()).start()
        except BaseException:
            self.close()
            raise

    def host_config(self) -> RealConfig:
        return _host_config(self.vcfg.real, self.board.link, self.pose_port, self.pose_key)

    def camera(self) -> Camera:
        return _rig_camera(self.vcfg, self.car.render)

    @property
    def params(self) -> CarParams:
        """The simulated car's physical parameters (scripted demo driver, oracle lap time)."""
        return self.car.world.params

    def true_pose(self) -> Pose:
        return self.car.true_pose()

    def hold_transmitter(self, speed: float, seed: int = 0) -> None:
        """A scripted human takes the transmitter and drives the simulator's slow demo lap at `speed` m/s."""
        self.release_transmitter()
        driver = DemoDriver(self.track, self.params, speed=speed, seed=seed)
        self.transmitter = ScriptedTransmitter(self.board, self.car, driver).start()

    def release_transmitter(self) -> None:
        if self.transmitter is not None:
            self.transmitter.release()
            self.transmitter = None

    def close(self) -> None:
        self.release_transmitter()
        if self.car is not None:
            self.car.close()
        if self.board is not None:
            self.board.close()
        self.workdir.cleanup()

    def __enter__(self) -> "HilRig":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RigServer:
    """Serves a `HilRig` to commands in other processes over a Unix socket.

    Requests are pickled tuples over `multiprocessing.connection` (`RemoteRig` sends them): the
    rig's pty, pose port and pose key, the car's parameters, a rendered frame, the true pose, the
    scripted transmitter. Each client has its own thread; a client that goes away (killed) releases the
    transmitter it held. The firmware and the simulated car keep running between clients.
    """

    def __init__(self, rig: HilRig, address: str) -> None:
        self.rig = rig
        self.address = str(address)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(self.address)
        self._sock.listen(4)
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="hil rig server", daemon=True)

    def start(self) -> "RigServer":
        self._thread.start()
        return self

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            client.settimeout(None)
            threading.Thread(target=self._serve, args=(Connection(client.detach()),), name="hil rig client",
                             daemon=True).start()

    def _handle(self, request: tuple, held: list[bool]):
        rig, name = self.rig, request[0]
        if name == "config":
            return {"link": rig.board.link, "pose_port": rig.pose_port, "pose_key": rig.pose_key,
                    "track": rig.track.name}
        if name == "params":
            return rig.params
        if name == "render":
            return rig.car.render()
        if name == "true_pose":
            return rig.true_pose()
        if name == "hold_transmitter":
            rig.hold_transmitter(*request[1:])
            held[0] = True
            return None
        if name == "release_transmitter":
            rig.release_transmitter()
            held[0] = False
            return None
        raise ValueError(f"unknown request {name!r}")

    def _serve(self, conn: Connection) -> None:
        held = [False]
        try:
            while not self._stop.is_set():
                request = conn.recv()
                try:
                    conn.send(("ok", self._handle(request, held)))
                except (ValueError, TypeError, FastrlapError) as exc:
                    conn.send(("error", f"{type(exc).__name__}: {exc}"))
        except (EOFError, OSError):
            pass  # the client closed or was killed
        finally:
            if held[0]:
                self.rig.release_transmitter()
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
        self._thread.join(timeout=2.0)
        Path(self.address).unlink(missing_ok=True)


class RemoteRig:
    """A `HilRig` served by another process (`RigServer`), with the same interface for the host side.

    `board` and `car` are None: they live in the serving process. `close()` only disconnects; the
    rig keeps running."""

    board = None
    car = None

    def __init__(self, vcfg: VehicleConfig, address: str) -> None:
        self.vcfg = vcfg
        self.address = address
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(address)
        except OSError as exc:
            sock.close()
            raise HilUnavailable(f"no hil rig at vehicle.hil.attach={address} ({exc.strerror}): start one with "
                                 f"`python -m fastrlap.vehicle.hil {address}`, or leave vehicle.hil.attach empty") \
                from None
        self._conn = Connection(sock.detach())
        self._lock = threading.Lock()
        info = self._call("config")
        self.link, self.pose_port, self.track_name = info["link"], info["pose_port"], info["track"]
        self.pose_key: str = info["pose_key"]
        self.params: CarParams = self._call("params")

    def _call(self, *request):
        with self._lock:
            try:
                self._conn.send(request)
                status, value = self._conn.recv()
            except (EOFError, OSError):
                raise HilUnavailable(f"the hil rig at {self.address} went away; start it again") from None
        if status != "ok":
            raise HilUnavailable(f"the hil rig at {self.address} refused {request[0]}: {value}")
        return value

    def host_config(self) -> RealConfig:
        return _host_config(self.vcfg.real, self.link, self.pose_port, self.pose_key)

    def render(self) -> np.ndarray:
        return self._call("render")

    def camera(self) -> Camera:
        return _rig_camera(self.vcfg, self.render)

    def true_pose(self) -> Pose:
        return self._call("true_pose")

    def hold_transmitter(self, speed: float, seed: int = 0) -> None:
        self._call("hold_transmitter", speed, seed)

    def release_transmitter(self) -> None:
        self._call("release_transmitter")

    def close(self) -> None:
        self._conn.close()


class HilVehicle(RealVehicle):
    """RealVehicle connected to a `HilRig` (or a `RemoteRig`); closes the rig after itself.

    `observe()` adds the simulated car's true pose (the simulator's privilege, for the scripted
    demo driver and oracle checks), everything else is RealVehicle's."""

    def __init__(self, rig: HilRig | RemoteRig, **kw) -> None:
        super().__init__(**kw)
        self.rig = rig
        self.board = rig.board
        self.car = rig.car

    @property
    def params(self) -> CarParams:
        """The simulated car's physical parameters (scripted demo driver, oracle lap time)."""
        return self.rig.params

    def observe(self) -> Observation:
        return dataclasses.replace(super().observe(), true_pose=self.rig.true_pose())

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.rig.close()


def open_hil_vehicle(vcfg: VehicleConfig, track: Track, seed: int = 0, top_speed: float = 8.0) -> HilVehicle:
    """Build the firmware, start it under simavr with a simulated car on `track`, open RealVehicle.

    With `vehicle.hil.attach` the rig served at that socket is used instead (it must simulate the
    same track). The pose source is the world's noisy pose over UDP when
    `vehicle.real.pose.source` is `external`, else odometry + IMU alone."""
    if vcfg.hil.attach:
        rig: HilRig | RemoteRig = RemoteRig(vcfg, vcfg.hil.attach)
        if rig.track_name != track.name:
            rig.close()
            raise HilUnavailable(f"the hil rig at {vcfg.hil.attach} simulates track {rig.track_name!r}, this command "
                                 f"drives {track.name!r}: pass track={rig.track_name} or serve the rig with "
                                 f"track={track.name}")
    else:
        rig = HilRig(vcfg, track, seed=seed, top_speed=top_speed)
    try:
        rc = rig.host_config()
        estimator = Estimator(source=rc.pose.source, fix_timeout=rc.pose.fix_timeout)
        estimator.reset(rig.true_pose())
        vehicle = HilVehicle(rig, link=SerialLink(rc.port, rc.baud), camera=rig.camera(), estimator=estimator,
                             cfg=rc, control_hz=vcfg.control_hz, camera_dead_after=rc.camera.dead_after)
    except BaseException:
        rig.close()
        raise
    return vehicle.open()  # on failure open() closes the vehicle, and with it the rig


def serve(argv: list[str]) -> int:
    """`python -m fastrlap.vehicle.hil SOCKET [overrides]`: run a rig until Ctrl-C / SIGTERM."""
    import signal

    from fastrlap.cli import compose
    from fastrlap.sim.track import load_track

    if not argv or argv[0].startswith("-") or "=" in argv[0]:
        print("usage: python -m fastrlap.vehicle.hil SOCKET [track=NAME seed=N ...]  (then pass "
              "vehicle.hil.attach=SOCKET to record-demo / practice with vehicle=hil)", file=sys.stderr)
        return 2
    try:
        cfg = compose(["vehicle=hil", *argv[1:]])
        track = load_track(cfg.track)
        rig = HilRig(cfg.vehicle, track, seed=cfg.seed)
    except FastrlapError as exc:
        print(f"fastrlap hil rig: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        try:
            server = RigServer(rig, argv[0]).start()
        except OSError as exc:
            print(f"fastrlap hil rig: cannot serve on {argv[0]} ({exc.strerror}): pick another path, or delete it "
                  f"if no rig runs there", file=sys.stderr)
            return 1
        print(f"hil rig: {track.name}, firmware on {rig.board.link}; drive it with vehicle=hil "
              f"vehicle.hil.attach={argv[0]} track={track.name}", flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        server.close()
    finally:
        rig.close()
    return 0


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1:]))
