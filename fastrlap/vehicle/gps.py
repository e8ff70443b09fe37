"""GPS for the estimator: NMEA 0183 sentences (`parse_nmea`), a local metric frame around the first
fix (`LocalFrame`), and `NmeaGps`, the thread that reads a serial GPS and feeds each fix to an
`Estimator` as a position and, when moving, a course-over-ground heading.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

from fastrlap.vehicle.estimator import Estimator, EstimatorError, wrap_angle


# ---------------------------------------------------------------------- GPS (NMEA 0183)
@dataclass(frozen=True)
class GgaFix:
    """$--GGA: position fix."""

    lat: float  # degrees, north positive
    lon: float  # degrees, east positive
    quality: int  # 0 invalid, 1 GPS, 2 DGPS, 4 RTK fixed, 5 RTK float, ...
    satellites: int
    hdop: float


@dataclass(frozen=True)
class RmcFix:
    """$--RMC: recommended minimum (position, speed, course)."""

    valid: bool  # status A
    lat: float
    lon: float
    speed: float  # m/s over ground
    course: float | None  # degrees true, clockwise from north; None when empty


def _checksum_ok(body: str, given: str) -> bool:
    value = 0
    for ch in body:
        value ^= ord(ch)
    try:
        return value == int(given, 16)
    except ValueError:
        return False


def _latlon(value: str, hemi: str, degree_digits: int) -> float:
    if not value:
        raise EstimatorError("empty coordinate")
    deg = float(value[:degree_digits])
    minutes = float(value[degree_digits:])
    out = deg + minutes / 60.0
    return -out if hemi in ("S", "W") else out


def parse_nmea(line: str) -> GgaFix | RmcFix | None:
    """One NMEA 0183 sentence -> a fix, or None for sentence types we do not use.

    Raises `EstimatorError` for a bad checksum or a malformed GGA/RMC sentence."""
    text = line.strip()
    if not text.startswith("$"):
        raise EstimatorError(f"not an NMEA sentence: {text[:40]!r}")
    body, star, checksum = text[1:].partition("*")
    if not star or not _checksum_ok(body, checksum[:2]):
        raise EstimatorError(f"NMEA checksum mismatch in {text[:40]!r}: check the GPS baud rate")
    f = body.split(",")
    kind = f[0][2:] if len(f[0]) == 5 else f[0]
    try:
        if kind == "GGA":
            quality = int(f[6] or 0)
            if quality == 0:
                return GgaFix(
                    lat=math.nan, lon=math.nan, quality=0, satellites=int(f[7] or 0), hdop=float(f[8] or "nan")
                )
            return GgaFix(
                lat=_latlon(f[2], f[3], 2),
                lon=_latlon(f[4], f[5], 3),
                quality=quality,
                satellites=int(f[7] or 0),
                hdop=float(f[8] or "nan"),
            )
        if kind == "RMC":
            valid = f[2] == "A"
            if not valid:
                return RmcFix(valid=False, lat=math.nan, lon=math.nan, speed=0.0, course=None)
            return RmcFix(
                valid=True,
                lat=_latlon(f[3], f[4], 2),
                lon=_latlon(f[5], f[6], 3),
                speed=float(f[7] or 0.0) * 1852.0 / 3600.0,
                course=float(f[8]) if f[8] else None,
            )
    except (IndexError, ValueError) as exc:
        raise EstimatorError(f"malformed NMEA {kind} sentence {text[:40]!r}: {exc}") from None
    return None


class LocalFrame:
    """Latitude/longitude -> metres east (x) and north (y) of an origin (local tangent plane).

    Uses the WGS-84 radii of curvature at the origin; over a few hundred metres the error is
    millimetres, far below GPS noise."""

    A = 6378137.0
    E2 = 6.69437999014e-3

    def __init__(self, lat0: float, lon0: float) -> None:
        self.lat0, self.lon0 = lat0, lon0
        phi = math.radians(lat0)
        w = 1.0 - self.E2 * math.sin(phi) ** 2
        self.m_per_rad_north = self.A * (1.0 - self.E2) / w**1.5
        self.m_per_rad_east = self.A / math.sqrt(w) * math.cos(phi)

    def to_local(self, lat: float, lon: float) -> tuple[float, float]:
        return (
            math.radians(wrap_angle_deg(lon - self.lon0)) * self.m_per_rad_east,
            math.radians(lat - self.lat0) * self.m_per_rad_north,
        )

    def to_latlon(self, x: float, y: float) -> tuple[float, float]:
        return (self.lat0 + math.degrees(y / self.m_per_rad_north), self.lon0 + math.degrees(x / self.m_per_rad_east))


def wrap_angle_deg(a: float) -> float:
    return (a + 180.0) % 360.0 - 180.0


class NmeaGps:
    """Feeds GGA positions (and RMC course over ground while moving) into an estimator.

    `handle(line, t)` does the work (tests call it directly); `start(port, baud)` runs it on the
    lines of a serial GPS in a thread. The first valid fix is the origin of the local frame
    unless `origin` (lat, lon) is given. Position std = `uere · HDOP` (m)."""

    def __init__(
        self,
        estimator: Estimator,
        origin: tuple[float, float] | None = None,
        uere: float = 2.5,
        min_course_speed: float = 1.0,
        clock=time.monotonic,
    ) -> None:
        self.estimator = estimator
        self.frame = LocalFrame(*origin) if origin else None
        self.uere = uere
        self.min_course_speed = min_course_speed
        self.clock = clock
        self.sentences = 0
        self.errors = 0
        self.last_error = ""
        self.last_fix: GgaFix | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._ser = None

    def handle(self, line: str, t: float) -> None:
        try:
            fix = parse_nmea(line)
        except EstimatorError as exc:
            self.errors += 1
            self.last_error = str(exc)
            return
        self.sentences += 1
        if isinstance(fix, GgaFix):
            self.last_fix = fix
            if fix.quality == 0 or not math.isfinite(fix.hdop):
                return
            if self.frame is None:
                self.frame = LocalFrame(fix.lat, fix.lon)
            x, y = self.frame.to_local(fix.lat, fix.lon)
            self.estimator.update_position(t, x, y, max(self.uere * fix.hdop, 0.02))
        elif isinstance(fix, RmcFix) and fix.valid and fix.course is not None and fix.speed >= self.min_course_speed:
            # course is clockwise from north; our yaw is counter-clockwise from east (x)
            yaw = wrap_angle(math.radians(90.0 - fix.course))
            self.estimator.update_heading(t, yaw, std=min(0.5, 0.3 / fix.speed))

    def start(self, port: str, baudrate: int = 9600) -> NmeaGps:
        import serial

        from fastrlap.vehicle.serial_link import describe_open_error

        try:
            self._ser = serial.Serial(port, baudrate, timeout=0.2)
        except (serial.SerialException, OSError) as exc:
            raise EstimatorError("GPS: " + describe_open_error(port, exc)) from None
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"gps {port}", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        import serial

        while not self._stop.is_set():
            try:
                raw = self._ser.readline()
            except (serial.SerialException, OSError, TypeError) as exc:
                self.errors += 1
                self.last_error = f"GPS port read failed: {exc}"
                self._stop.wait(0.5)
                continue
            if raw:
                self.handle(raw.decode("ascii", errors="replace"), self.clock())

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
            self._thread = None
        if self._ser is not None:
            self._ser.close()
            self._ser = None
