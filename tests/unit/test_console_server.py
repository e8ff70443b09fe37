"""The field console's server: read-only without the token, no control from another origin,
the e-stop latch, the port that cannot be opened, and where the console is on by default."""

import json
import socket
import urllib.error
import urllib.request

import numpy as np
import pytest

from fastrlap.cli import compose
from fastrlap.console.feed import ConsoleFeed, TrackMap
from fastrlap.console.live import DEFAULT_PORT, console_port
from fastrlap.console.remote import RemoteStop
from fastrlap.console.server import TOKEN_HEADER, ConsolePortError, ConsoleServer
from fastrlap.practice.stops import Hold, first_hold


def feed() -> ConsoleFeed:
    track = TrackMap.from_arrays(np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]), [(0.0, 0.0), (1.0, 1.0)])
    return ConsoleFeed(track, demo_lap=12.0, oracle_lap=8.0, camera_fps=4.0, camera_width=160)


def request(url: str, method: str = "GET", headers: dict | None = None) -> tuple[int, dict | str]:
    req = urllib.request.Request(url, method=method, headers=headers or {}, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status, body = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        status, body = e.code, e.read().decode()
    try:
        return status, json.loads(body)
    except json.JSONDecodeError:
        return status, body


@pytest.fixture
def server():
    remote = RemoteStop()
    with ConsoleServer(feed(), "127.0.0.1", 0, remote=remote) as s:
        yield s, remote


def test_page_and_figures_are_open_to_read(server):
    s, _ = server
    status, page = request(s.url)
    assert status == 200 and "E-STOP" in page and "/static/console.js" in page
    status, js = request(s.url + "static/console.js")
    assert status == 200 and "X-Fastrlap-Token" in js
    status, figures = request(s.url + "api/state")
    assert status == 200 and figures["demo_lap"] == 12.0 and figures["control"] is True
    status, track = request(s.url + "api/track")
    assert status == 200 and track["checkpoints"] == [[0.0, 0.0], [1.0, 1.0]]
    assert request(s.url + "static/secret.py")[0] == 404


def test_control_needs_the_token(server):
    s, remote = server
    for headers in ({}, {TOKEN_HEADER: "wrong"}):
        status, body = request(s.url + "api/estop", "POST", headers)
        assert status == 401 and "token" in body["error"]
    assert remote.hold() == ""
    status, _ = request(s.url + "api/estop", "POST", {TOKEN_HEADER: s.token})
    assert status == 200 and remote.hold()
    remote_line = remote.hold()
    assert request(s.url + "api/continue", "POST", {})[0] == 401
    assert remote.hold() == remote_line  # still held
    status, body = request(s.url + "api/continue", "POST", {TOKEN_HEADER: s.token})
    assert status == 200 and body["released"] is True and remote.hold() == ""


def test_control_from_another_origin_is_refused_even_with_the_token(server):
    s, remote = server
    status, body = request(s.url + "api/estop", "POST", {TOKEN_HEADER: s.token, "Origin": "http://evil.example"})
    assert status == 403 and "cross-origin" in body["error"]
    assert remote.hold() == ""
    own = s.url.rstrip("/")
    assert request(s.url + "api/estop", "POST", {TOKEN_HEADER: s.token, "Origin": own})[0] == 200


def test_a_console_without_a_latch_is_read_only():
    with ConsoleServer(feed(), "127.0.0.1", 0) as s:
        status, body = request(s.url + "api/estop", "POST", {TOKEN_HEADER: s.token})
        assert status == 403 and "read-only" in body["error"]
        assert request(s.url + "api/state")[1]["control"] is False


def test_a_port_in_use_is_one_line_naming_the_fix():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConsolePortError) as e:
            ConsoleServer(feed(), "127.0.0.1", port, remote=RemoteStop()).start()
    msg = str(e.value)
    assert "\n" not in msg and f"127.0.0.1:{port}" in msg and "console.port=" in msg


def test_the_first_stop_that_holds_the_car_speaks_and_names_itself():
    class Keys:
        name, line = "space key", ""

        def hold(self):
            return self.line

    keys, console = Keys(), RemoteStop()
    hold = first_hold(keys, console)
    assert hold() is None
    console.stop()
    assert hold() == Hold("console", console.hold()) and hold().reason == "e-stop (console)"
    keys.line = "E-STOP (space)"
    assert hold() == Hold("space key", "E-STOP (space)")  # the first that holds speaks
    keys.line = ""
    assert hold().source == "console"  # the console still holds the car
    assert console.release() is True and console.release() is False and hold() is None


@pytest.mark.parametrize(
    ("overrides", "port"),
    [
        ([], 0),  # the simulator: off unless asked
        (["vehicle=real"], DEFAULT_PORT),
        (["vehicle=hil"], DEFAULT_PORT),
        (["vehicle=real", "console.port=0"], 0),
        (["console.port=9000"], 9000),
    ],
)
def test_the_console_is_on_for_a_car_and_off_in_the_simulator(overrides, port):
    assert console_port(compose(overrides)) == port
