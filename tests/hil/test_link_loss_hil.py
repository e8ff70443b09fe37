"""The serial port unplugged mid-practice on the real firmware under simavr: the car waits for the
operator after the port is back, and the firmware's outputs stay neutral until then."""

from __future__ import annotations

import json
import os
import pty
import time

import pytest

from fastrlap.cli import compose, main
from fastrlap.practice import session as session_mod
from fastrlap.practice.run import open_run_dir
from fastrlap.practice.session import practice
from fastrlap.sim.track import load_track
from fastrlap.types import Command
from fastrlap.vehicle.hil import open_hil_vehicle
from tests.tiny_practice import TINY_AGENT

pytestmark = pytest.mark.hil

TINY = [
    *TINY_AGENT,
    "agent.utd_ratio=1",
    "practice.start_training=50",
]


class Unplugged:
    """The hil car, its USB port pulled at tick 10 for 0.6 s; the operator presses `c` five ticks
    after practice said the link is back."""

    def __init__(self, car, master: int, messages: list[str]) -> None:
        self.car, self.master, self.messages = car, master, messages
        self.clock, self.control_hz = car.clock, car.control_hz
        self.ticks, self.lost_at, self.back_at, self.pressed_at = 0, None, None, None
        self.back_t = self.pressed_t = 0.0
        self.commands: list[Command] = []

    def observe(self):
        if self.ticks == 10:
            self.car.board.drop(600)
        if self.back_at is None and any(m.startswith("serial link back") for m in self.messages):
            self.back_at, self.back_t = self.ticks, time.monotonic()
        if self.back_at is not None and self.pressed_at is None and self.ticks == self.back_at + 5:
            self.pressed_t = time.monotonic()
            os.write(self.master, b"c")
            time.sleep(0.05)  # the key reader takes it in well under a millisecond
            self.pressed_at = self.ticks
        self.ticks += 1
        return self.car.observe()

    def act(self, command: Command) -> None:
        if self.lost_at is None and any(m.startswith("serial link lost") for m in self.messages):
            self.lost_at = len(self.commands)  # the tick that saw the loss
        self.commands.append(command)
        self.car.act(command)

    def stop(self) -> None:
        self.car.stop()

    def close(self) -> None:
        self.car.close()

    def pose_rejections(self):
        return self.car.pose_rejections()


def test_unplugged_port_pauses_practice_until_the_operator_confirms(firmware_build, small_track, tmp_path, monkeypatch):
    track = small_track
    run = tmp_path / "run"
    assert main(["record-demo", f"track={track}", f"run_dir={run}", "course.demo_speed=2.0"]) == 0  # simulator
    master, slave = pty.openpty()
    monkeypatch.setattr(session_mod, "stdin_fd", lambda: slave)
    cfg = compose(["vehicle=hil", "console.port=0", f"track={track}", *TINY, "practice.max_ticks=60"])
    messages: list[str] = []
    try:
        with open_hil_vehicle(cfg.vehicle, load_track(str(track))) as hil:
            car = Unplugged(hil, master, messages)
            port = hil.link.port
            practice(open_run_dir(run), car, cfg, status=messages.append)
            board = hil.board
            esc = board.pulses_after("esc", 0)
    finally:
        os.close(master)
        os.close(slave)
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    links = [e for e in events if e["event"] == "link"]
    assert [(e["state"], e["port"]) for e in links] == [("lost", port), ("back", port)], links
    assert f"serial link lost: {port}" in messages
    confirms = [e for e in events if e["event"] == "confirm"]
    assert [e["source"] for e in confirms] == ["c key"]
    assert links[0]["t"] == links[1]["t"] == confirms[0]["t"]  # the practice clock stood still
    assert 10 <= car.lost_at < car.back_at < car.pressed_at, (car.lost_at, car.back_at, car.pressed_at)
    # nothing but neutral from the loss until `c`, though the port was back 5 ticks before it
    assert all(c == Command(0.0, 0.0) for c in car.commands[car.lost_at : car.pressed_at])
    assert any(c.speed > 0.0 for c in car.commands[car.pressed_at :])
    assert all(abs(p.width_us - 1500) <= 10 for p in esc if car.back_t <= p.arrived <= car.pressed_t)
