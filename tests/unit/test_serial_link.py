"""SerialLink failure paths that need no firmware: one-line errors that name the port and the
fix, timeouts, and refusing a firmware with another protocol version. Everything the link does
against the real firmware is in tests/hil/."""

from __future__ import annotations

import os
import threading
import tty

import pytest

from fastrlap.errors import FastrlapError
from fastrlap.vehicle import protocol as p
from fastrlap.vehicle.serial_link import (
    ConfigRefused,
    PortUnavailable,
    ProtocolVersionError,
    SerialLink,
    SerialTimeout,
    describe_open_error,
)


def test_missing_port_is_one_line_naming_port_and_fix(tmp_path):
    port = str(tmp_path / "ttyUSB9")
    with pytest.raises(PortUnavailable) as err:
        SerialLink(port).open()
    msg = str(err.value)
    assert "\n" not in msg and port in msg and "plug in" in msg


def test_permission_and_busy_messages():
    assert "dialout" in describe_open_error("/dev/ttyACM0", PermissionError(13, "Permission denied"))
    assert "busy" in describe_open_error("/dev/ttyACM0", OSError(16, "Device or resource busy"))


@pytest.fixture
def pty_pair():
    master, slave = os.openpty()
    tty.setraw(slave)
    yield master, os.ttyname(slave)
    os.close(master)
    os.close(slave)


def test_silent_device_times_out_with_flash_hint(pty_pair):
    _, port = pty_pair
    link = SerialLink(port, open_timeout=0.3)
    with pytest.raises(SerialTimeout) as err:
        link.open()
    assert port in str(err.value) and "make -C firmware flash" in str(err.value)
    assert not link.connected


def _stand_in_firmware(master: int, stop: threading.Event, answer) -> None:
    """Reads frames from the port's other end and writes `answer(message)` back (None: nothing)."""
    dec = p.FrameDecoder()
    while not stop.is_set():
        try:
            data = os.read(master, 256)
        except OSError:
            return
        for frame in dec.feed(data):
            reply = answer(frame.msg)
            if reply is not None:
                os.write(master, p.encode_frame(0, reply))


def _hello_ack(version: int, msg: p.Message) -> p.HelloAck | None:
    if not isinstance(msg, p.Hello):
        return None
    return p.HelloAck(
        version=version, fw_major=9, fw_minor=1, caps=0, cmd_timeout_ms=250, telemetry_hz=50, reset_flags=1
    )


def _answer_hello(master: int, version: int, stop: threading.Event) -> None:
    """A stand-in for a firmware of another protocol version: answers every HELLO."""
    _stand_in_firmware(master, stop, lambda msg: _hello_ack(version, msg))


def test_other_protocol_version_is_refused(pty_pair):
    master, port = pty_pair
    stop = threading.Event()
    responder = threading.Thread(target=_answer_hello, args=(master, p.PROTOCOL_VERSION + 1, stop), daemon=True)
    responder.start()
    try:
        with pytest.raises(ProtocolVersionError) as err:
            SerialLink(port, open_timeout=2.0).open()
        assert f"v{p.PROTOCOL_VERSION + 1}" in str(err.value) and "reflash" in str(err.value)
    finally:
        stop.set()
        fd = os.open(port, os.O_WRONLY | os.O_NOCTTY)
        os.write(fd, b"\x00")  # wake the responder so it sees `stop`
        os.close(fd)


def _refuse_config(master: int, status: int, stop: threading.Event) -> None:
    """A stand-in firmware that shakes hands and answers every SET_CONFIG with `status`."""

    def answer(msg: p.Message) -> p.Message | None:
        if isinstance(msg, p.SetConfig):
            return p.Config(status=status, calibration=p.Calibration())
        return _hello_ack(p.PROTOCOL_VERSION, msg)

    _stand_in_firmware(master, stop, answer)


@pytest.mark.parametrize("status", sorted(p.CONFIG_REFUSALS))
def test_each_config_refusal_is_one_line_with_the_reason(pty_pair, status):
    master, port = pty_pair
    stop = threading.Event()
    threading.Thread(target=_refuse_config, args=(master, status, stop), daemon=True).start()
    link = SerialLink(port, open_timeout=2.0)
    try:
        link.open()
        with pytest.raises(ConfigRefused) as err:
            link.set_config(p.Calibration(), persist=False)
    finally:
        stop.set()
        link.close(send_neutral=True)  # the neutral command also wakes the responder
    msg = str(err.value)
    assert isinstance(err.value, FastrlapError)  # the CLI prints it as one line
    assert "\n" not in msg and port in msg and p.CONFIG_REFUSALS[status] in msg


def _telemetry(uptime_ms: int) -> p.Telemetry:
    return p.Telemetry(
        uptime_ms=uptime_ms,
        ack_seq=0,
        mode=p.Mode.AUTO,
        faults=0,
        flags=p.TelemetryFlag.SESSION,
        steer_us=1500,
        esc_us=1500,
        rc_steer_us=0,
        rc_throttle_us=0,
        rc_mode_us=0,
        wheel_ticks=0,
        wheel_period_us=0,
    )


def test_a_waiter_sees_every_frame_of_a_burst_not_only_its_last(pty_pair):
    # A busy host reads several telemetry frames at once; the frame a waiter wants may sit in the
    # middle of such a burst, and it must get that frame (with its own uptime), not the last one.
    master, port = pty_pair
    stop = threading.Event()
    threading.Thread(target=_answer_hello, args=(master, p.PROTOCOL_VERSION, stop), daemon=True).start()
    link = SerialLink(port, open_timeout=2.0)
    got: list[p.Telemetry] = []
    try:
        link.open()
        waiter = threading.Thread(
            target=lambda: got.append(link.wait_telemetry(lambda t: t.uptime_ms >= 1020, timeout=2.0)), daemon=True
        )
        waiter.start()
        threading.Event().wait(0.2)  # the waiter is waiting before the burst arrives
        os.write(master, b"".join(p.encode_frame(i, _telemetry(1000 + 20 * i)) for i in range(6)))
        waiter.join(timeout=3.0)
    finally:
        stop.set()
        link.close(send_neutral=True)
    assert [t.uptime_ms for t in got] == [1020]
