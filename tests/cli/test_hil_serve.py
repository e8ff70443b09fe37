"""`fastrlap hil serve`: the simulated board served for other commands to attach to.

Serving a rig needs the firmware under simavr (tests/hil/test_hil_vehicle.py serves one and drives
it); these check that a wrong or missing setting is one line with its fix before anything starts.
"""

from __future__ import annotations

from fastrlap.cli import main


def test_hil_serve_needs_the_simulated_board(capsys):
    assert main(["hil", "serve", "vehicle.hil.attach=/tmp/never.sock"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "fastrlap hil serve: hil serve runs the simulated board: add vehicle=hil (not vehicle=sim)"


def test_hil_serve_needs_a_socket_path(capsys):
    assert main(["hil", "serve", "vehicle=hil"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "vehicle.hil.attach=/tmp/rig.sock" in err


def test_hil_serve_is_listed_with_its_settings(capsys):
    assert main(["hil", "serve", "--help"]) == 0
    out = capsys.readouterr().out
    assert "usage: fastrlap hil serve" in out and "vehicle.hil.attach" in out
