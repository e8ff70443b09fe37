"""The space-key e-stop end to end: practice() on the simulator with a pseudo-terminal as stdin."""

import json
import os
import shutil
import termios
import time

from fastrlap.practice.keys import STOPPED_HELP
from fastrlap.practice.run import open_run_dir
from fastrlap.practice.session import practice
from fastrlap.sim.track import load_track
from fastrlap.types import Command
from fastrlap.vehicle.sim import SimVehicle


class Operator(SimVehicle):
    """The simulator, with an operator who types `keys[tick]` at the terminal before that tick."""

    def __init__(self, *args, master: int, keys: dict, **kw):
        super().__init__(*args, **kw)
        self.master, self.keys, self.ticks, self.commands = master, keys, 0, []

    def observe(self):
        key = self.keys.get(self.ticks)
        if key == "interrupt":
            raise KeyboardInterrupt
        if key is not None:
            os.write(self.master, key)
            time.sleep(0.3)  # the reader thread picks the key up in well under a millisecond
        self.ticks += 1
        return super().observe()

    def act(self, command: Command) -> None:
        self.commands.append(command)
        super().act(command)


def run_with_keys(tmp_path, demo_run, tiny, keys, master, ticks=45):
    path = tmp_path / "run"
    shutil.copytree(demo_run.path, path)
    cfg = tiny("oval", f"practice.max_ticks={ticks}")
    car = Operator(load_track("oval"), cfg.vehicle, seed=0, master=master, keys=keys)
    messages = []
    practice(open_run_dir(path), car, cfg, status=messages.append)
    events = [json.loads(line) for line in (path / "events.jsonl").read_text().splitlines()]
    return car, events, messages


def test_space_stops_the_car_until_c_and_the_terminal_is_restored(tmp_path, demo_run, tiny, terminal):
    master, slave = terminal
    before = termios.tcgetattr(slave)
    car, events, messages = run_with_keys(tmp_path, demo_run, tiny, {15: b" ", 20: b" ", 30: b"c"}, master)
    assert termios.tcgetattr(slave) == before
    stops = [e for e in events if e["event"] == "estop"]
    # the second space changed nothing; both events name the key
    assert [(e["source"], e["active"]) for e in stops] == [("space key", True), ("space key", False)]
    assert "c to continue" in stops[0]["detail"]
    modes = [(e["new"], e["reason"]) for e in events if e["event"] == "mode"]
    assert ("STOPPED", "e-stop (space key)") in modes
    i = modes.index(("STOPPED", "e-stop (space key)"))
    assert [m for m, _ in modes[i : i + 3]] == ["STOPPED", "STARTING", "LEARNING"]
    assert all(c.speed == 0.0 for c in car.commands[15:30])  # neutral for the whole stop
    assert any(c.speed != 0.0 for c in car.commands[30:])  # and driving again after c
    assert STOPPED_HELP in messages and any("space = e-stop" in m for m in messages)


def test_ctrl_c_during_an_estop_restores_the_terminal(tmp_path, demo_run, tiny, terminal):
    master, slave = terminal
    before = termios.tcgetattr(slave)
    car, events, _ = run_with_keys(tmp_path, demo_run, tiny, {5: b" ", 8: "interrupt"}, master)
    assert termios.tcgetattr(slave) == before
    assert [e["event"] for e in events][-2:] == ["interrupted", "end"]
