"""The serial wire format shared with the firmware (docs/protocol.md is the spec).

A frame on the wire is ``b"\\x00" + COBS(seq, type, body..., crc_lo, crc_hi) + b"\\x00"``. The CRC is
CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor) over seq, type and
body; every field is little-endian. ``firmware/src/protocol.h`` packs the same layouts and
``firmware/test_vectors.txt`` holds frames both sides must produce byte for byte.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field, fields
from enum import IntEnum, IntFlag
from typing import ClassVar

from fastrlap.actions import clamp
from fastrlap.errors import FastrlapError

PROTOCOL_VERSION = 2
DELIMITER = 0x00
MAX_BODY = 48  # bytes; firmware PROTO_MAX_BODY
MAX_ENCODED = MAX_BODY + 4 + 1  # COBS of seq+type+body+crc (one overhead byte below 254)

# RC pulse widths (us), the firmware's numbers: calib.h PULSE_MIN_US / PULSE_MAX_US bound every
# calibrated pulse, core.h RC_NEUTRAL_US is the receiver's centre. A unit test reads the headers
# and fails if the two sides disagree.
PULSE_MIN_US = 1000
PULSE_MAX_US = 2000
PULSE_NEUTRAL_US = 1500
PULSE_HALF_RANGE_US = (PULSE_MAX_US - PULSE_MIN_US) // 2  # neutral ± this is full scale (±1000 permille)
PERMILLE_FULL = 1000  # COMMAND throttle and steer, and the calibration's mixing, are permille of full scale


class FrameError(FastrlapError, ValueError):
    """A frame that cannot be decoded (bad COBS, too short, unknown type or wrong length).

    The link skips such frames and counts them; one that escapes to the command line is printed
    as one line like every other error the user can act on (a cable, a firmware version)."""


class CrcError(FrameError):
    """A frame whose CRC does not match its contents."""


class MsgType(IntEnum):
    HELLO = 0x01
    COMMAND = 0x02
    HEARTBEAT = 0x03
    SET_CONFIG = 0x04
    GET_CONFIG = 0x05
    CONFIRM_CONFIG = 0x06
    HELLO_ACK = 0x81
    TELEMETRY = 0x82
    HEARTBEAT_ACK = 0x83
    CONFIG = 0x84
    FAULT = 0x85


class CommandMode(IntEnum):
    NEUTRAL = 0
    DRIVE = 1


class Mode(IntEnum):
    """The firmware's safety state, reported in every telemetry frame."""

    NEUTRAL = 0  # no fresh host command: throttle neutral, steering held
    AUTO = 1  # host commands drive the car
    TELEOP = 2  # RC passthrough (mode switch on or sticks moved): the human wins
    FAILSAFE = 3  # RC lost while a human was driving: neutral throttle, steering centred


class Fault(IntFlag):
    CMD_TIMEOUT = 1 << 0
    RC_LOST = 1 << 1
    EEPROM_DEFAULTS = 1 << 2
    WDT_RESET = 1 << 3
    RX_OVERFLOW = 1 << 4
    IMU_ERROR = 1 << 5


class TelemetryFlag(IntFlag):
    IMU_PRESENT = 1 << 0
    SESSION = 1 << 1
    RC_VALID = 1 << 2


class Capability(IntFlag):
    IMU = 1 << 0
    EEPROM_CONFIG = 1 << 1


class ConfigStatus(IntEnum):
    """What became of a SET_CONFIG or CONFIRM_CONFIG (CONFIG's status byte)."""

    OK = 0  # applied, not stored (and the answer to GET_CONFIG)
    INVALID = 1  # a pulse outside 1000..2000 us, out of order, or throttle_limit > 1000
    CENTRE_OUT_OF_BAND = 2  # steering centre or ESC neutral outside 1450..1550 us
    NO_SESSION = 3
    RC_OVERRIDE = 4  # TELEOP or FAILSAFE: the transmitter owns the outputs
    PENDING = 5  # applied; stored once CONFIRM_CONFIG echoes it within 2 s
    STORED = 6
    NOT_PENDING = 7  # CONFIRM_CONFIG without a matching, unexpired SET_CONFIG
    STORE_FAILED = 8  # the EEPROM did not read back what was written


CENTRE_BAND_US = (1450, 1550)  # steering centre and ESC neutral: the firmware refuses others
CONFIRM_WINDOW_S = 2.0  # CONFIRM_CONFIG must follow its SET_CONFIG within this

