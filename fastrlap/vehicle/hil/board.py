"""`FirmwareBoard`: the firmware under simavr, with its measured outputs and driven inputs.

The board is the firmware process with its "oscilloscope" (measured output pulses) and "signal
generator" (RC receiver, wheel encoder, IMU inputs); the HIL tests use it directly, and the rig
puts a simulated car on it.
"""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from fastrlap.vehicle.hil.firmware import HARNESS, HilUnavailable


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
        self.proc = subprocess.Popen(
            [str(HARNESS), str(elf), "--link", self.link, *extra],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
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
                raise HilUnavailable(
                    f"the firmware simulator did not start ({err.strip()[:200]}); run `{HARNESS} {elf}` by hand"
                )

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
