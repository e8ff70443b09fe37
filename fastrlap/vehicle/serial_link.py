"""Host side of the firmware link: pyserial transport with a reader thread (docs/protocol.md).

`SerialLink` owns the port. A background thread reads and decodes frames, keeps the newest
telemetry, matches replies to requests, sends heartbeats while the caller is quiet, and reopens
the port with exponential backoff when it disappears (USB unplugged, board reset), repeating the
HELLO handshake each time. Callers block on replies with a timeout and get `SerialTimeout`.

The firmware owns safety: if this process freezes or the link drops, the car's throttle goes
neutral 250 ms after the last COMMAND. `close()` (and leaving a `with` block) sends a neutral
command first, so the usual stop path does not even wait for that watchdog.
"""

from __future__ import annotations

import errno
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import serial

from fastrlap.errors import FastrlapError
from fastrlap.vehicle import protocol as p


class SerialLinkError(FastrlapError, RuntimeError):
    """Base class: every message is one line that names the port and the fix."""


class PortUnavailable(SerialLinkError):
    """The port cannot be opened (missing, busy, no permission)."""


class SerialTimeout(SerialLinkError):
    """No (fresh) reply from the firmware within the timeout."""


class LinkDown(SerialLinkError):
    """The port dropped and has not come back yet (the link keeps trying)."""


class ConfigRefused(SerialLinkError):
    """The firmware refused a calibration (or to store it); the message says why and what to do."""


class ProtocolVersionError(SerialLinkError):
    """The firmware speaks another protocol version: reflash it (make -C firmware flash)."""


RECENT_TELEMETRY = 64  # telemetry frames kept for wait_telemetry (1.3 s at the firmware's 50 Hz)


def describe_open_error(port: str, exc: BaseException) -> str:
    """One line: what is wrong with `port` and how to fix it."""
    err = getattr(exc, "errno", None)
    text = str(exc)
    if err == errno.ENOENT or "No such file" in text:
        return (
            f"serial port {port} does not exist: plug in the car's USB cable (or start the "
            f"simulator harness); `ls /dev/ttyUSB* /dev/ttyACM*` lists candidate ports"
        )
    if err == errno.EACCES or "Permission denied" in text:
        return f"no permission to open {port}: `sudo usermod -aG dialout $USER`, then log out and in again"
    if err == errno.EBUSY or "busy" in text.lower():
        return f"serial port {port} is busy: close the other program using it (serial monitor, another fastrlap)"
    return f"cannot open serial port {port}: {text}"


@dataclass(frozen=True)
class LinkStats:
    """Counters since the link was created; latencies in seconds."""

    frames_rx: int
    frames_tx: int
    telemetry_frames: int
    crc_errors: int
    framing_errors: int
    lost_frames: int  # gaps in the firmware's sequence numbers
    reconnects: int
    firmware_resets: int  # the firmware's uptime went backwards (watchdog, brown-out, reflash)
    connected: bool
    latency_median_s: float | None  # COMMAND sent -> TELEMETRY acknowledging it
    latency_p99_s: float | None
    latency_samples: int


@dataclass(frozen=True)
class TimedTelemetry:
    telemetry: p.Telemetry
    t: float  # time.monotonic() when it arrived


