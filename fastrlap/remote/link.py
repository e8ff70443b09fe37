"""What both ends of the learner link share: the CurveZMQ sockets, their handshake monitor, and
how a peer's silence turns into "lost".

Heartbeats go both ways at `heartbeat_hz` (4 Hz by default); a side that has heard nothing for
`dead_after_s` (0.8 s) shows the link as lost, so a dead link is noticed within a second while a
single late heartbeat on a loaded machine is not taken for one. ZMQ reconnects by itself; the
first message heard again makes the link up.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import zmq
from zmq.utils.monitor import recv_monitor_message

from fastrlap.remote.keys import CurveKeys

HANDSHAKE_FAILED = {
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL,
    zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
    zmq.EVENT_HANDSHAKE_FAILED_AUTH,
}


@dataclass
class Peer:
    """When the other side was last heard from."""

    dead_after_s: float
    last_heard: float = -1.0  # time.monotonic(); < 0: never

    def heard(self) -> None:
        self.last_heard = time.monotonic()

    @property
    def ever(self) -> bool:
        return self.last_heard >= 0

    def up(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        return self.ever and now - self.last_heard <= self.dead_after_s

    def silent_for(self) -> float:
        return time.monotonic() - self.last_heard if self.ever else float("inf")


def car_socket(ctx: zmq.Context, keys: CurveKeys) -> zmq.Socket:
    """The car's end: a DEALER that encrypts to the learner's key and proves the car's."""
    s = ctx.socket(zmq.DEALER)
    s.curve_serverkey = keys.server_public
    s.curve_publickey = keys.car_public
    s.curve_secretkey = keys.car_secret
    _common(s)
    return s


def learner_socket(ctx: zmq.Context, keys: CurveKeys) -> zmq.Socket:
    """The learner's end: a ROUTER (one connection per car) acting as the CurveZMQ server."""
    s = ctx.socket(zmq.ROUTER)
    s.curve_server = True
    s.curve_publickey = keys.server_public
    s.curve_secretkey = keys.server_secret
    _common(s)
    return s


def _common(s: zmq.Socket) -> None:
    s.linger = 0  # unsent messages are in the spool (car) or resent on request (learner)
    s.reconnect_ivl = 100  # ms: a restarted learner is found again within a heartbeat or two
    s.reconnect_ivl_max = 1000
    s.sndhwm = s.rcvhwm = 1000


class HandshakeWatch:
    """Counts the socket's CurveZMQ handshakes that failed and that succeeded (its monitor)."""

    def __init__(self, socket: zmq.Socket) -> None:
        self._socket = socket
        self._monitor = socket.get_monitor_socket()
        self.failed = 0
        self.succeeded = 0
        self.connected = 0

    def poll(self) -> int:
        """Read the pending events; returns how many handshakes failed among them."""
        before = self.failed
        while self._monitor.poll(0):
            event = recv_monitor_message(self._monitor)["event"]
            self.failed += event in HANDSHAKE_FAILED
            self.succeeded += event == zmq.EVENT_HANDSHAKE_SUCCEEDED
            self.connected += event in (zmq.EVENT_CONNECTED, zmq.EVENT_ACCEPTED)
        return self.failed - before

    def close(self) -> None:
        self._socket.disable_monitor()
        self._monitor.close(linger=0)
