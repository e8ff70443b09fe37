"""Hardware-in-the-loop fixtures: the real firmware image under simavr (firmware/sim/harness.c).

`fw_sim` builds `make -C firmware` (the .elf and the harness), starts the harness paced to the
wall clock, and exposes what an oscilloscope and a signal generator would: the output pulses
measured on D9/D10 and the RC receiver / wheel-encoder signals driven into the MCU. The board
wrapper itself lives in the product (`fastrlap.vehicle.hil.FirmwareBoard`), which `vehicle=hil`
uses too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fastrlap.vehicle.hil import INSTALL_HINT, FirmwareBoard, HilUnavailable, build_firmware, toolchain_missing


@pytest.fixture(scope="session")
def firmware_build() -> Path:
    missing = toolchain_missing()
    if missing:
        pytest.skip(f"{missing}: {INSTALL_HINT}")
    try:
        return build_firmware()
    except HilUnavailable as exc:
        pytest.fail(str(exc))


@pytest.fixture
def fw_sim(firmware_build, tmp_path):
    sim = FirmwareBoard(firmware_build, tmp_path)
    yield sim
    sim.close()


@pytest.fixture
def fw_sim_imu(firmware_build, tmp_path):
    """The same, with an MPU-6050 on the I2C bus."""
    sim = FirmwareBoard(firmware_build, tmp_path, imu=True)
    yield sim
    sim.close()


SMALL_TRACK = """\
name: small
width: 1.6
walls: none
start: 0.0
centerline: [[-2, -2.2], [0, -2.2], [2, -2.2], [3.8, -1.2], [3.8, 1.2], [2, 2.2], [0, 2.2], [-2, 2.2], [-3.8, 1.2], [-3.8, -1.2]]
"""


@pytest.fixture
def small_track(tmp_path) -> Path:
    """A small wall-less track file: a demo lap on it takes seconds, not minutes."""
    path = tmp_path / "small.yaml"
    path.write_text(SMALL_TRACK)
    return path
