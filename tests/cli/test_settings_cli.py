"""`fastrlap <command> --help` lists the settings, `--cfg` prints them, bad ones stop before anything."""

from importlib.metadata import version

import pytest
import yaml

import fastrlap
from fastrlap.cli import COMMANDS, main


def test_command_help_lists_settings_with_values_and_meanings(capsys):
    assert main(["practice", "--help"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert rows["practice.minutes"].split()[1] == "20.0" and "simulated minutes" in rows["practice.minutes"]
    assert rows["agent.num_qs"].split()[1] == "10" and "critics" in rows["agent.num_qs"]
    assert "view.seconds" not in rows and "iql.steps" not in rows  # other commands' settings


def test_command_help_shows_the_values_the_overrides_make(capsys):
    assert main(["record-demo", "vehicle=real", "course.demo_speed=1.2", "--help"]) == 0
    rows = {line.split()[0]: line.split()[1] for line in capsys.readouterr().out.splitlines() if line.startswith("  ")}
    assert rows["vehicle.kind"] == "real" and rows["vehicle.speed_bias"] == "1.5" and rows["course.demo_speed"] == "1.2"


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_has_help(name, capsys):
    assert main([*name.split(), "--help"]) == 0
    out = capsys.readouterr().out
    assert COMMANDS[name].summary in out and "Settings" in out


def test_evaluate_help_says_it_runs_in_the_simulator_by_default(capsys):
    assert main(["evaluate", "--help"]) == 0
    assert "without vehicle= it drives in the simulator" in capsys.readouterr().out


def test_cfg_prints_the_composed_config_as_yaml(capsys):
    assert main(["practice", "practice.minutes=3", "track=hairpin", "--cfg"]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg["practice"]["minutes"] == 3.0 and cfg["track"] == "hairpin" and cfg["vehicle"]["kind"] == "sim"


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"fastrlap {fastrlap.__version__}" == f"fastrlap {version('fastrlap')}"


@pytest.mark.parametrize(
    "args, says",
    [
        (["practice", "practice.minuts=2"], "did you mean practice.minutes?"),
        (["pretrain", "collect", "stepz=3"], "did you mean pretrain.steps?"),
        (["practice", "practice.minutes=abc"], "practice.minutes takes a number"),
        (["practice", "practice.minutes=-1"], "practice.minutes=-1.0: use a value at least 0"),
        (["practice", "agent.num_qs=0"], "agent.num_qs=0: use a value at least 1"),
        (["practice", "agent.batch_size=0"], "agent.batch_size=0: use a value at least 1"),
        (["practice", "+foo=1"], "+foo=1: '+' adds a key"),
        (["practice", "seed=1,2"], "sweeps over several values run with -m"),
        (["sim", "view", "-m", "seed=1,2"], "-m sweeps practice only"),
        (["practice", "-m", "seed=1,x"], "seed takes a whole number, not x"),
        (["practice", "-m", "seed=interval(0,1)"], "sweep a list of values"),
        (["practice", "-m", "track=oval,hairpin", "run_dir=runs/x"], "run_dir= cannot be swept or shared"),
        (["practice", "--bogus"], "unknown option '--bogus'"),
    ],
)
def test_bad_settings_are_one_line_and_nothing_starts(args, says, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and says in err[0] and err[0].startswith("fastrlap ")
    assert captured.out == "" and list(tmp_path.iterdir()) == []  # no run directory was made
