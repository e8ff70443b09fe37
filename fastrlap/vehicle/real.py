"""RealVehicle: the physical car behind the `Vehicle` protocol = Camera + SerialLink + Estimator.

Per control tick the loop calls `observe()` (newest camera frame, latest telemetry turned into SI
units, the estimator's pose) and `act(Command)`. The firmware takes throttle, not speed
(docs/protocol.md, COMMAND), so the speed loop lives here: `SpeedController` is a PI on the
measured wheel speed with a feed-forward from the target, run once per `act`. Steering radians
become permille of full lock (`steer_full_lock`).

A background thread feeds every telemetry frame (50 Hz) to the estimator, so odometry integrates
at the firmware's rate, not the 10 Hz control rate.

Safety: the firmware owns it (250 ms command watchdog, RC override, hardware watchdog). Here:
`stop()` sends neutral, `close()` always stops before releasing anything, and the context
manager closes in `finally`. Telemetry older than `telemetry_stale` or an RC failsafe shows
up as `Observation.estop`, so the supervisor stops the car; a port that is gone, or telemetry
older than `link_lost_after`, also as `Observation.link_lost` (the port: the supervisor stops
the car and, once the link is back, waits for a human); a camera that stops delivering
shows as an old `frame_t` (the supervisor's stale-sensor stop) and, after `dead_after`, as
`CameraStalled`.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

import numpy as np

from fastrlap.actions import clamp, command_fault
from fastrlap.config import PoseSourceConfig, RealConfig, VehicleConfig
from fastrlap.errors import FastrlapError
from fastrlap.types import GRAVITY, Command, ImuReading, Observation
from fastrlap.vehicle import protocol as p
from fastrlap.vehicle.base import Clock, WallClock
from fastrlap.vehicle.camera import Camera, CameraStalled
from fastrlap.vehicle.estimator import Estimator
from fastrlap.vehicle.external_pose import UdpPoseReceiver
from fastrlap.vehicle.gps import NmeaGps
from fastrlap.vehicle.pose_auth import PoseAuthenticator, PoseRejections, load_pose_key
from fastrlap.vehicle.serial_link import ConfigRefused, LinkDown, SerialLink, SerialLinkError, SerialTimeout
from fastrlap.vehicle.speed_control import SpeedController

G = GRAVITY
ACCEL_COUNTS_PER_G = 8192.0  # MPU-6050 at ±4 g
GYRO_COUNTS_PER_DPS = 65.5  # MPU-6050 at ±500 °/s


class VehicleError(FastrlapError):
    """The car cannot be used: the message names the part and the fix."""


def calibration_from(cfg: RealConfig) -> p.Calibration:
    flags = (p.CalFlag.REVERSE_STEER if cfg.reverse_steer else 0) | (
        p.CalFlag.REVERSE_THROTTLE if cfg.reverse_throttle else 0
    )
    return p.Calibration(
        steer_min_us=cfg.steer_min_us,
        steer_center_us=cfg.steer_center_us,
        steer_max_us=cfg.steer_max_us,
        esc_min_us=cfg.esc_min_us,
        esc_neutral_us=cfg.esc_neutral_us,
        esc_max_us=cfg.esc_max_us,
        throttle_limit=cfg.throttle_limit,
        flags=int(flags),
    )


def axes_matrix(spec: list[str]) -> np.ndarray:
    """["x", "-z", "y"] -> 3x3 matrix taking sensor axes to body axes (x forward, y left, z up)."""
    if len(spec) != 3:
        raise VehicleError(f"vehicle.real.imu_axes={spec}: give three entries, one per body axis, e.g. [x, y, z]")
    m = np.zeros((3, 3))
    used = set()
    for row, item in enumerate(spec):
        text = str(item).strip().lower()
        sign = -1.0 if text.startswith("-") else 1.0
        axis = text.lstrip("+-")
        if axis not in ("x", "y", "z") or axis in used:
            raise VehicleError(
                f"vehicle.real.imu_axes={spec}: each of x, y, z once, optionally with '-' "
                f"(body x forward, y left, z up)"
            )
        used.add(axis)
        m[row, "xyz".index(axis)] = sign
    return m


@dataclass(frozen=True)
class RcInput:
    """What the firmware reports about the RC receiver (`teleop=rc` waits on it, explains its errors)."""

    valid: bool  # steering and throttle pulses arrive (TelemetryFlag.RC_VALID)
    mode: str  # the firmware's mode: NEUTRAL | AUTO | TELEOP | FAILSAFE, or "no telemetry"
    steer_us: int  # receiver pulses, us (0 = none)
    throttle_us: int
    switch_us: int  # the mode switch channel (above 1700 us: manual)


@dataclass(frozen=True)
class WheelReading:
    speed: float  # m/s, signed
    ticks: int


class WheelOdometry:
    """Encoder ticks + the firmware's tick period -> signed wheel speed.

    The hall sensor cannot tell direction: it is taken from the ESC pulse being output when the
    wheel starts turning after a stop (`STOP_GAP` without ticks), and kept while it rolls, so
    braking (a reverse pulse while rolling forward) does not flip the sign. In TELEOP the RC pulse
    passes through without the reverse flag; the flag only affects which pulse the host asks for,
    so the pulse itself tells the direction the same way in both modes. Between ticks the speed decays as `metres_per_tick / time since the
    last tick`, so a car that stops reads zero before the firmware's 500 ms timeout."""

    STOP_GAP = 0.3  # s without a tick after which the car counts as having stopped

    def __init__(self, metres_per_tick: float, neutral_us: int, reverse_throttle: bool) -> None:
        self.metres_per_tick = metres_per_tick
        self.neutral_us = neutral_us
        self.forward_pulse_sign = -1 if reverse_throttle else 1
        self._direction = 1.0
        self._ticks: int | None = None
        self._tick_t = 0.0
        self._speed = 0.0

    def update(self, tm: p.Telemetry, t: float) -> WheelReading:
        if self._ticks is None or tm.wheel_ticks < self._ticks:  # first frame, or the firmware restarted
            self._ticks, self._tick_t = tm.wheel_ticks, t
        elif tm.wheel_ticks != self._ticks:
            if t - self._tick_t > self.STOP_GAP:
                # the first ticks after a stop: the wheel turns the way the ESC is driving it
                offset = tm.esc_us - self.neutral_us
                if abs(offset) > 30:
                    self._direction = float(np.sign(offset) * self.forward_pulse_sign)
            self._ticks, self._tick_t = tm.wheel_ticks, t
        speed = 0.0
        if tm.wheel_period_us > 0:
            speed = self.metres_per_tick / (tm.wheel_period_us * 1e-6)
            since = t - self._tick_t
            if since > tm.wheel_period_us * 1e-6:
                speed = min(speed, self.metres_per_tick / since)
        self._speed = self._direction * speed
        return WheelReading(speed=self._speed, ticks=tm.wheel_ticks)


