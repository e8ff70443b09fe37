"""CLI smoke tests: help text, unknown commands, config composition."""

import subprocess
import sys

from fastrlap.cli import COMMANDS, compose, main


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name, command in COMMANDS.items():
        assert name in out and command.summary in out


def test_unknown_command_is_one_clear_line(capsys):
    assert main(["fly-to-moon"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown command" in err[0] and "--help" in err[0]


def test_overrides_reach_the_typed_config():
    cfg = compose(["track=hairpin", "seed=3", "vehicle.sim.physics_hz=150"])
    assert cfg.track == "hairpin" and cfg.seed == 3
    assert cfg.vehicle.sim.physics_hz == 150


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "fastrlap.cli", "--help"], capture_output=True, text=True, check=True)
    assert "usage: fastrlap" in out.stdout