class SerialLink:
    """A session with the motor-controller firmware.

    Args:
        port: device path (/dev/ttyUSB0, /dev/ttyACM0, or the simulator's pty link).
        baudrate: must match the firmware (115200).
        reply_timeout: seconds to wait for a reply before `SerialTimeout`.
        reconnect: reopen the port after it drops (else the link just reports `LinkDown`).
        backoff: (first, max) delay between reopen attempts, s; doubles each failure.
        heartbeat_period: s of transmit silence after which a HEARTBEAT keeps the session open.
        open_timeout: s to wait for HELLO_ACK in `open()`; an Arduino resets when its port
            opens and its bootloader waits ~1.5 s before the firmware runs.
    """

    def __init__(
        self,
        port: str,
        baudrate: int = 115200,
        *,
        reply_timeout: float = 0.5,
        reconnect: bool = True,
        backoff: tuple[float, float] = (0.05, 1.0),
        heartbeat_period: float = 0.3,
        open_timeout: float = 3.0,
    ) -> None:
        self.port = port
        self.baudrate = baudrate
        self.reply_timeout = reply_timeout
        self.reconnect = reconnect
        self.backoff = backoff
        self.heartbeat_period = heartbeat_period
        self.open_timeout = open_timeout
        self.hello_ack: p.HelloAck | None = None
        self.faults: deque[p.FaultReport] = deque(maxlen=100)

        self._ser: serial.Serial | None = None
        self._cond = threading.Condition()
        self._write_lock = threading.Lock()
        self._decoder = p.FrameDecoder()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._tx_seq = 0
        self._last_tx = 0.0
        self._rx_seq: int | None = None
        self._connected = False
        self._session_gen = 0  # bumped on every HELLO_ACK (handshakes, including reconnects)
        self._telemetry: TimedTelemetry | None = None
        self._telemetry_count = 0
        # Every frame of the last second or so, for waiters: the reader hands over frames in
        # bursts when the host is busy, and a waiter that saw only each burst's last frame would
        # miss the one its predicate was waiting for (or see it a burst late).
        self._recent: deque[p.Telemetry] = deque(maxlen=RECENT_TELEMETRY)
        self._config: p.Config | None = None
        self._config_count = 0
        self._hb_acks: dict[int, float] = {}
        self._pending_cmds: dict[int, float] = {}
        self._latencies: deque[float] = deque(maxlen=2000)
        self._frames_tx = 0
        self._lost = 0
        self._reconnects = 0
        self._fw_resets = 0
        self._last_uptime: int | None = None
        self._last_hello = 0.0
        self._down_reason = ""
        self._handshaken = False  # a HELLO_ACK with our version arrived on this connection
        self._version_error = ""

    # ---------------------------------------------------------------- lifecycle
    def open(self) -> p.HelloAck:
        """Open the port, start the reader and complete the HELLO handshake."""
        self._open_port()
        self._stop.clear()
        self._thread = threading.Thread(target=self._reader, name=f"serial-link {self.port}", daemon=True)
        self._thread.start()
        try:
            return self._wait_for_session(self.open_timeout)
        except SerialLinkError:
            self.close(send_neutral=False)
            raise

    def close(self, send_neutral: bool = True) -> None:
        """Send a neutral command (best effort), stop the reader and release the port."""
        if send_neutral and self._connected:
            try:
                self.send(p.CommandMessage(throttle=0, steer=0, mode=p.CommandMode.NEUTRAL))
            except SerialLinkError:
                pass  # the firmware watchdog neutralises the car anyway
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        self._thread = None
        self._close_port()

    def __enter__(self) -> SerialLink:
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        return self._connected

    # ---------------------------------------------------------------- requests
    def send(self, msg: p.Message) -> int:
        """Write one frame; returns its seq. Raises `LinkDown` while the port is gone."""
        with self._write_lock:
            ser = self._ser
            if ser is None or (not self._connected and not isinstance(msg, p.Hello)):
                raise LinkDown(
                    f"serial link {self.port} is down ({self._down_reason or 'not open'}); "
                    f"reconnecting — the firmware holds the throttle at neutral"
                )
            seq = self._tx_seq
            self._tx_seq = (seq + 1) & 0xFF
            wire = p.encode_frame(seq, msg)
            now = time.monotonic()
            if isinstance(msg, p.CommandMessage):
                self._pending_cmds[seq] = now
                if len(self._pending_cmds) > 64:  # replies lost: forget the oldest
                    self._pending_cmds.pop(next(iter(self._pending_cmds)))
            elif isinstance(msg, p.Heartbeat):
                self._hb_acks.pop(seq, None)
            try:
                ser.write(wire)
            except (serial.SerialException, OSError) as exc:
                self._mark_down(f"write failed: {exc}")
                raise LinkDown(f"serial link {self.port} dropped while writing ({exc}); reconnecting") from None
            self._last_tx = now
            self._frames_tx += 1
            return seq

    def command(self, throttle: int, steer: int, mode: int = p.CommandMode.DRIVE) -> int:
        """Send a COMMAND (permille, see docs/protocol.md); returns its seq without waiting."""
        return self.send(p.CommandMessage(throttle=int(throttle), steer=int(steer), mode=int(mode)))

    def command_and_wait(
        self, throttle: int, steer: int, mode: int = p.CommandMode.DRIVE, timeout: float | None = None
    ) -> p.Telemetry:
        """Send a COMMAND and return the TELEMETRY that acknowledges it."""
        seq = self.command(throttle, steer, mode)
        return self.wait_telemetry(
            lambda t: t.ack_seq == seq, timeout=timeout, what=f"telemetry acknowledging command seq {seq}"
        )

    def heartbeat(self, timeout: float | None = None) -> float:
        """Round trip of a HEARTBEAT, in seconds."""
        seq = self.send(p.Heartbeat())
        sent = time.monotonic()
        with self._cond:
            ok = self._cond.wait_for(lambda: seq in self._hb_acks, timeout or self.reply_timeout)
            if not ok:
                raise SerialTimeout(f"no HEARTBEAT_ACK from {self.port} within {timeout or self.reply_timeout:.2f} s")
            return self._hb_acks.pop(seq) - sent

    def get_config(self) -> p.Config:
        return self.request_config(p.GetConfig())

    def set_config(self, calibration: p.Calibration, persist: bool = True) -> p.Config:
        """Apply a calibration and, with `persist`, store it; returns the firmware's last CONFIG.

        Storing takes two messages: SET_CONFIG applies the calibration and stages it, and
        CONFIRM_CONFIG, echoing the calibration the firmware reported back, stores it. A single
        stray frame can therefore never change what the car boots with. Raises `ConfigRefused`
        (one line: the reason and the fix) when the firmware refuses either step."""
        reply = self.request_config(p.SetConfig(calibration=calibration, persist=persist))
        self._expect(reply, p.ConfigStatus.PENDING if persist else p.ConfigStatus.OK)
        if persist:
            reply = self.request_config(p.ConfirmConfig(calibration=reply.calibration))
            self._expect(reply, p.ConfigStatus.STORED)
        return reply

    def _expect(self, reply: p.Config, status: p.ConfigStatus) -> None:
        if reply.status == status:
            return
        reason = p.CONFIG_REFUSALS.get(reply.status, f"unexpected status {reply.status} (reflash the firmware)")
        raise ConfigRefused(f"the firmware on {self.port} refused the calibration: {reason}")

    def request_config(self, msg: p.Message) -> p.Config:
        """Send SET_CONFIG, CONFIRM_CONFIG or GET_CONFIG and return the CONFIG reply as it is."""
        with self._cond:
            before = self._config_count
        self.send(msg)
        with self._cond:
            if not self._cond.wait_for(lambda: self._config_count > before, self.reply_timeout):
                raise SerialTimeout(f"no CONFIG reply from {self.port} within {self.reply_timeout:.2f} s")
            assert self._config is not None
            return self._config

    # ---------------------------------------------------------------- telemetry
    def latest_telemetry(self, max_age: float | None = None) -> TimedTelemetry:
        """The newest telemetry; `SerialTimeout` if none, or older than `max_age` seconds."""
        with self._cond:
            tt = self._telemetry
        if tt is None or (max_age is not None and time.monotonic() - tt.t > max_age):
            age = "none yet" if tt is None else f"last one {time.monotonic() - tt.t:.3f} s old"
            raise SerialTimeout(f"no fresh telemetry from {self.port} ({age})")
        return tt

    def wait_telemetry(
        self,
        predicate: Callable[[p.Telemetry], bool] | None = None,
        timeout: float | None = None,
        what: str = "telemetry",
    ) -> p.Telemetry:
        """The first telemetry frame newer than the call that satisfies `predicate` (blocks)."""
        timeout = self.reply_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with self._cond:
            seen = self._telemetry_count
            while True:
                new = self._telemetry_count - seen
                if new > 0:
                    seen = self._telemetry_count
                    for tel in list(self._recent)[-min(new, len(self._recent)) :]:
                        if predicate is None or predicate(tel):
                            return tel
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SerialTimeout(f"no {what} from {self.port} within {timeout:.2f} s")
                self._cond.wait(left)

    def wait_reconnected(self, timeout: float) -> p.HelloAck:
        """After a drop: block until the link has reopened the port and shaken hands again."""
        return self._wait_for_session(timeout)

    def stats(self) -> LinkStats:
        with self._cond:
            lat = sorted(self._latencies)
        p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))] if lat else None
        return LinkStats(
            frames_rx=self._decoder.frames_ok,
            frames_tx=self._frames_tx,
            telemetry_frames=self._telemetry_count,
            crc_errors=self._decoder.crc_errors,
            framing_errors=self._decoder.framing_errors,
            lost_frames=self._lost,
            reconnects=self._reconnects,
            firmware_resets=self._fw_resets,
            connected=self._connected,
            latency_median_s=statistics.median(lat) if lat else None,
            latency_p99_s=p99,
            latency_samples=len(lat),
        )

    # ---------------------------------------------------------------- internals
    def _open_port(self) -> None:
        try:
            ser = serial.Serial(self.port, self.baudrate, timeout=0.05, write_timeout=0.5)
        except (serial.SerialException, OSError) as exc:
            raise PortUnavailable(describe_open_error(self.port, exc)) from None
        ser.reset_input_buffer()  # whatever queued up while nobody listened is stale
        with self._write_lock:
            self._ser = ser
        self._handshaken = False
        self._last_uptime = None
        self._last_hello = time.monotonic()
        self._decoder.feed(b"\x00")  # resync: drop any partial frame from the last connection
        self._rx_seq = None
        self._connected = True
        self._down_reason = ""
        self.send(p.Hello())

    def _close_port(self) -> None:
        with self._write_lock:
            ser, self._ser = self._ser, None
            self._connected = False
        if ser is not None:
            try:
                ser.close()
            except (serial.SerialException, OSError):
                pass

    def _mark_down(self, reason: str) -> None:
        self._down_reason = reason
        self._connected = False
        with self._cond:
            self._cond.notify_all()

    def _wait_for_session(self, timeout: float) -> p.HelloAck:
        with self._cond:
            gen = self._session_gen
            if self._connected and self.hello_ack is not None and self._handshaken:
                return self.hello_ack
            if not self._cond.wait_for(lambda: self._session_gen > gen or self._version_error, timeout):
                raise SerialTimeout(
                    f"no HELLO_ACK from {self.port} within {timeout:.2f} s: is the "
                    f"fastrlap firmware flashed (make -C firmware flash PORT={self.port})?"
                )
            if self._version_error:
                raise ProtocolVersionError(self._version_error)
            assert self.hello_ack is not None
            return self.hello_ack

    def _reader(self) -> None:
        delay = self.backoff[0]
        while not self._stop.is_set():
            ser = self._ser
            if ser is None or not self._connected:
                self._close_port()
                if not self.reconnect or self._stop.wait(delay):
                    if not self.reconnect:
                        return
                    continue
                try:
                    self._open_port()
                    self._reconnects += 1
                    delay = self.backoff[0]
                except (PortUnavailable, LinkDown):
                    delay = min(delay * 2, self.backoff[1])
                continue
            try:
                data = ser.read(ser.in_waiting or 1)
            except (serial.SerialException, OSError, TypeError) as exc:
                # TypeError: pyserial's read on a port closed under it by another thread
                self._handshaken = False
                self._mark_down(f"read failed: {exc}")
                continue
            if data:
                self._dispatch(self._decoder.feed(data))
            now = time.monotonic()
            try:
                no_session = not self._handshaken and not self._version_error
                if no_session and now - self._last_hello > self.heartbeat_period:
                    # board still booting, or it reset: ask again, whatever else is being sent
                    self._last_hello = now
                    self.send(p.Hello())
                elif self._handshaken and now - self._last_tx > self.heartbeat_period:
                    self.send(p.Heartbeat())
            except LinkDown:
                self._handshaken = False

    def _dispatch(self, frames: list[p.Frame]) -> None:
        if not frames:
            return
        now = time.monotonic()
        with self._cond:
            for frame in frames:
                if self._rx_seq is not None:
                    self._lost += (frame.seq - self._rx_seq - 1) & 0xFF
                self._rx_seq = frame.seq
                msg = frame.msg
                if isinstance(msg, p.Telemetry):
                    if self._last_uptime is not None and msg.uptime_ms < self._last_uptime:
                        self._fw_resets += 1
                    self._last_uptime = msg.uptime_ms
                    if self._handshaken and not msg.flags & p.TelemetryFlag.SESSION:
                        # the firmware reset or timed our session out: it ignores commands
                        # until a new HELLO, which the reader sends next
                        self._handshaken = False
                    self._telemetry = TimedTelemetry(telemetry=msg, t=now)
                    self._recent.append(msg)
                    self._telemetry_count += 1
                    sent = self._pending_cmds.pop(msg.ack_seq, None)
                    if sent is not None:
                        self._latencies.append(now - sent)
                elif isinstance(msg, p.HelloAck):
                    self.hello_ack = msg
                    if msg.version != p.PROTOCOL_VERSION:
                        self._version_error = (
                            f"firmware on {self.port} speaks protocol v{msg.version} (firmware "
                            f"{msg.fw_major}.{msg.fw_minor}), this host v{p.PROTOCOL_VERSION}: "
                            f"reflash with `make -C firmware flash PORT={self.port}`"
                        )
                    else:
                        self._handshaken = True
                    self._session_gen += 1
                elif isinstance(msg, p.HeartbeatAck):
                    self._hb_acks[msg.echo_seq] = now
                elif isinstance(msg, p.Config):
                    self._config = msg
                    self._config_count += 1
                elif isinstance(msg, p.FaultReport):
                    self.faults.append(msg)
            self._cond.notify_all()
