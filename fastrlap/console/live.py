"""The console of a practice session: figures, e-stop latch and server wired together.

The session builds one `LiveConsole` (or none: `console.port=0`, or the simulator without
`console.port=`), forwards laps, events and each tick's `LiveState` to it, and the loop reads
its latch (`remote`, named "console") every tick beside the space key.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

from fastrlap.config import Config
from fastrlap.console.feed import ConsoleFeed, TrackMap
from fastrlap.console.remote import RemoteStop
from fastrlap.console.server import ConsoleServer
from fastrlap.course.checkpoints import CourseSpec
from fastrlap.practice.live_state import LiveState

DEFAULT_PORT = 8765
CAR_KINDS = ("real", "hil")  # where nobody watches a terminal, so the console is on unless turned off


def console_port(cfg: Config) -> int:
    """`console.port`, with the default resolved: on for a car, off in the simulator (0 = off)."""
    if cfg.console.port is None:
        return DEFAULT_PORT if cfg.vehicle.kind in CAR_KINDS else 0
    return int(cfg.console.port)


def qr_text(text: str) -> str:
    """`text` as a QR code drawn with block characters, for a phone's camera to read off the terminal."""
    import segno

    out = io.StringIO()
    segno.make(text, error="l").terminal(out=out, compact=True)
    return out.getvalue()


class LiveConsole:
    def __init__(self, feed: ConsoleFeed, server: ConsoleServer, remote: RemoteStop) -> None:
        self.feed = feed
        self.server = server
        self.remote = remote

    @staticmethod
    def open(
        cfg: Config,
        demo_path: np.ndarray,
        spec: CourseSpec,
        demo_lap: float | None,
        oracle_lap: float | None,
        status: Callable[[str], None],
    ) -> LiveConsole | None:
        """Start serving when the console is on; prints the address, the token and its QR code."""
        port = console_port(cfg)
        if port <= 0:
            return None
        c = cfg.console
        track = TrackMap.from_arrays(demo_path, [(cp.x, cp.y) for cp in spec.checkpoints])
        feed = ConsoleFeed(track, demo_lap, oracle_lap, c.camera_fps, c.camera_width)
        remote = RemoteStop()
        server = ConsoleServer(feed, c.host, port, remote=remote).start()
        status(f"console: {server.url} (read-only); to control the car open {server.control_url}")
        if sys.stdout.isatty():
            status(qr_text(server.control_url))
        return LiveConsole(feed, server, remote)

    @staticmethod
    @contextmanager
    def serving(
        cfg: Config,
        demo_path: np.ndarray,
        spec: CourseSpec,
        demo_lap: float | None,
        oracle_lap: float | None,
        status: Callable[[str], None],
    ) -> Iterator[LiveConsole | None]:
        """`open`, and close whatever happens inside: a session whose setup or loop fails must not
        leave the server's thread serving a dead practice and holding the port until the process
        ends (a notebook or a test would find the port taken on its next try)."""
        console = LiveConsole.open(cfg, demo_path, spec, demo_lap, oracle_lap, status)
        try:
            yield console
        finally:
            if console is not None:
                console.close()

    def update(self, state: LiveState) -> None:
        self.feed.update(state)

    def close(self) -> None:
        self.server.close()
