"""The field console inside a practice session, without a browser: a failed setup leaves no
server behind."""
import shutil
import socket
import threading

import pytest

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
        practice(open_run_dir(path), SimVehicle(load_track("oval"), cfg.vehicle, seed=0), cfg,
                 status=messages.append)
    assert any(m.startswith(f"console: http://127.0.0.1:{port}/") for m in messages)  # it had opened
    assert console_threads() == []
    with socket.socket() as s:  # and its port is free again
        s.bind(("127.0.0.1", port))