class RealVehicle:
    """The car behind the `Vehicle` protocol. Use as a context manager, or `open()`/`close()`.

    Args:
        link: the firmware session (not yet open).
        camera: a `Camera` (not yet open).
        estimator: fed from telemetry here, and from `pose_sources` (objects with `close()`).
        cfg: calibration, speed loop, IMU axes, staleness limits.
        control_hz: the loop's rate (the Vehicle protocol's `control_hz`).
    """

    def __init__(
        self,
        link: SerialLink,
        camera: Camera,
        estimator: Estimator,
        cfg: RealConfig,
        control_hz: float = 10.0,
        pose_sources: list | None = None,
        clock: Clock | None = None,
        camera_dead_after: float = 2.0,
    ) -> None:
        self.link = link
        self.camera = camera
        self.estimator = estimator
        self.cfg = cfg
        self.control_hz = control_hz
        self.clock = clock or WallClock()
        self.pose_sources = list(pose_sources or [])
        self.camera_dead_after = camera_dead_after
        self.calibration = calibration_from(cfg)
        self.axes = axes_matrix(cfg.imu_axes)
        self.speed_controller = SpeedController(cfg.ff_gain, cfg.ff_offset, cfg.kp, cfg.ki, cfg.i_limit)
        self.odometry = WheelOdometry(
            math.pi * cfg.wheel_diameter / cfg.ticks_per_rev, cfg.esc_neutral_us, cfg.reverse_throttle
        )
        self.has_imu = False
        self.last_throttle = 0
        self.link_errors = 0
        self._lock = threading.Lock()
        self._wheel = WheelReading(0.0, 0)
        self._imu = ImuReading(accel=np.array([0.0, 0.0, G]), gyro=np.zeros(3))
        self._imu_sum = np.zeros(6)  # accel + gyro summed over the telemetry since the last observe()
        self._imu_n = 0
        self._last_act: float | None = None
        self._last_processed: float | None = None  # monotonic time of the newest telemetry used
        self._mode = p.Mode.NEUTRAL  # the firmware's mode in that telemetry
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._opened = False

    @classmethod
    def from_config(cls, vcfg: VehicleConfig) -> RealVehicle:
        """Build (not open) the car from `vehicle.real`: port, camera source, pose source."""
        rc = vcfg.real
        link = SerialLink(rc.port, rc.baud)
        camera = Camera(
            rc.camera.source,
            width=vcfg.sim.camera.width,
            height=vcfg.sim.camera.height,
            stale_after=rc.camera.stale_after,
            fps=rc.camera.fps,
        )
        return cls(
            link, camera, estimator_for(rc), rc, control_hz=vcfg.control_hz, camera_dead_after=rc.camera.dead_after
        )

    # ------------------------------------------------------------------ lifecycle
    def open(self) -> RealVehicle:
        """Shake hands with the firmware, apply/read the calibration, start camera and pose source.

        Opening an open vehicle does nothing (`with open_hil_vehicle(...)` enters an open one)."""
        if self._opened:
            return self
        try:
            if self.cfg.pose.source == "external" and not self.pose_sources:
                # first: without a key to authenticate poses, nothing on the car needs opening
                self.pose_sources.append(external_pose_receiver(self.estimator, self.cfg.pose))
            try:
                ack = self.link.open()
            except SerialLinkError as exc:
                raise VehicleError(str(exc)) from None
            self._opened = True
            self.has_imu = bool(ack.caps & p.Capability.IMU)
            self._apply_calibration()
            self.camera.open()
            if self.cfg.pose.source == "gps" and not self.pose_sources:
                origin = tuple(self.cfg.pose.gps_origin) if self.cfg.pose.gps_origin else None
                if origin is not None and len(origin) != 2:
                    raise VehicleError(f"vehicle.real.pose.gps_origin={list(origin)}: give [lat, lon] in degrees or []")
                self.pose_sources.append(
                    NmeaGps(self.estimator, origin=origin, uere=self.cfg.pose.gps_uere).start(
                        self.cfg.pose.gps_port, self.cfg.pose.gps_baud
                    )
                )
            self._stop.clear()
            self._thread = threading.Thread(target=self._telemetry_loop, name="real-vehicle telemetry", daemon=True)
            self._thread.start()
            self._wait_first_telemetry()
        except BaseException:
            self.close()
            raise
        return self

    def _apply_calibration(self) -> None:
        try:
            if self.cfg.send_calibration:
                # The firmware refuses a calibration while the transmitter has the car; one it
                # already uses needs no sending, so a car opened in manual mode still opens.
                if self.link.get_config().calibration != self.calibration:
                    try:
                        self.link.set_config(self.calibration, persist=False)
                    except ConfigRefused as exc:
                        raise VehicleError(f"vehicle.real calibration {self.calibration.values()}: {exc}") from None
            else:
                # what the firmware uses (EEPROM or defaults) is what the steering/throttle maths must use
                self.calibration = self.link.get_config().calibration
        except SerialLinkError as exc:
            raise VehicleError(str(exc)) from None
        c = self.calibration
        self.odometry = WheelOdometry(
            self.odometry.metres_per_tick, c.esc_neutral_us, bool(c.flags & p.CalFlag.REVERSE_THROTTLE)
        )

    def _wait_first_telemetry(self, timeout: float = 1.0) -> None:
        deadline = time.monotonic() + timeout
        while self._last_processed is None and time.monotonic() < deadline:
            time.sleep(0.01)
        if self._last_processed is None:
            raise VehicleError(
                f"no telemetry from {self.link.port} within {timeout:.1f} s after the handshake: "
                f"reflash the firmware (make -C firmware flash PORT={self.link.port})"
            )

    def close(self) -> None:
        """Neutral first, then stop the threads and release port, camera and pose sources."""
        try:
            self.stop()
        finally:
            self._stop.set()
            if self._thread is not None:
                self._thread.join(timeout=2.0)
                self._thread = None
            for source in self.pose_sources:
                source.close()
            self.camera.close()
            if self._opened:
                self.link.close()  # sends one more neutral command itself
                self._opened = False

    def __enter__(self) -> RealVehicle:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ the Vehicle protocol
    def observe(self) -> Observation:
        now = self.clock.now()
        try:
            frame = self.camera.latest(max_age=self.camera_dead_after)
        except CameraStalled as exc:
            self.stop()
            raise CameraStalled(f"{exc}; the car was stopped") from None
        with self._lock:
            wheel, imu = self._wheel, self._imu
            if self._imu_n:
                # the average over the control tick, as the simulator reports it: an impact between two
                # observations still shows as a spike, where a single sample could miss it
                mean = self._imu_sum / self._imu_n
                imu = ImuReading(accel=mean[:3], gyro=mean[3:])
                self._imu_sum = np.zeros(6)
                self._imu_n = 0
        try:
            tt = self.link.latest_telemetry()
            tm, t_tm = tt.telemetry, tt.t
        except SerialTimeout:
            tm, t_tm = None, None
        stale = t_tm is None or now - t_tm > self.cfg.telemetry_stale or not self.link.connected
        # A hiccup of a few telemetry frames (a busy laptop) is an e-stop that clears itself; a port
        # that is gone or silent for longer may mean the car was unplugged, reset or handled.
        lost = t_tm is None or now - t_tm > self.cfg.link_lost_after or not self.link.connected
        est = self.estimator.estimate()
        teleop = None
        estop = stale
        if tm is not None and not stale:
            if tm.mode == p.Mode.TELEOP:
                teleop = self.rc_command(tm)
            estop = tm.mode == p.Mode.FAILSAFE
        return Observation(
            t=now,
            frame=frame.image,
            imu=imu,
            wheel_speed=wheel.speed,
            pose=est.pose,
            velocity=est.velocity,
            yaw_rate=est.yaw_rate,
            collision=False,
            teleop=teleop,
            estop=estop,
            link_lost=self.link.port if lost else "",
            frame_t=frame.t,
        )

    def act(self, command: Command) -> None:
        """Target speed (m/s) through the speed loop, steering (rad) to permille; non-blocking."""
        fault = command_fault(command)
        if fault is not None:
            self.stop()
            raise VehicleError(
                f"{fault} reached the car (sent neutral instead): the policy or a driver "
                f"produced NaN; check the learner's metrics"
            )
        now = self.clock.now()
        gap = None if self._last_act is None else now - self._last_act
        self._last_act = now
        if gap is None or gap > 0.5:
            self.speed_controller.reset()  # the loop paused: an old integral says nothing about now
        dt = 0.0 if gap is None else min(gap, 0.5)
        with self._lock:
            measured, mode = self._wheel.speed, self._mode
        if mode in (p.Mode.TELEOP, p.Mode.FAILSAFE):
            self.speed_controller.reset()  # our throttle is not applied: nothing to integrate
        throttle = self.speed_controller(command.speed, measured, dt)
        self.last_throttle = throttle
        try:
            self.link.command(throttle, self.steer_permille(command.steer))
        except LinkDown:
            # the firmware's watchdog holds the car at neutral; observe() reports estop meanwhile
            self.link_errors += 1
            self.speed_controller.reset()

    def stop(self) -> None:
        """Neutral throttle, steering held (best effort: the firmware watchdog backs it up)."""
        self.speed_controller.reset()
        self._last_act = None
        self.last_throttle = 0
        if self._opened and self.link.connected:
            try:
                self.link.send(p.CommandMessage(throttle=0, steer=0, mode=p.CommandMode.NEUTRAL))
            except SerialLinkError:
                self.link_errors += 1

    def pose_rejections(self) -> PoseRejections:
        """External pose datagrams refused so far (all zero without an external pose source)."""
        counts = [source.rejections for source in self.pose_sources if isinstance(source, UdpPoseReceiver)]
        return counts[0] if counts else PoseRejections()

    def rc_input(self) -> RcInput:
        """The RC receiver as the newest telemetry reports it."""
        try:
            tm = self.link.latest_telemetry().telemetry
        except SerialTimeout:
            return RcInput(valid=False, mode="no telemetry", steer_us=0, throttle_us=0, switch_us=0)
        return RcInput(
            valid=bool(tm.flags & p.TelemetryFlag.RC_VALID),
            mode=p.Mode(tm.mode).name,
            steer_us=tm.rc_steer_us,
            throttle_us=tm.rc_throttle_us,
            switch_us=tm.rc_mode_us,
        )

    def estop_reason(self) -> str:
        """Why `observe()` reports an emergency stop, in words with the fix (for one-line errors)."""
        try:
            tt = self.link.latest_telemetry()
        except SerialTimeout:
            return f"no telemetry from {self.link.port}: check the USB cable"
        age = self.clock.now() - tt.t
        if not self.link.connected or age > self.cfg.telemetry_stale:
            return (
                f"telemetry from {self.link.port} is {age:.1f} s old (link down): check the USB cable; the "
                f"firmware's watchdog holds the car at neutral"
            )
        if tt.telemetry.mode == p.Mode.FAILSAFE:
            return (
                "the RC signal was lost while the transmitter drove (firmware FAILSAFE): keep the transmitter on "
                "and in range"
            )
        return "no emergency stop"

    # ------------------------------------------------------------------ units
    def steer_permille(self, steer: float) -> int:
        """Front wheel angle (rad, + left) -> COMMAND steer permille of full lock."""
        full = float(p.PERMILLE_FULL)
        return int(round(clamp(full * steer / self.cfg.steer_full_lock, -full, full)))

    def rc_command(self, tm: p.Telemetry) -> Command:
        """The human's RC sticks in the host's units (what `teleop=rc` records as the demo's command).

        Steering: `rc_steer_angle`. Speed: the firmware passes the throttle pulse through as if the
        host had asked for throttle p = 2·(width − 1500) ‰ (docs/protocol.md, calibration), so the
        human's target speed is the speed the host's feed-forward holds at that throttle: the
        inverse of `sign(v)·(ff_offset + ff_gain·|v|)`, zero inside the ESC deadband.
        """
        p_ = p.rc_permille(tm.rc_throttle_us) if tm.rc_throttle_us else 0
        if self.calibration.flags & p.CalFlag.REVERSE_THROTTLE:
            p_ = -p_  # the host's throttle is flipped on the way out; the RC pulse is not
        speed = max(0.0, abs(p_) - self.cfg.ff_offset) / self.cfg.ff_gain if self.cfg.ff_gain > 0 else 0.0
        return Command(speed=math.copysign(speed, p_) if speed else 0.0, steer=self.rc_steer_angle(tm.rc_steer_us))

    def rc_steer_angle(self, rc_steer_us: int) -> float:
        """The human's steering (RC pulse, us) in the host's units: rad, + left."""
        if rc_steer_us == 0:
            return 0.0
        permille = p.rc_permille(rc_steer_us)
        if self.calibration.flags & p.CalFlag.REVERSE_STEER:
            permille = -permille  # the host flips its own commands to turn left; the RC pulse is raw
        return permille / p.PERMILLE_FULL * self.cfg.steer_full_lock

    def imu_reading(self, tm: p.Telemetry) -> ImuReading:
        accel = self.axes @ (np.asarray(tm.accel, float) * (G / ACCEL_COUNTS_PER_G))
        gyro = self.axes @ np.radians(np.asarray(tm.gyro, float) / GYRO_COUNTS_PER_DPS)
        return ImuReading(accel=accel, gyro=gyro)

    # ------------------------------------------------------------------ telemetry -> estimator
    def _telemetry_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.link.wait_telemetry(timeout=0.2)
                tt = self.link.latest_telemetry()
            except SerialTimeout:
                continue
            self.process_telemetry(tt.telemetry, tt.t)

    def process_telemetry(self, tm: p.Telemetry, t: float) -> None:
        wheel = self.odometry.update(tm, t)
        imu_ok = bool(tm.flags & p.TelemetryFlag.IMU_PRESENT) and not tm.faults & p.Fault.IMU_ERROR
        imu = self.imu_reading(tm) if imu_ok else ImuReading(accel=np.array([0.0, 0.0, G]), gyro=np.zeros(3))
        steer = 0.0
        if tm.steer_us:
            # the steering actually output, back in radians (bicycle-model yaw rate without an IMU)
            c = self.calibration
            span = (
                (c.steer_max_us - c.steer_center_us)
                if tm.steer_us >= c.steer_center_us
                else (c.steer_center_us - c.steer_min_us)
            )
            frac = (tm.steer_us - c.steer_center_us) / span if span else 0.0
            if c.flags & p.CalFlag.REVERSE_STEER:
                frac = -frac
            steer = frac * self.cfg.steer_full_lock
        self.estimator.update_odometry(t, wheel.speed, float(imu.gyro[2]) if imu_ok else None, steer=steer)
        with self._lock:
            self._wheel, self._imu, self._last_processed, self._mode = wheel, imu, t, tm.mode
            self._imu_sum += np.concatenate([imu.accel, imu.gyro])
            self._imu_n += 1


