"""The field console inside a practice session, without a browser: a failed setup leaves no
server behind, and a stop from the page is logged as the console's."""

import json
import re
import shutil
import socket
import threading
import urllib.request

import pytest

from fastrlap.console.remote import STOPPED_HELP
from fastrlap.console.server import TOKEN_HEADER
from fastrlap.errors import FastrlapError
from fastrlap.practice import session as session_mod
from fastrlap.practice.run import open_run_dir
from fastrlap.practice.session import practice
from fastrlap.sim.track import load_track
from fastrlap.vehicle.sim import SimVehicle


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def console_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "fastrlap-console" and t.is_alive()]


def test_a_setup_that_fails_after_the_console_opened_closes_it(tmp_path, demo_run, tiny, monkeypatch):
    path = tmp_path / "run"
    shutil.copytree(demo_run.path, path)
    port = free_port()
    cfg = tiny("oval", f"console.port={port}", "practice.max_ticks=20")

    def broken_encoder(*args, **kwargs):
        raise FastrlapError("encoder weights unreadable")

    monkeypatch.setattr(session_mod, "build_encoder", broken_encoder)  # runs after the console opened
    messages: list[str] = []
    with pytest.raises(FastrlapError, match="encoder weights unreadable"):
        practice(open_run_dir(path), SimVehicle(load_track("oval"), cfg.vehicle, seed=0), cfg, status=messages.append)
    assert any(m.startswith(f"console: http://127.0.0.1:{port}/") for m in messages)  # it had opened
    assert console_threads() == []
    with socket.socket() as s:  # and its port is free again
        s.bind(("127.0.0.1", port))


def post(url: str, token: str) -> int:
    req = urllib.request.Request(url, method="POST", headers={TOKEN_HEADER: token}, data=b"")
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status


class ConsoleOperator(SimVehicle):
    """The simulator, with someone at the console's page who presses E-STOP before tick `stop_at`
    and "continue" before tick `continue_at` (through the server, as the page does)."""

    def __init__(self, *args, messages: list[str], stop_at: int, continue_at: int, **kw):
        super().__init__(*args, **kw)
        self.messages, self.stop_at, self.continue_at = messages, stop_at, continue_at
        self.ticks, self.commands = 0, []

    def observe(self):
        if self.ticks in (self.stop_at, self.continue_at):
            line = next(m for m in self.messages if m.startswith("console:"))
            base, control = re.search(r"(http://\S+/) .* (http://\S+#token=\S+)", line).groups()
            action = "estop" if self.ticks == self.stop_at else "continue"
            assert post(f"{base}api/{action}", control.split("#token=")[1]) == 200
        self.ticks += 1
        return super().observe()

    def act(self, command):
        self.commands.append(command)
        super().act(command)


def test_a_stop_from_the_console_is_logged_as_the_console(tmp_path, demo_run, tiny):
    path = tmp_path / "run"
    shutil.copytree(demo_run.path, path)
    cfg = tiny("oval", f"console.port={free_port()}", "practice.max_ticks=40")
    messages: list[str] = []
    car = ConsoleOperator(load_track("oval"), cfg.vehicle, seed=0, messages=messages, stop_at=12, continue_at=25)
    practice(open_run_dir(path), car, cfg, status=messages.append)
    events = [json.loads(line) for line in (path / "events.jsonl").read_text().splitlines()]
    stops = [e for e in events if e["event"] == "estop"]
    assert [(e["source"], e["active"]) for e in stops] == [("console", True), ("console", False)]
    assert stops[0]["detail"] == STOPPED_HELP
    modes = [(e["new"], e["reason"]) for e in events if e["event"] == "mode"]
    assert ("STOPPED", "e-stop (console)") in modes and not any("space key" in r for _, r in modes)
    assert all(c.speed == 0.0 for c in car.commands[12:25])  # neutral while the console holds the car
