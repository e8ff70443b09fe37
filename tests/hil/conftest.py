"""Hardware-in-the-loop fixtures: the real firmware image under simavr (firmware/sim/harness.c).

`fw_sim` builds `make -C firmware` (the .elf and the harness), starts the harness paced to the
wall clock, and exposes what an oscilloscope and a signal generator would: the output pulses
measured on D9/D10 and the RC receiver / wheel-encoder signals driven into the MCU.
"""
from __future__ import annotations

import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
ELF = FIRMWARE / "build" / "fastrlap.elf"
HARNESS = FIRMWARE / "build" / "fastrlap-fwsim"
INSTALL_HINT = ("needs the AVR toolchain and simavr: `make firmware-deps` (as root: apt-get update && "
                "apt-get install -y gcc-avr avr-libc simavr libsimavr-dev libsimavrparts1 libelf-dev)")


def toolchain_missing() -> str | None:
    if shutil.which("avr-gcc") is None:
        return "avr-gcc not found"
    if not Path("/usr/include/simavr/sim_avr.h").exists():
        return "simavr headers (libsimavr-dev) not found"
    return None


@pytest.fixture(scope="session")
def firmware_build() -> Path:
    missing = toolchain_missing()
    if missing:
        pytest.skip(f"{missing}: {INSTALL_HINT}")
    out = subprocess.run(["make", "-s", "-C", str(FIRMWARE), "all"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    return ELF


@dataclass(frozen=True)
class Pulse:
    width_us: float
    t_us: int  # simulated time of the falling edge (≈ firmware uptime_ms * 1000)
    arrived: float  # time.monotonic() when the harness reported it


class FirmwareSim:
    """One running firmware under simavr; `link` is the serial port path for SerialLink."""

    def __init__(self, elf: Path, workdir: Path, imu: bool = False) -> None:
        self.link = str(workdir / "ttyFW")
        extra = ["--imu"] if imu else []
        self.proc = subprocess.Popen([str(HARNESS), str(elf), "--link", self.link, *extra], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        self.pulses: dict[str, list[Pulse]] = {"steer": [], "esc": []}
        self.ready_count = 0
        self.resets: list[int] = []  # sim time (us) of each MCU restart
        self.hung_at: int | None = None  # sim time (us) the `hang` command took effect
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        with self._cond:
            if not self._cond.wait_for(lambda: self.ready_count > 0, timeout=10):
                err = self.proc.stderr.read() if self.proc.poll() is not None else ""
                raise RuntimeError(f"harness did not start: {err}")

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


@pytest.fixture
def fw_sim(firmware_build, tmp_path):
    sim = FirmwareSim(firmware_build, tmp_path)
    yield sim
    sim.close()


@pytest.fixture
def fw_sim_imu(firmware_build, tmp_path):
    """The same, with an MPU-6050 on the I2C bus."""
    sim = FirmwareSim(firmware_build, tmp_path, imu=True)
    yield sim
    sim.close()