def external_pose_receiver(estimator: Estimator, pose: PoseSourceConfig) -> UdpPoseReceiver:
    """The UDP receiver for `pose.source=external`; refuses to start without the shared key."""
    auth = PoseAuthenticator(load_pose_key(pose.udp_key, pose.udp_key_file), max_age=pose.udp_max_age)
    return UdpPoseReceiver(estimator, pose.udp_port, auth, host=pose.udp_host)


def estimator_for(rc: RealConfig) -> Estimator:
    return Estimator(source=rc.pose.source, fix_timeout=rc.pose.fix_timeout)


class PacedVehicle:
    """A wall-clock vehicle whose `act` returns at the next control tick.

    The practice loop keeps its own period; `course.demo.record_demo` does not (in the simulator
    `act` advances time), so on the car it is given this wrapper: one recorded sample per
    control period instead of as many as the CPU can spin.

    `listen_only`: `act` sends neutral whatever the command (the RC demo: the human drives through
    the firmware's passthrough; should the human let go, the car stops rather than follow the
    laptop). The neutral COMMAND also keeps the firmware's session open."""

    def __init__(self, vehicle: RealVehicle, listen_only: bool = False) -> None:
        self.vehicle = vehicle
        self.clock = vehicle.clock
        self.control_hz = vehicle.control_hz
        self.listen_only = listen_only
        self._next: float | None = None

    def observe(self) -> Observation:
        return self.vehicle.observe()

    def act(self, command: Command) -> None:
        if self.listen_only:
            self.vehicle.stop()
        else:
            self.vehicle.act(command)
        now = self.clock.now()
        period = 1.0 / self.control_hz
        self._next = now + period if self._next is None or self._next < now - period else self._next + period
        self.clock.wait_until(self._next)

    def stop(self) -> None:
        self._next = None
        self.vehicle.stop()

    def close(self) -> None:
        self.vehicle.close()

    def __getattr__(self, name):
        return getattr(self.vehicle, name)  # params, car, board ... of the wrapped vehicle
