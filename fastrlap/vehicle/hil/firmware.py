"""The firmware for the simulated board: where it lives in a checkout, and building it.

`vehicle=hil` runs the real firmware (firmware/) under simavr; both the `.elf` and the simavr
harness that hosts it are built here with the AVR toolchain, so a missing toolchain is one line
naming the packages to install rather than a failed subprocess.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from fastrlap.errors import FastrlapError

FIRMWARE = Path(__file__).resolve().parents[3] / "firmware"
ELF = FIRMWARE / "build" / "fastrlap.elf"
HARNESS = FIRMWARE / "build" / "fastrlap-fwsim"
INSTALL_HINT = (
    "needs the AVR toolchain and simavr: `make firmware-deps` (as root: apt-get update && "
    "apt-get install -y gcc-avr avr-libc simavr libsimavr-dev libsimavrparts1 libelf-dev)"
)


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
