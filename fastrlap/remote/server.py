"""`fastrlap learner serve`: the learner on a workstation, fed by one or more cars over the network.

It holds one replay buffer and one policy for every car that connects (cars on different tracks
too: their transitions are mixed in one buffer, as the paper's multi-course practice mixes
courses), learns with the same threaded learner the car runs in-process, and publishes the
actor's weights to every car every `publish_updates` critic updates or `publish_seconds`,
whichever comes first. Its run directory holds the replay (`replay/`), the learner checkpoint
(`agent/learner.pt`), the per-car ledger (`cars.json`) and the shared key (`learner.key`); the
laps and events stay with each car. Started again on the same directory (after Ctrl-C or a
kill -9) it resumes from there, and the cars reconnect by themselves.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import zmq
import zmq.auth.thread

from fastrlap.agent.encoder import EncoderSpec
from fastrlap.agent.features import PROPRIO_DIM
from fastrlap.agent.replay import ReplayBuffer
from fastrlap.agent.sac import SAC
from fastrlap.config import Config
from fastrlap.errors import FastrlapError
from fastrlap.practice.learner import ThreadedLearner
from fastrlap.practice.run import RunDir, agent_dir, replay_dir
from fastrlap.practice.runlock import RunLock
from fastrlap.practice.session import ACTION_DIM, LEARNER_FILE, practice_device
from fastrlap.remote import wire
from fastrlap.remote.keys import derive, server_key
from fastrlap.remote.ledger import LEDGER_FILE, Ledger
from fastrlap.remote.link import HandshakeWatch, Peer, learner_socket

NEVER_FLUSH = 1 << 62  # the replay flushes only when the ledger has recorded what the flush holds
STATUS_EVERY_S = 10.0
REFUSAL_NOTE_EVERY_S = 5.0


class LearnerServeError(FastrlapError):
    """The learner cannot listen, resume or keep its files."""


@dataclass
class Car:
    """One car feeding this learner, as the learner sees it."""

    id: str  # the car's spool id: stable for its run, new for a new run
    name: str
    route: bytes  # routing id of its current connection
    peer: Peer
    received: int = 0  # highest sequence number inserted (by this process or before a restart)
    stored: int = 0  # highest sequence number in a committed replay chunk (what is acknowledged)
    version: int = -1  # weights version the car reported it acts with
    session: str = ""  # learner session it got them from
    sent: tuple[str, int, float] = ("", -1, 0.0)  # (session, version, time) of the last weights sent
    shown_up: bool = False

    def describe(self) -> str:
        state = "up" if self.peer.up() else f"lost {self.peer.silent_for():.1f} s"
        return f"{self.name} {state} (stored {self.stored})"


class LearnerServer:
    def __init__(self, run: RunDir, cfg: Config, status: Callable[[str], None] = print) -> None:
        self.run = run
        self.cfg = cfg
        self.link = cfg.learner_link
        self.status = status
        self.session = secrets.token_hex(6)
        device = practice_device(cfg)
        spec = EncoderSpec(frame_size=cfg.agent.frame_size, frame_stack=cfg.agent.frame_stack)
        self.dims = (spec.embedding_dim, PROPRIO_DIM, ACTION_DIM)
        self.dtype = wire.row_type(*self.dims)
        self.agent = SAC(*self.dims, cfg.agent, device=device, seed=cfg.seed)
        self.replay = ReplayBuffer(
            *self.dims, cfg.agent.replay_capacity, directory=replay_dir(run), flush_every=NEVER_FLUSH, seed=cfg.seed
        )
        agent_dir(run).mkdir(parents=True, exist_ok=True)
        self.ledger = Ledger(run.path / LEDGER_FILE)
        self.durable = self._resume()
        self.learner = ThreadedLearner(
            self.agent, self.replay, cfg.practice.start_training, cfg.practice.actor_sync_seconds
        )
        self.cars: dict[str, Car] = {}
        self.weights: tuple[int, float, list[bytes]] | None = None  # version, publication time, message
        self._flushing = False
        secret, key_path, created = server_key(run.path, self.link.key_file)
        if created:
            status(
                f"created the shared key {key_path} (mode 0600): {secret.hex()}  -- copy this file to each car "
                f"and give it as learner_link.key_file=PATH"
            )
        keys = derive(secret)
        self.ctx = zmq.Context()
        self.auth = zmq.auth.thread.ThreadAuthenticator(self.ctx)
        self.auth.start()
        self.auth.configure_curve_callback("*", _OnlyKey(keys.car_public))
        self.socket = learner_socket(self.ctx, keys)
        self.watch = HandshakeWatch(self.socket)
        try:
            self.socket.bind(self.link.bind)
        except zmq.ZMQError as e:
            self.close_socket()
            raise LearnerServeError(
                f"cannot listen on bind={self.link.bind} ({e}); use a free port and an address "
                f"of this machine, e.g. bind=tcp://0.0.0.0:5555 for every interface"
            ) from None
        status(
            f"learner listening on {self.socket.last_endpoint.decode()} ({device}); replay {len(self.replay)}, "
            f"{self.agent.critic_updates} updates; run directory {run.path}"
        )

    def _resume(self) -> dict[str, int]:
        if any(replay_dir(self.run).glob("chunk_*")):
            report = self.replay.load()
            self.status(f"resumed {report.summary()}")
        learner_path = agent_dir(self.run) / LEARNER_FILE
        if learner_path.exists():
            self.agent.load(learner_path)
            self.status(f"resumed the learner from {learner_path} ({self.agent.critic_updates} updates)")
        return self.ledger.load(self.replay.next_chunk)

    # ------------------------------------------------------------------ serving
    def serve(self, should_stop: Callable[[], bool] = lambda: False) -> None:
        """Answer cars until `should_stop()` or Ctrl-C; always ends with a final checkpoint."""
        period = 1.0 / self.link.heartbeat_hz
        times = {
            "beat": 0.0,
            "ack": time.monotonic(),
            "save": time.monotonic(),
            "status": time.monotonic(),
            "refusal": -REFUSAL_NOTE_EVERY_S,
        }
        try:
            while not should_stop():
                self._raise_error()
                now = time.monotonic()
                if self.watch.poll() and now - times["refusal"] >= REFUSAL_NOTE_EVERY_S:
                    times["refusal"] = now
                    self.status(
                        "refused a connection whose key is not this learner's (a car with another "
                        "learner.key, or someone else on the network); nothing from it is stored"
                    )
                if (
                    now - times["ack"] >= self.cfg.agent.replay_flush_seconds
                    or self.replay.unsaved >= self.cfg.agent.replay_flush_every
                ):
                    times["ack"] = now
                    self._flush_and_ack()
                if now - times["save"] >= self.cfg.practice.checkpoint_seconds:
                    times["save"] = now
                    self.learner.checkpoint(self._save)
                self._publish()
                if now >= times["beat"]:
                    times["beat"] = now + period
                    for car in self.cars.values():
                        self._beat(car)
                self._show_changes(now, times)
                if self.socket.poll(20):
                    while self.socket.poll(0):
                        self._receive(self.socket.recv_multipart())
        except KeyboardInterrupt:
            self.status("stopping: saving the replay and the learner")
        finally:
            self.learner.close()
            try:
                if self.learner.error is None:  # after a failed write (disk full) only what was saved counts
                    self._final_save()
            finally:
                self.close_socket()
        self._raise_error()

    def _raise_error(self) -> None:
        error = self.learner.error
        if isinstance(error, FastrlapError):
            raise error
        if error is not None:
            raise RuntimeError(f"the learner's background work failed: {error}") from error

    def _receive(self, frames: list[bytes]) -> None:
        """One message from a car; one that is authentic (CurveZMQ) but not understood (another
        fastrlap version) is ignored, never fatal to the learner the other cars share."""
        try:
            route, (header, payload) = frames[0], wire.parse(frames[1:])
            self._handle(route, header, payload)
        except (ValueError, UnicodeDecodeError, IndexError, KeyError, TypeError):
            return

    def _handle(self, route: bytes, header: dict, payload: list[bytes]) -> None:
        car = self.cars.get(str(header.get("car", "")))
        if header["kind"] == "hb":
            if tuple(header.get("dims", ())) != self.dims:
                self.socket.send_multipart(
                    [
                        route,
                        *wire.message(
                            {
                                "kind": "refused",
                                "reason": f"its encoder makes (embedding, proprio, action) dims "
                                f"{tuple(header.get('dims', ()))} but this learner learns "
                                f"{self.dims}; serve with the car's agent.frame_size and "
                                f"agent.frame_stack",
                            }
                        ),
                    ]
                )
                return
            if car is None:
                cid = str(header["car"])
                done = self.durable.get(cid, 0)
                car = self.cars[cid] = Car(
                    cid, str(header.get("name", cid)), route, Peer(self.link.dead_after_s), received=done, stored=done
                )
            car.route = route
            car.version, car.session = int(header.get("version", -1)), str(header.get("session", ""))
            car.peer.heard()
            self._beat(car)
            self._send_weights(car)
        elif header["kind"] == "tr" and car is not None:
            car.route = route
            car.peer.heard()
            self._store(car, int(header["first"]), int(header.get("n", 0)), payload[0] if payload else b"")
            self._beat(car)  # at once: a simulated car paces itself by what the learner received

    def _store(self, car: Car, first: int, n: int, data: bytes) -> None:
        """Insert the rows the learner does not hold yet, in sequence order (a gap waits for the
        car to resend from its last acknowledgement)."""
        try:
            rows = wire.unpack_rows(data, n, self.dtype)
        except ValueError:
            return
        for i, tr in enumerate(wire.from_rows(rows)):
            if first + i != car.received + 1:
                continue
            self.learner.insert(tr)
            if tr.source == "practice":
                self.learner.on_transition()
            car.received = first + i

    def _flush_and_ack(self) -> None:
        """Commit what arrived since the last flush (ledger first, then the replay chunk); once it
        is on disk every car is told how far it is stored and may forget it. Flushes follow the
        replay's own cadence (`agent.replay_flush_seconds` / `replay_flush_every`): each one is a
        chunk file, and the cars keep what is not acknowledged yet on their disks meanwhile."""
        if self._flushing or all(c.received == c.stored for c in self.cars.values()):
            return
        snapshot = {**self.durable, **{cid: c.received for cid, c in self.cars.items()}}
        self._flushing = True

        def job() -> None:
            try:
                if self.replay.unsaved:
                    self.ledger.record(self.replay.next_chunk, snapshot)
                    self.replay.flush()
                self.durable = snapshot
            finally:
                self._flushing = False

        self.learner.checkpoint(job)

    def _save(self) -> None:
        self.agent.save(agent_dir(self.run) / LEARNER_FILE)

    def _final_save(self) -> None:
        snapshot = {**self.durable, **{cid: c.received for cid, c in self.cars.items()}}
        if self.replay.unsaved:
            self.ledger.record(self.replay.next_chunk, snapshot)
            self.replay.flush()
        self._save()

    def _beat(self, car: Car) -> None:
        car.stored = self.durable.get(car.id, car.stored)
        self.socket.send_multipart(
            [
                car.route,
                *wire.message(
                    {
                        "kind": "hb",
                        "session": self.session,
                        "acked": car.stored,
                        "received": car.received,
                        "updates": self.agent.critic_updates,
                        "replay": len(self.replay),
                        "lag": self.learner.lag,
                    }
                ),
            ]
        )

    def _publish(self) -> None:
        """New weights every `publish_updates` updates or `publish_seconds`, once they changed."""
        updates = self.agent.critic_updates
        if self.weights is not None:
            version, published, _ = self.weights
            due = updates - version >= self.link.publish_updates or (
                updates != version and time.time() - published >= self.link.publish_seconds
            )
            if not due:
                return
        version, state = self.learner.actor_weights()
        published = time.time()
        self.weights = (
            version,
            published,
            wire.Weights(version, published, state).encode(self.session, asdict(self.cfg.agent)),
        )
        for car in self.cars.values():
            self._send_weights(car)

    def _send_weights(self, car: Car) -> None:
        if self.weights is None or not car.peer.up():
            return
        version, _, message = self.weights
        held = (car.session, car.version) == (self.session, version)
        last_session, last_version, sent_t = car.sent
        resend = (last_session, last_version) == (self.session, version) and time.monotonic() - sent_t > 2.0
        if held or ((last_session, last_version) == (self.session, version) and not resend):
            return
        try:
            self.socket.send_multipart([car.route, *message], flags=zmq.NOBLOCK)
            car.sent = (self.session, version, time.monotonic())
        except zmq.Again:
            pass

    def _show_changes(self, now: float, times: dict) -> None:
        for car in self.cars.values():
            up = car.peer.up(now)
            if up != car.shown_up:
                car.shown_up = up
                self.status(f"car {car.name}: link {'up' if up else 'lost'} (stored {car.stored})")
        if now - times["status"] >= STATUS_EVERY_S:
            times["status"] = now
            self.status(self.status_line())

    def status_line(self) -> str:
        cars = "; ".join(c.describe() for c in self.cars.values()) or "no car yet"
        version = self.weights[0] if self.weights else "-"
        return (
            f"learner: replay {len(self.replay)}, updates {self.agent.critic_updates}, weights v{version}; cars: {cars}"
        )

    def close_socket(self) -> None:
        self.watch.close()
        self.socket.close(linger=0)
        self.auth.stop()
        self.ctx.term()


class _OnlyKey:
    """ZAP check: the one public key a car derives from the shared secret, nothing else."""

    def __init__(self, car_public: bytes) -> None:
        self.car_public = car_public

    def callback(self, domain: str, key: bytes) -> bool:
        return key == self.car_public


def serve(cfg: Config) -> int:
    """The `fastrlap learner serve` command."""
    run = RunDir(Path(cfg.run_dir or "runs/learner"))
    try:
        run.path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LearnerServeError(f"cannot create run_dir={run.path} ({e.strerror}); give a writable folder") from None
    with RunLock(run, "learner serve"):
        LearnerServer(run, cfg, status=lambda line: print(line, flush=True)).serve()
    return 0