# Why the firmware refused, and what to do: the text behind each refusal status.
CONFIG_REFUSALS: dict[int, str] = {
    ConfigStatus.INVALID: (
        "every pulse must satisfy 1000 <= min <= centre <= max <= 2000 us, with "
        "throttle_limit <= 1000 and only the two reverse flags"
    ),
    ConfigStatus.CENTRE_OUT_OF_BAND: (
        f"steer_center_us and esc_neutral_us must lie within "
        f"{CENTRE_BAND_US[0]}-{CENTRE_BAND_US[1]} us (they are what the car "
        f"outputs whenever it stops): calibrate the ESC's neutral first"
    ),
    ConfigStatus.NO_SESSION: "no session is open: send HELLO first (SerialLink.open() does)",
    ConfigStatus.RC_OVERRIDE: (
        "the RC transmitter has the car (TELEOP or FAILSAFE): put the mode switch on "
        "auto, centre the sticks, keep the transmitter on, and retry after a second"
    ),
    ConfigStatus.NOT_PENDING: (
        f"nothing to store: the confirmation must echo the calibration just set with "
        f"persist, within {CONFIRM_WINDOW_S:.0f} s and in the same session"
    ),
    ConfigStatus.STORE_FAILED: (
        "the EEPROM did not read back what was written (worn or faulty board): the "
        "calibration applies until the next reset only"
    ),
}


class CalFlag(IntFlag):
    REVERSE_STEER = 1 << 0
    REVERSE_THROTTLE = 1 << 1


