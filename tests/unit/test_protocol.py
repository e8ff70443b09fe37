"""The Python codec (fastrlap/vehicle/protocol.py) against the shared firmware test vectors and
against its own invariants. firmware/tests/test_core.c checks the same vector file in C."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest

from fastrlap.vehicle import protocol as p

VECTORS = Path(__file__).resolve().parents[2] / "firmware" / "test_vectors.txt"
HEADER = Path(__file__).resolve().parents[2] / "firmware" / "src" / "protocol.h"

CLASSES = {
    "hello": p.Hello,
    "command": p.CommandMessage,
    "heartbeat": p.Heartbeat,
    "set_config": p.SetConfig,
    "get_config": p.GetConfig,
    "confirm_config": p.ConfirmConfig,
    "hello_ack": p.HelloAck,
    "telemetry": p.Telemetry,
    "heartbeat_ack": p.HeartbeatAck,
    "config": p.Config,
    "fault": p.FaultReport,
}
CAL_FIELDS = set(p.Calibration.__dataclass_fields__) - {"FORMAT"}


def vector_lines(kind: str) -> list[str]:
    lines = [ln.strip() for ln in VECTORS.read_text().splitlines()]
    return [ln for ln in lines if ln.startswith(kind + " ")]


def build(name: str, fields: dict[str, str]) -> p.Message:
    values = {k: (tuple(int(x) for x in v.split(",")) if "," in v else int(v)) for k, v in fields.items()}
    if name in ("set_config", "confirm_config", "config"):
        cal = {k: values.pop(k) for k in list(values) if k in CAL_FIELDS}
        values["calibration"] = p.Calibration(**cal)
    if "persist" in values:
        values["persist"] = bool(values["persist"])
    return CLASSES[name](**values)


def parse_frame(line: str) -> tuple[int, p.Message, bytes]:
    left, wire = line.split(" -> ")
    _, name, *pairs = left.split()
    fields = dict(pair.split("=", 1) for pair in pairs)
    seq = int(fields.pop("seq"))
    return seq, build(name, fields), bytes.fromhex(wire)


def test_vector_file_covers_every_message_type():
    names = {line.split()[1] for line in vector_lines("frame")}
    assert names == set(CLASSES)


@pytest.mark.parametrize("line", vector_lines("frame"), ids=lambda s: s.split()[1])
def test_frames_match_vectors_byte_for_byte(line):
    seq, msg, wire = parse_frame(line)
    assert p.encode_frame(seq, msg) == wire
    assert wire[0] == 0 and wire[-1] == 0 and 0 not in wire[1:-1]
    frame = p.decode_frame(wire[1:-1])
    assert frame.seq == seq and frame.msg == msg


@pytest.mark.parametrize("line", vector_lines("crc16"))
def test_crc_vectors(line):
    _, data, crc = line.split()
    assert p.crc16_ccitt_false(bytes.fromhex(data)) == int(crc, 16)


@pytest.mark.parametrize("line", vector_lines("cobs"), ids=lambda s: s.split()[1][:12])
def test_cobs_vectors(line):
    _, raw, enc = line.split()
    assert p.cobs_encode(bytes.fromhex(raw)) == bytes.fromhex(enc)
    assert p.cobs_decode(bytes.fromhex(enc)) == bytes.fromhex(raw)


@pytest.mark.parametrize("line", vector_lines("stream"), ids=lambda s: s.split()[1][:12])
def test_stream_vectors(line):
    left, counts = line.split(" -> ")
    want = dict((k, int(v)) for k, v in (c.split("=") for c in counts.split()))
    dec = p.FrameDecoder()
    frames = dec.feed(bytes.fromhex(left.split()[1]))
    assert (len(frames), dec.crc_errors, dec.framing_errors) == (want["frames"], want["crc"], want["framing"])


def test_body_sizes_agree_with_the_c_header():
    header = HEADER.read_text()
    defines = {}
    for line in header.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "#define" and parts[1].startswith("BODY_"):
            defines[parts[1]] = "".join(parts[2:])

    def size(name: str) -> int:
        expr = defines[name].strip("()")
        return sum(int(t) if t.isdigit() else size(t) for t in expr.replace(" ", "").split("+"))

    for name, cls in CLASSES.items():
        assert struct.calcsize(cls.FORMAT) == size("BODY_" + name.upper()), name
    assert f"#define PROTO_VERSION {p.PROTOCOL_VERSION}" in header
    assert f"#define PROTO_MAX_BODY {p.MAX_BODY}" in header


def test_random_messages_round_trip_and_survive_noise():
    rng = random.Random(7)
    dec = p.FrameDecoder()
    sent = []
    stream = bytearray()
    for seq in range(300):
        msg = p.CommandMessage(
            throttle=rng.randint(-1000, 1000), steer=rng.randint(-1000, 1000), mode=rng.randint(0, 1)
        )
        sent.append(msg)
        stream += p.encode_frame(seq, msg)
        if seq % 10 == 5:  # line noise between frames, closed by a delimiter
            stream += bytes(rng.randrange(1, 256) for _ in range(rng.randint(1, 80))) + b"\x00"
    got = []
    for i in range(0, len(stream), 7):  # arbitrary chunking, as serial reads arrive
        got += [f.msg for f in dec.feed(bytes(stream[i : i + 7]))]
    assert got == sent
    assert dec.crc_errors + dec.framing_errors == 30


def test_noise_without_a_delimiter_does_not_cost_the_next_frame():
    """Line noise that never ends in 0x00 (a glitch, a sender killed mid-frame) is closed by the
    next frame's leading delimiter: the noise is counted as one bad frame, the frame arrives."""
    rng = random.Random(5)
    for trial in range(200):
        dec = p.FrameDecoder()
        noise = bytes(rng.randrange(1, 256) for _ in range(rng.randint(1, 70)))
        msg = p.CommandMessage(throttle=trial, steer=-trial)
        frames = dec.feed(noise + p.encode_frame(trial, msg))
        assert [f.msg for f in frames] == [msg], trial
        assert dec.crc_errors + dec.framing_errors == 1


