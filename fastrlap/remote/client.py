"""The car's side of the learner link: a `Learner` for the practice loop whose learning happens
on another machine (`fastrlap learner serve`).

The control loop calls it exactly like the in-process learner: `act` runs the last actor weights
received (it never waits for the network), `insert` queues a transition and returns. One link
thread ("fastrlap-link") owns the socket and the spool: it spools every transition to disk
before sending it, sends heartbeats, applies the learner's acknowledgements and loads the weight
versions it publishes. When the learner goes silent the car keeps acting on its last weights
(`learner_link.on_loss=continue`; `stop` ends practice) and keeps spooling; when it answers
again (the same process, or a new one resumed from its checkpoint), everything not
acknowledged is sent again and the learner keeps each transition once.
"""

from __future__ import annotations

import pickle
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import zmq

from fastrlap.agent.networks import TanhGaussianActor
from fastrlap.agent.sac import PolicyInput
from fastrlap.config import LearnerLinkConfig
from fastrlap.errors import FastrlapError
from fastrlap.practice.learner import act_with
from fastrlap.remote import wire
from fastrlap.remote.keys import car_key, derive
from fastrlap.remote.link import HandshakeWatch, Peer, car_socket
from fastrlap.remote.spool import Spool
from fastrlap.types import Transition

SEND_BATCH = 64  # transitions per message
SPOOL_BATCH = 256  # queued transitions spooled per pass of the link thread
IN_FLIGHT = 4096  # transitions sent but not acknowledged, at most (the rest wait in the spool)
RESEND_AFTER_S = 2.0  # sent, but the learner's count of received rows stood still this long: send again


class LearnerLinkError(FastrlapError):
    """The remote learner cannot be reached, refused this car, or was lost with on_loss=stop."""


@dataclass
class LearnerCount:
    """What the learner reported about its replay buffer (the dashboard's `buffer`)."""

    size: int = 0

    def __len__(self) -> int:
        return self.size


