"""`fastrlap doctor`: the car's parts checked one by one, each problem with its fix.

Each check opens its part on its own (port and firmware, camera, pose source), so the first
thing that is wrong is named rather than a whole vehicle failing to open.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from fastrlap.config import RealConfig
from fastrlap.errors import FastrlapError
from fastrlap.vehicle import protocol as p
from fastrlap.vehicle.camera import Camera, CameraStalled
from fastrlap.vehicle.gps import NmeaGps
from fastrlap.vehicle.real import calibration_from, estimator_for, external_pose_receiver
from fastrlap.vehicle.serial_link import SerialLink, SerialTimeout


@dataclass(frozen=True)
class Check:
    """One line of `fastrlap doctor`: what was checked, what was found, and the fix if it failed."""

    name: str
    status: str  # ok | warn | fail
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.status.upper():<4}  {self.name}: {self.detail}"
        return f"{text} -> {self.fix}" if self.fix else text


def _telemetry_rate(link: SerialLink, seconds: float) -> float:
    """Telemetry frames received per second of the firmware's own clock (uptime_ms), over about
    `seconds`; 0 when frames stop coming. Frames lost on the cable lower it, while a busy host (or
    a simulated board running slower than real time) does not pass for a bad cable; on a car the
    two clocks run alike."""
    try:
        first = link.wait_telemetry(timeout=seconds)
        n0 = link.stats().telemetry_frames
        time.sleep(seconds)
        last = link.wait_telemetry(timeout=seconds)
        n1 = link.stats().telemetry_frames
    except SerialTimeout:
        return 0.0
    span = (last.uptime_ms - first.uptime_ms) / 1000.0
    return (n1 - n0) / span if span > 0 else 0.0


def check_link(rc: RealConfig, seconds: float = 1.0) -> list[Check]:
    """Port, firmware version, telemetry rate, command round trip, calibration, IMU, RC receiver."""
    from fastrlap.vehicle.serial_link import PortUnavailable, ProtocolVersionError

    port = rc.port
    if not port:
        return [
            Check(
                "port",
                "fail",
                "no serial port configured",
                "set vehicle.real.port=/dev/ttyUSB0 (see `ls /dev/ttyUSB* /dev/ttyACM*`)",
            )
        ]
    checks: list[Check] = []
    link = SerialLink(port, rc.baud, reconnect=False)
    try:
        try:
            ack = link.open()
        except PortUnavailable as exc:
            text, _, fix = str(exc).partition(": ")
            return [Check("port", "fail", text, fix or "check the cable and vehicle.real.port")]
        except ProtocolVersionError as exc:
            return [
                Check("port", "ok", f"{port} opened"),
                Check("firmware", "fail", str(exc).split(": reflash")[0], f"make -C firmware flash PORT={port}"),
            ]
        except SerialTimeout:
            return [
                Check("port", "ok", f"{port} opened"),
                Check(
                    "firmware",
                    "fail",
                    f"no HELLO_ACK from {port} within {link.open_timeout:.0f} s",
                    f"flash the fastrlap firmware (make -C firmware flash PORT={port}) and check "
                    f"vehicle.real.baud={rc.baud} matches it (115200)",
                ),
            ]
        checks.append(Check("port", "ok", f"{port} opened at {rc.baud} bit/s"))
        checks.append(
            Check(
                "firmware",
                "ok",
                f"fastrlap firmware {ack.fw_major}.{ack.fw_minor}, protocol v{ack.version}, "
                f"command watchdog {ack.cmd_timeout_ms} ms",
            )
        )
        rate = _telemetry_rate(link, seconds)
        want = ack.telemetry_hz or 50
        if rate >= 0.9 * want:
            checks.append(Check("telemetry", "ok", f"{rate:.1f} Hz (firmware sends {want} Hz)"))
        else:
            checks.append(
                Check(
                    "telemetry",
                    "fail",
                    f"{rate:.1f} Hz, firmware sends {want} Hz",
                    "use a shorter/better USB cable, close other programs on the port, check the baud",
                )
            )
        rtts = []
        for _ in range(10):
            start = time.monotonic()
            try:
                link.command_and_wait(0, 0, mode=p.CommandMode.NEUTRAL, timeout=0.5)
                rtts.append(time.monotonic() - start)
            except SerialTimeout:
                pass
        if len(rtts) < 8:
            checks.append(
                Check(
                    "round trip",
                    "fail",
                    f"{10 - len(rtts)} of 10 commands not acknowledged",
                    "check the cable and that nothing else writes to the port",
                )
            )
        else:
            med = 1000.0 * sorted(rtts)[len(rtts) // 2]
            fix = (
                ""
                if med <= 30
                else (f"FTDI adapters: echo 1 | sudo tee /sys/bus/usb-serial/devices/{Path(port).name}/latency_timer")
            )
            checks.append(
                Check("round trip", "ok" if med <= 30 else "warn", f"command -> telemetry median {med:.1f} ms", fix)
            )
        tm = link.latest_telemetry().telemetry
        cal = link.get_config().calibration
        if tm.faults & p.Fault.EEPROM_DEFAULTS and not rc.send_calibration:
            defaults = f"{p.PULSE_MIN_US}/{p.PULSE_NEUTRAL_US}/{p.PULSE_MAX_US} us"
            checks.append(
                Check(
                    "calibration",
                    "warn",
                    f"the firmware uses default pulses ({defaults}, no throttle cap)",
                    "calibrate once (docs/hardware.md, Calibration) or set vehicle.real.send_calibration=true",
                )
            )
        elif rc.send_calibration:
            own = calibration_from(rc)
            checks.append(
                Check(
                    "calibration",
                    "ok",
                    f"vehicle.real's pulses are sent at open: steer {own.steer_min_us}/"
                    f"{own.steer_center_us}/{own.steer_max_us} us, ESC {own.esc_min_us}/"
                    f"{own.esc_neutral_us}/{own.esc_max_us} us, throttle cap "
                    f"{own.throttle_limit} permille",
                )
            )
        else:
            checks.append(
                Check(
                    "calibration",
                    "ok",
                    f"from the firmware's EEPROM: steer {cal.steer_min_us}/"
                    f"{cal.steer_center_us}/{cal.steer_max_us} us, ESC {cal.esc_min_us}/"
                    f"{cal.esc_neutral_us}/{cal.esc_max_us} us, throttle cap "
                    f"{cal.throttle_limit} permille",
                )
            )
        if tm.flags & p.TelemetryFlag.IMU_PRESENT and not tm.faults & p.Fault.IMU_ERROR:
            checks.append(Check("imu", "ok", "MPU-6050 answering"))
        else:
            checks.append(
                Check(
                    "imu",
                    "warn",
                    "no IMU: yaw rate comes from the steering angle (slips, drifts)",
                    "wire an MPU-6050 to A4/A5 (docs/hardware.md) and power-cycle the board",
                )
            )
        if tm.flags & p.TelemetryFlag.RC_VALID:
            checks.append(
                Check(
                    "rc receiver",
                    "ok",
                    f"steer {tm.rc_steer_us} us, throttle {tm.rc_throttle_us} us, mode {tm.rc_mode_us} us",
                )
            )
        else:
            checks.append(
                Check(
                    "rc receiver",
                    "warn",
                    "no RC signal: you cannot take over or stop the car from the transmitter",
                    "switch the transmitter on and check the receiver wires on D4/D5/D6",
                )
            )
    finally:
        link.close()
    return checks


def check_camera(camera: Camera, seconds: float = 1.0, min_fps: float = 15.0) -> Check:
    """Frame rate and how old frames are when the loop reads them."""
    try:
        camera.open()
    except FastrlapError as exc:
        text = str(exc)
        head, sep, fix = text.partition(": ")
        return Check("camera", "fail", head if sep else text, fix or "check vehicle.real.camera.source")
    try:
        ages = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                ages.append(time.monotonic() - camera.latest().t)
            except CameraStalled as exc:
                return Check(
                    "camera", "fail", str(exc).split(": check")[0], "check the cable/driver; try another USB port"
                )
            time.sleep(0.1)
        stats = camera.stats()
        ages.sort()
        # the age of the newest frame when the loop reads it: the host-side part of camera latency
        # (exposure and USB transfer before the driver returns it are not visible from here)
        detail = (
            f"{camera.description}: {stats.fps:.1f} fps, newest frame {1000 * ages[len(ages) // 2]:.0f} ms old "
            f"when read (median)"
        )
        if stats.fps < min_fps:
            return Check(
                "camera",
                "fail",
                detail,
                f"below {min_fps:.0f} fps: lower the resolution or set vehicle.real.camera.fps",
            )
        return Check("camera", "ok", detail)
    finally:
        camera.close()


def check_pose(rc: RealConfig, seconds: float = 2.0) -> Check:
    """The configured absolute pose source delivers (odometry alone needs nothing)."""
    from fastrlap.vehicle.estimator import EstimatorError
    from fastrlap.vehicle.pose_auth import PoseKeyError

    source = rc.pose.source
    if source == "odometry":
        return Check(
            "pose",
            "warn",
            "odometry + IMU only: the estimate drifts over a long session",
            "for long practice add GPS outdoors (vehicle.real.pose.source=gps) or an external tracker indoors",
        )
    est = estimator_for(rc)
    try:
        if source == "gps":
            reader = NmeaGps(est, uere=rc.pose.gps_uere).start(rc.pose.gps_port, rc.pose.gps_baud)
        else:
            reader = external_pose_receiver(est, rc.pose)
    except PoseKeyError as exc:
        head, _, fix = str(exc).partition(": ")
        return Check("pose", "fail", head, fix)
    except EstimatorError as exc:
        return Check("pose", "fail", str(exc), f"fix vehicle.real.pose (source={source})")
    try:
        time.sleep(seconds)
        h = est.health(time.monotonic())
        if source == "gps":
            got = f"{reader.sentences} NMEA sentences ({reader.errors} bad)"
            fix = (
                "check vehicle.real.pose.gps_baud"
                if reader.errors and not reader.sentences
                else "give the antenna a view of the sky and wait for a fix"
            )
        else:
            got = f"{reader.messages} pose messages (rejected: {reader.rejections.describe()})"
            fix = (
                reader.last_error
                if reader.errors
                else f"send signed poses (docs/hardware.md, Pose sources) to UDP port {rc.pose.udp_port} on "
                f"{rc.pose.udp_host}"
            )
        if h.fixes == 0:
            return Check("pose", "fail", f"{source}: {got}, no fix in {seconds:.0f} s", fix)
        rate = h.fixes / seconds
        return Check("pose", "ok", f"{source}: {got}, {rate:.0f} fixes/s, position std {100 * h.pos_std:.1f} cm")
    finally:
        reader.close()