def test_single_bit_flips_are_caught():
    wire = p.encode_frame(3, p.CommandMessage(throttle=123, steer=-45))
    for i in range(len(wire) - 1):
        for bit in range(8):
            bad = bytearray(wire)
            bad[i] ^= 1 << bit
            dec = p.FrameDecoder()
            assert dec.feed(bytes(bad)) == [] or bad[i] == 0, (i, bit)


def test_errors_are_specific():
    with pytest.raises(p.CrcError):
        p.decode_frame(bytes.fromhex("040702fa0618fc017db7"))
    with pytest.raises(p.FrameError, match="unknown message type"):
        raw = bytes([1, 0x7E])
        p.decode_frame(p.cobs_encode(raw + struct.pack("<H", p.crc16_ccitt_false(raw))))
    with pytest.raises(ValueError, match="out of range"):
        p.encode_frame(0, p.CommandMessage(throttle=40000, steer=0))


def test_a_frame_error_that_escapes_is_printed_as_one_line():
    from fastrlap.errors import FastrlapError

    with pytest.raises(FastrlapError):  # the CLI's one-line handler catches it, no traceback
        p.decode_frame(b"\x01")
    assert issubclass(p.CrcError, FastrlapError) and issubclass(p.FrameError, ValueError)


def test_pulse_mapping_matches_the_firmware_rules():
    cal = p.Calibration(
        steer_min_us=1100,
        steer_center_us=1450,
        steer_max_us=1900,
        esc_min_us=1200,
        esc_neutral_us=1520,
        esc_max_us=1800,
        throttle_limit=500,
        flags=p.CalFlag.REVERSE_STEER,
    )
    # the same numbers firmware/tests/test_core.c asserts for calib_mix / MODE_AUTO
    assert cal.auto_pulses(throttle=1000, steer=1000) == (1100, 1660)
    assert cal.auto_pulses(throttle=-1000, steer=0) == (1450, 1360)
    assert p.pulse_for(333, 1000, 1500, 2000) == 1667 and p.pulse_for(-333, 1000, 1500, 2000) == 1333
    assert p.Calibration().teleop_pulses(1800, 1600) == (1800, 1600)


def firmware_defines() -> dict[str, int]:
    """Every `#define NAME <integer>` in the firmware's headers."""
    defines = {}
    for header in sorted(HEADER.parent.glob("*.h")):
        for line in header.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "#define" and parts[2].isdigit():
                defines[parts[1]] = int(parts[2])
    return defines


def test_pulse_constants_agree_with_the_firmware_headers():
    fw = firmware_defines()
    assert (p.PULSE_MIN_US, p.PULSE_MAX_US) == (fw["PULSE_MIN_US"], fw["PULSE_MAX_US"])
    assert p.PULSE_NEUTRAL_US == fw["RC_NEUTRAL_US"]
    assert p.CENTRE_BAND_US == (fw["CENTRE_MIN_US"], fw["CENTRE_MAX_US"])
    assert p.PULSE_NEUTRAL_US - p.PULSE_HALF_RANGE_US == p.PULSE_MIN_US
    assert p.PULSE_NEUTRAL_US + p.PULSE_HALF_RANGE_US == p.PULSE_MAX_US


def test_rc_pulses_map_to_fractions_and_permille_as_the_firmware_reads_them():
    assert p.rc_permille(p.PULSE_NEUTRAL_US) == 0
    assert p.rc_permille(1750) == 500 and p.rc_permille(1249) == -502  # 2 permille per us
    assert p.rc_permille(2200) == 1000 and p.rc_permille(800) == -1000  # beyond full scale: clamped
    assert p.pulse_fraction(1750.0) == 0.5 and p.pulse_fraction(900.0) == -1.0
    for fraction in (-1.0, -0.37, 0.0, 0.5, 1.0):
        assert p.pulse_fraction(p.pulse_width(fraction)) == pytest.approx(fraction, abs=1 / p.PULSE_HALF_RANGE_US)
    assert p.pulse_width(3.0) == p.PULSE_MAX_US
