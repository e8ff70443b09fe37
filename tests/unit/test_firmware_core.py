"""Host unit tests of the firmware's portable core (firmware/tests/test_core.c), compiled with the
host gcc: protocol codec against the shared vectors, calibration/EEPROM image, safety state
machine (command watchdog, RC override, RC loss, sessions, garbage input)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"


@pytest.mark.skipif(
    shutil.which("gcc") is None or shutil.which("make") is None,
    reason="needs gcc and make (apt-get install -y build-essential)",
)
def test_firmware_core_host_suite():
    out = subprocess.run(["make", "-s", "-C", str(FIRMWARE), "host-test"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 failures" in out.stdout
    checks = int(out.stdout.split(" checks")[0].split()[-1])
    assert checks > 300, out.stdout
