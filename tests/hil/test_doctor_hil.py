"""`fastrlap doctor vehicle=hil`: every check against the real firmware under simavr."""

from __future__ import annotations

import pytest

from fastrlap.cli import main

pytestmark = pytest.mark.hil


def test_doctor_passes_against_the_simulated_board(firmware_build, capsys):
    assert main(["doctor", "vehicle=hil"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    status = {line[6:].split(":")[0]: line[:4].strip() for line in lines[:-1]}
    assert status == {
        "port": "OK",
        "firmware": "OK",
        "telemetry": "OK",
        "round trip": "OK",
        "calibration": "OK",
        "imu": "OK",
        "rc receiver": "WARN",
        "camera": "OK",
        "pose": "OK",
    }, lines
    assert "fastrlap firmware 1.1, protocol v2" in lines[1]
    assert lines[-1] == "9 checks: 8 ok, 1 warning, 0 failed"
