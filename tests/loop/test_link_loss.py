"""A serial link lost mid-practice and restored: practice() on the simulator, whose observations
report the link down for a stretch of ticks as a real car's do, with a pseudo-terminal as stdin
for the operator's confirmation."""

import dataclasses
import json
import os
import shutil
import time

import pytest

from fastrlap.practice.run import open_run_dir
from fastrlap.practice.session import practice
from fastrlap.sim.track import load_track
from fastrlap.types import Command
from fastrlap.vehicle.sim import SimVehicle

PORT = "/dev/ttyUSB7"


class CutLink(SimVehicle):
    """The simulator with its link down for ticks in `lost`, and an operator typing `keys[tick]`."""

    def __init__(self, *args, master: int, keys: dict, lost: range, **kw):
        super().__init__(*args, **kw)
        self.master, self.keys, self.lost, self.ticks, self.commands = master, keys, lost, 0, []

    def observe(self):
        key = self.keys.get(self.ticks)
        if key is not None:
            os.write(self.master, key)
            time.sleep(0.3)  # the reader thread picks the key up in well under a millisecond
        obs = super().observe()
        if self.ticks in self.lost:
            obs = dataclasses.replace(obs, link_lost=PORT, estop=True)
        self.ticks += 1
        return obs

    def act(self, command: Command) -> None:
        self.commands.append(command)
        super().act(command)


def test_lost_link_pauses_practice_says_so_and_waits_for_the_operator(tmp_path, demo_run, tiny, terminal):
    path = tmp_path / "run"
    shutil.copytree(demo_run.path, path)
    cfg = tiny("oval", "practice.max_ticks=45")
    # link down for ticks 10-19; a `c` during the loss answers nothing, the one at tick 28 confirms
    car = CutLink(
        load_track("oval"), cfg.vehicle, seed=0, master=terminal[0], keys={15: b"c", 28: b"c"}, lost=range(10, 20)
    )
    messages = []
    summary = practice(open_run_dir(path), car, cfg, status=messages.append)
    events = [json.loads(line) for line in (path / "events.jsonl").read_text().splitlines()]

    links = [e for e in events if e["event"] == "link"]
    assert [(e["state"], e["port"]) for e in links] == [("lost", PORT), ("back", PORT)]
    assert links[0]["detail"] == f"serial link lost: {PORT}" and "press c" in links[1]["detail"]
    modes = [(e["new"], e["reason"]) for e in events if e["event"] == "mode"]
    assert ("LINK_LOST", f"serial link lost: {PORT}") in modes
    i = modes.index(("LINK_LOST", f"serial link lost: {PORT}"))
    assert [m for m, _ in modes[i : i + 4]] == ["LINK_LOST", "AWAITING_CONFIRM", "STARTING", "LEARNING"]
    confirms = [e for e in events if e["event"] == "confirm"]
    assert len(confirms) == 1 and confirms[0]["source"] == "c key" and confirms[0]["port"] == PORT
    assert f"serial link lost: {PORT}" in messages and links[1]["detail"] in messages

    # neutral from the loss until the confirmation, though the link was back from tick 20
    assert all(c == Command(0.0, 0.0) for c in car.commands[10:28])
    assert any(c.speed != 0.0 for c in car.commands[28:])  # and driving after it
    # practice time stood still from the last tick before the loss (9) to the confirmation (28):
    # of the 44 intervals of 0.1 s, 19 were not practice
    assert links[0]["t"] == links[1]["t"] == confirms[0]["t"]
    assert summary.practice_min * 60.0 == pytest.approx((44 - 19) * 0.1, abs=1e-6)