class RemoteLearner:
    """A learner on another machine, seen from the car (see the module docstring)."""

    def __init__(
        self,
        address: str,
        cfg: LearnerLinkConfig,
        spool: Spool,
        dims: tuple[int, int, int],
        seed: int,
        synchronous: bool,
        name: str,
    ) -> None:
        self.address = address
        self.name = name
        self.cfg = cfg
        self.spool = spool
        self.dims = dims
        self._dtype = wire.row_type(*dims)
        self.synchronous = synchronous
        self.updates = 0
        self.last_metrics: dict[str, float] = {}
        self.replay = LearnerCount()
        self.error: BaseException | None = None
        self.version = 0  # weights version acted with ("" session: none yet)
        # (version, s from its publication to its first use by the control loop), per version used
        self.first_uses: deque[tuple[int, float]] = deque(maxlen=10_000)
        self.refused = ""
        self._session = ""
        self._actor: TanhGaussianActor | None = None
        self._fresh: tuple[float, float] | None = None  # (publication time, arrival) of weights not yet acted with
        self._weights_lock = threading.Lock()
        self._weights_event = threading.Event()
        self._generator = torch.Generator().manual_seed(seed + 1)
        self._inbox: deque = deque()  # Transition | job
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._drain_until = 0.0
        self._lag = 0
        self._received = spool.acked  # highest sequence number the learner has (not yet durably, maybe)
        self._sent = spool.acked  # highest sequence number sent (resend rewinds it)
        self._progress_t = time.monotonic()  # last acknowledgement progress, or (re)send start
        self.peer = Peer(cfg.dead_after_s)
        self._ctx = zmq.Context()
        self._socket = car_socket(self._ctx, derive(car_key(cfg.key_file, address)))
        self._watch = HandshakeWatch(self._socket)
        try:
            self._socket.connect(address)
        except zmq.ZMQError as e:
            self._close_socket()
            raise LearnerLinkError(
                f"learner={address}: {e}; give tcp://HOST:PORT of `fastrlap learner serve`"
            ) from None
        self._thread = threading.Thread(target=self._run, name="fastrlap-link", daemon=True)
        self._thread.start()

    @property
    def lag(self) -> int:
        """UTD blocks the workstation's learner owes, as its last reply said."""
        return self._lag

    # ------------------------------------------------------------------ control loop side
    def wait_ready(self) -> None:
        """Block until the first weights arrive; one line saying why when they cannot."""
        deadline = time.monotonic() + self.cfg.connect_timeout_s
        while not self._weights_event.wait(0.05):
            if self.refused or self.error is not None:
                break
            if time.monotonic() > deadline:
                self.close()
                how = (
                    "it answered but sent no weights"
                    if self.peer.ever
                    else "a TCP connection opened but the handshake never completed"
                    if self._watch.connected
                    else "nothing is listening there"
                )
                raise LearnerLinkError(
                    f"no learner answered at {self.address} within {self.cfg.connect_timeout_s:g} s ({how}); start "
                    f"`fastrlap learner serve bind={self.address}` on the workstation and let this machine reach "
                    f"its port (learner_link.connect_timeout_s waits longer)"
                )
        if self.refused:
            self.close()
            raise LearnerLinkError(self.refused)
        self._raise_error()

    def _raise_error(self) -> None:
        if isinstance(self.error, FastrlapError):
            raise self.error
        if self.error is not None:
            raise RuntimeError(f"the learner link failed: {self.error}") from self.error

    @property
    def link_up(self) -> bool:
        return self.peer.up()

    @property
    def link_state(self) -> str:
        """One phrase for the status line: up or lost, the weights version, what waits on the car."""
        if self.refused:
            return "refused"
        state = "up" if self.peer.up() else ("lost" if self.peer.ever else "connecting")
        if state == "lost":
            state += f" {self.peer.silent_for():.1f} s"
        return f"{state}, weights v{self.version}, {self.spool.unacked} unacked"

    def act(self, obs: PolicyInput, deterministic: bool) -> np.ndarray:
        self._raise_error()
        with self._weights_lock:
            if self._fresh is not None:
                self.first_uses.append((self.version, time.time() - self._fresh[0]))
                self._fresh = None
            return act_with(self._actor, obs, deterministic, self._generator, torch.device("cpu"))

    def insert(self, transition: Transition) -> None:
        """Queue a transition; the link thread spools it, then sends it."""
        self._post(transition)

    def on_transition(self) -> None:
        """In the simulator, whose clock never waits, the car waits while it is more than
        `sim_lead` transitions ahead of what the learner received and trained on (as the
        in-process learner makes it wait for each update block); a car on the wall clock never
        waits."""
        if not self.synchronous:
            return
        while (
            self.peer.up()
            and self.error is None
            and (
                self.spool.last + len(self._inbox) - self._received > self.cfg.sim_lead or self._lag > self.cfg.sim_lead
            )
        ):
            time.sleep(0.002)

    def checkpoint(self, job: Callable[[], None]) -> None:
        """Run `job` in the link thread once every transition queued before it is spooled."""
        self._post(job)

    def _post(self, item) -> None:
        if self._stop.is_set():
            raise RuntimeError("the learner link is closed; build a new one to continue")
        self._inbox.append(item)
        self._wake.set()

    def close(self, drain_s: float = 5.0) -> None:
        """Spool everything queued and run every queued job, give the learner up to `drain_s` to
        acknowledge what it has not (nothing is lost either way: the spool keeps it), then stop."""
        if self._stop.is_set():
            return
        self._drain_until = time.monotonic() + drain_s
        self._stop.set()
        self._wake.set()
        self._thread.join()
        self._close_socket()
        self.spool.close()

    def _close_socket(self) -> None:
        self._watch.close()
        self._socket.close(linger=0)
        self._ctx.term()

    # ------------------------------------------------------------------ link thread
    def _run(self) -> None:
        period = 1.0 / self.cfg.heartbeat_hz
        next_beat = 0.0
        try:
            while True:
                self._spool_inbox()
                now = time.monotonic()
                if (
                    self._stop.is_set()
                    and not self._inbox
                    and (not self.peer.up() or self.spool.acked >= self.spool.last or now > self._drain_until)
                ):
                    return
                if now >= next_beat:
                    self._send(
                        wire.message(
                            {
                                "kind": "hb",
                                "car": self.spool.car,
                                "name": self.name,
                                "dims": list(self.dims),
                                "version": self.version,
                                "session": self._session,
                            }
                        )
                    )
                    next_beat = now + period
                if self._watch.poll() and not self.peer.ever:
                    self.refused = (
                        f"the learner at {self.address} refused this car's key: learner_link.key_file="
                        f"{self.cfg.key_file} is not the learner's learner.key; copy the file "
                        f"`fastrlap learner serve` created"
                    )
                    return
                self._send_rows()
                if self._socket.poll(min(20, max(1, int(1e3 * (next_beat - time.monotonic()))))):
                    while self._socket.poll(0):
                        self._receive(self._socket.recv_multipart())
        except BaseException as e:  # surfaced to the control loop on its next act()
            self.error = e

    def _spool_inbox(self) -> None:
        """Spool what the loop queued, at most SPOOL_BATCH items per pass (one fsync for their
        rows) so heartbeats and sends keep going however fast the loop produces."""
        rows: list[bytes] = []
        for _ in range(min(len(self._inbox), SPOOL_BATCH)):
            item = self._inbox.popleft()
            if isinstance(item, Transition):
                rows.append(wire.to_rows([item], self._dtype).tobytes())
                continue
            self.spool.append(rows)  # before the job: it may count on the transitions being on disk
            rows = []
            item()
        self.spool.append(rows)

    def _send(self, frames: list[bytes]) -> bool:
        try:
            self._socket.send_multipart(frames, flags=zmq.NOBLOCK)
            return True
        except zmq.Again:  # nothing connected, or its queue is full: the spool keeps the data
            return False

    def _send_rows(self) -> None:
        """Send what the learner has not acknowledged, oldest first, while it listens."""
        if not self.peer.up():
            return
        now = time.monotonic()
        if self._sent > self._received and now - self._progress_t > RESEND_AFTER_S:
            self._sent = self._received  # lost on the way (a full queue, a reconnect): send again
            self._progress_t = now
        self._sent = max(self._sent, self.spool.acked)
        while self._sent < self.spool.last and self._sent - self.spool.acked < IN_FLIGHT:
            first = self._sent + 1
            seqs = range(first, min(self.spool.last, first + SEND_BATCH - 1) + 1)
            payload = wire.pack_rows([self.spool.rows[s] for s in seqs])
            if not self._send(
                wire.message({"kind": "tr", "car": self.spool.car, "first": first, "n": len(seqs)}, payload)
            ):
                return
            self._sent = seqs[-1]

    def _receive(self, frames: list[bytes]) -> None:
        try:
            header, payload = wire.parse(frames)
            self._handle(header, payload)
        except (
            ValueError,
            UnicodeDecodeError,
            IndexError,
            KeyError,
            TypeError,
            RuntimeError,
            EOFError,
            pickle.UnpicklingError,
        ):
            return  # authenticated (CurveZMQ) but not understood: another fastrlap version; ignore it

    def _handle(self, header: dict, payload: list[bytes]) -> None:
        self.peer.heard()
        kind = header["kind"]
        if kind == "refused":
            self.refused = f"the learner at {self.address} refused this car: {header.get('reason', '')}"
            return
        if header.get("session") and header["session"] != self._session:
            if self._session:  # a new learner process: what it did not store durably must come again
                self._sent = self._received = self.spool.acked
            self._session = header["session"]
        if kind == "hb":
            acked = int(header.get("acked", 0))
            if acked > self.spool.acked:
                self.spool.ack(acked)
            received = int(header.get("received", acked))
            if received > self._received:
                self._progress_t = time.monotonic()
            self._received = received
            self.updates = int(header.get("updates", self.updates))
            self.replay.size = int(header.get("replay", self.replay.size))
            self._lag = int(header.get("lag", 0))
        elif kind == "weights":
            self._load(header, payload)

    def _load(self, header: dict, payload: list[bytes]) -> None:
        weights = wire.Weights.decode(header, payload)
        agent = header["agent"]
        actor = TanhGaussianActor(*self.dims, agent["projection_dim"], agent["hidden_dim"], agent["num_layers"])
        actor.load_state_dict(weights.state)
        actor.requires_grad_(False)
        with self._weights_lock:
            self._actor = actor
            self.version = weights.version
            self._fresh = (weights.published, time.monotonic())
        self._weights_event.set()