def crc16_ccitt_false(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def cobs_encode(data: bytes) -> bytes:
    out = bytearray([0])
    code_at, code = 0, 1
    for i, byte in enumerate(data):
        if byte == 0:
            out[code_at] = code
            code_at, code = len(out), 1
            out.append(0)
            continue
        out.append(byte)
        code += 1
        if code == 0xFF and i + 1 < len(data):
            out[code_at] = code
            code_at, code = len(out), 1
            out.append(0)
    out[code_at] = code
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(data):
        code = data[i]
        i += 1
        if code == 0 or i + code - 1 > len(data):
            raise FrameError(f"malformed COBS block at byte {i - 1}")
        block = data[i : i + code - 1]
        if 0 in block:
            raise FrameError("zero byte inside a COBS block")
        out += block
        i += code - 1
        if code != 0xFF and i < len(data):
            out.append(0)
    return bytes(out)


def pulse_fraction(width_us: float) -> float:
    """An RC pulse width as a fraction of full scale in [-1, 1]: neutral ± `PULSE_HALF_RANGE_US`."""
    return clamp((width_us - PULSE_NEUTRAL_US) / PULSE_HALF_RANGE_US, -1.0, 1.0)


def pulse_width(fraction: float) -> int:
    """The RC pulse width (us) for a fraction of full scale (clamped to [-1, 1]); `pulse_fraction`'s inverse."""
    return int(round(PULSE_NEUTRAL_US + PULSE_HALF_RANGE_US * clamp(fraction, -1.0, 1.0)))


def rc_permille(width_us: int) -> int:
    """A receiver pulse as permille of full scale, as the firmware reads an RC channel."""
    return int(round(PERMILLE_FULL * pulse_fraction(width_us)))


def pulse_for(permille: int, min_us: int, mid_us: int, max_us: int) -> int:
    """Permille -> pulse width exactly as the firmware's ``calib_mix`` computes it (us)."""
    p = int(clamp(int(permille), -PERMILLE_FULL, PERMILLE_FULL))
    half = PERMILLE_FULL // 2  # rounds to the nearest microsecond in integer arithmetic
    if p >= 0:
        return mid_us + ((max_us - mid_us) * p + half) // PERMILLE_FULL
    return mid_us - ((mid_us - min_us) * -p + half) // PERMILLE_FULL


@dataclass(frozen=True)
class Calibration:
    """Output pulse end points (us), the AUTO throttle cap (permille) and direction flags."""

    steer_min_us: int = PULSE_MIN_US
    steer_center_us: int = PULSE_NEUTRAL_US
    steer_max_us: int = PULSE_MAX_US
    esc_min_us: int = PULSE_MIN_US
    esc_neutral_us: int = PULSE_NEUTRAL_US
    esc_max_us: int = PULSE_MAX_US
    throttle_limit: int = 1000  # permille of full throttle allowed in AUTO
    flags: int = 0  # CalFlag

    FORMAT: ClassVar[str] = "<HHHHHHHB"

    def values(self) -> tuple[int, ...]:
        return (
            self.steer_min_us,
            self.steer_center_us,
            self.steer_max_us,
            self.esc_min_us,
            self.esc_neutral_us,
            self.esc_max_us,
            self.throttle_limit,
            self.flags,
        )

    def auto_pulses(self, throttle: int, steer: int) -> tuple[int, int]:
        """(steer_us, esc_us) the firmware outputs in AUTO for a COMMAND's permille values."""
        lim = self.throttle_limit
        thr = max(-lim, min(lim, throttle))
        if self.flags & CalFlag.REVERSE_THROTTLE:
            thr = -thr
        if self.flags & CalFlag.REVERSE_STEER:
            steer = -steer
        return (
            pulse_for(steer, self.steer_min_us, self.steer_center_us, self.steer_max_us),
            pulse_for(thr, self.esc_min_us, self.esc_neutral_us, self.esc_max_us),
        )

    def teleop_pulses(self, rc_steer_us: int, rc_throttle_us: int) -> tuple[int, int]:
        """(steer_us, esc_us) the firmware outputs in TELEOP for RC pulse widths."""

        return (
            pulse_for(rc_permille(rc_steer_us), self.steer_min_us, self.steer_center_us, self.steer_max_us),
            pulse_for(rc_permille(rc_throttle_us), self.esc_min_us, self.esc_neutral_us, self.esc_max_us),
        )


# ---- messages: each knows its type byte and body layout ------------------------------------


@dataclass(frozen=True)
class Hello:
    version: int = PROTOCOL_VERSION
    TYPE: ClassVar[MsgType] = MsgType.HELLO
    FORMAT: ClassVar[str] = "<B"


@dataclass(frozen=True)
class CommandMessage:
    """The COMMAND frame: throttle and steering in permille of full scale (-1000..1000; positive
    steer = left). Named apart from `fastrlap.types.Command` (m/s and rad), which `RealVehicle`
    turns into this."""

    throttle: int
    steer: int
    mode: int = CommandMode.DRIVE
    TYPE: ClassVar[MsgType] = MsgType.COMMAND
    FORMAT: ClassVar[str] = "<hhB"


@dataclass(frozen=True)
class Heartbeat:
    TYPE: ClassVar[MsgType] = MsgType.HEARTBEAT
    FORMAT: ClassVar[str] = "<"


@dataclass(frozen=True)
class SetConfig:
    calibration: Calibration
    persist: bool = True  # also store it in EEPROM, once a ConfirmConfig echoes it
    TYPE: ClassVar[MsgType] = MsgType.SET_CONFIG
    FORMAT: ClassVar[str] = Calibration.FORMAT + "B"


@dataclass(frozen=True)
class ConfirmConfig:
    """Store the calibration a SET_CONFIG with persist just applied: an echo of it (the firmware
    stores nothing on a mismatch), sent within `CONFIRM_WINDOW_S`."""

    calibration: Calibration
    TYPE: ClassVar[MsgType] = MsgType.CONFIRM_CONFIG
    FORMAT: ClassVar[str] = Calibration.FORMAT


@dataclass(frozen=True)
class GetConfig:
    TYPE: ClassVar[MsgType] = MsgType.GET_CONFIG
    FORMAT: ClassVar[str] = "<"


@dataclass(frozen=True)
class HelloAck:
    version: int
    fw_major: int
    fw_minor: int
    caps: int  # Capability
    cmd_timeout_ms: int
    telemetry_hz: int
    reset_flags: int  # the AVR's MCUSR at boot (bit 3 = watchdog reset)
    TYPE: ClassVar[MsgType] = MsgType.HELLO_ACK
    FORMAT: ClassVar[str] = "<BBBBHBB"


@dataclass(frozen=True)
class Telemetry:
    uptime_ms: int
    ack_seq: int  # seq of the last COMMAND the firmware accepted
    mode: int  # Mode
    faults: int  # Fault
    flags: int  # TelemetryFlag
    steer_us: int  # pulse widths being output
    esc_us: int
    rc_steer_us: int  # RC receiver pulses, 0 = no valid signal
    rc_throttle_us: int
    rc_mode_us: int
    wheel_ticks: int
    wheel_period_us: int  # between the last two encoder ticks, 0 = stopped
    accel: tuple[int, int, int] = (0, 0, 0)  # MPU-6050 raw counts, +-4 g range (8192 / g)
    gyro: tuple[int, int, int] = (0, 0, 0)  # raw counts, +-500 deg/s range (65.5 / deg/s)
    rx_bad_frames: int = 0
    TYPE: ClassVar[MsgType] = MsgType.TELEMETRY
    FORMAT: ClassVar[str] = "<IBBHBHHHHHIIhhhhhhH"


@dataclass(frozen=True)
class HeartbeatAck:
    echo_seq: int
    TYPE: ClassVar[MsgType] = MsgType.HEARTBEAT_ACK
    FORMAT: ClassVar[str] = "<B"


@dataclass(frozen=True)
class Config:
    status: int  # ConfigStatus
    calibration: Calibration
    TYPE: ClassVar[MsgType] = MsgType.CONFIG
    FORMAT: ClassVar[str] = "<B" + Calibration.FORMAT[1:]


@dataclass(frozen=True)
class FaultReport:
    fault: int  # the Fault bit that just became active
    uptime_ms: int
    TYPE: ClassVar[MsgType] = MsgType.FAULT
    FORMAT: ClassVar[str] = "<HI"


Message = (
    Hello
    | CommandMessage
    | Heartbeat
    | SetConfig
    | ConfirmConfig
    | GetConfig
    | HelloAck
    | Telemetry
    | HeartbeatAck
    | Config
    | FaultReport
)
MESSAGES: dict[int, type] = {cls.TYPE: cls for cls in Message.__args__}


def pack_body(msg: Message) -> bytes:
    if isinstance(msg, SetConfig):
        values = (*msg.calibration.values(), int(msg.persist))
    elif isinstance(msg, ConfirmConfig):
        values = msg.calibration.values()
    elif isinstance(msg, Config):
        values = (msg.status, *msg.calibration.values())
    elif isinstance(msg, Telemetry):
        values = (
            msg.uptime_ms,
            msg.ack_seq,
            msg.mode,
            msg.faults,
            msg.flags,
            msg.steer_us,
            msg.esc_us,
            msg.rc_steer_us,
            msg.rc_throttle_us,
            msg.rc_mode_us,
            msg.wheel_ticks,
            msg.wheel_period_us,
            *msg.accel,
            *msg.gyro,
            msg.rx_bad_frames,
        )
    else:
        values = tuple(int(getattr(msg, f.name)) for f in fields(msg))
    try:
        return struct.pack(msg.FORMAT, *values)
    except struct.error as exc:
        raise ValueError(f"{type(msg).__name__} field out of range: {exc}") from None


def unpack_body(msg_type: int, body: bytes) -> Message:
    cls = MESSAGES.get(msg_type)
    if cls is None:
        raise FrameError(f"unknown message type 0x{msg_type:02x}")
    if len(body) != struct.calcsize(cls.FORMAT):
        raise FrameError(f"{cls.__name__} body is {len(body)} bytes, expected {struct.calcsize(cls.FORMAT)}")
    v = struct.unpack(cls.FORMAT, body)
    if cls is SetConfig:
        return SetConfig(calibration=Calibration(*v[:8]), persist=bool(v[8]))
    if cls is ConfirmConfig:
        return ConfirmConfig(calibration=Calibration(*v))
    if cls is Config:
        return Config(status=v[0], calibration=Calibration(*v[1:]))
    if cls is Telemetry:
        return Telemetry(*v[:12], accel=tuple(v[12:15]), gyro=tuple(v[15:18]), rx_bad_frames=v[18])
    return cls(*v)


@dataclass(frozen=True)
class Frame:
    seq: int
    msg: Message


def encode_frame(seq: int, msg: Message) -> bytes:
    """One complete wire frame: ``0x00 + COBS(...) + 0x00``.

    The leading delimiter closes whatever line noise reached the receiver before this frame (a
    glitch on the cable, a half-written frame from a process that died), so the noise is
    dropped on its own and this frame arrives intact; without it the noise and the frame would
    decode as one corrupt frame and the command would be lost. Receivers ignore the empty frame
    the two delimiters between consecutive frames make."""
    raw = bytes([seq & 0xFF, int(msg.TYPE)]) + pack_body(msg)
    raw += struct.pack("<H", crc16_ccitt_false(raw))
    return b"\x00" + cobs_encode(raw) + b"\x00"


def decode_frame(encoded: bytes) -> Frame:
    """Decode the bytes between two delimiters (no 0x00 inside)."""
    raw = cobs_decode(encoded)
    if len(raw) < 4:
        raise FrameError(f"frame too short ({len(raw)} bytes decoded)")
    (crc,) = struct.unpack("<H", raw[-2:])
    if crc16_ccitt_false(raw[:-2]) != crc:
        raise CrcError(f"CRC mismatch (got 0x{crc:04x})")
    return Frame(seq=raw[0], msg=unpack_body(raw[1], raw[2:-2]))


@dataclass
class FrameDecoder:
    """Streaming receiver: feed arbitrary chunks, get whole frames; resyncs on every 0x00.

    Bytes that cannot form a frame are counted, never raised, so line noise cannot stop the
    reader (the firmware's parser behaves the same way)."""

    frames_ok: int = 0
    crc_errors: int = 0
    framing_errors: int = 0
    _buf: bytearray = field(default_factory=bytearray)
    _overflow: bool = False

    def feed(self, data: bytes) -> list[Frame]:
        frames: list[Frame] = []
        for byte in data:
            if byte != DELIMITER:
                if len(self._buf) >= MAX_ENCODED:
                    self._overflow = True
                else:
                    self._buf.append(byte)
                continue
            if self._overflow:
                self.framing_errors += 1
            elif self._buf:
                try:
                    frames.append(decode_frame(bytes(self._buf)))
                    self.frames_ok += 1
                except CrcError:
                    self.crc_errors += 1
                except FrameError:
                    self.framing_errors += 1
            self._buf.clear()
            self._overflow = False
        return frames
