"""Practice with `learner=tcp://HOST:PORT`: the pieces of a session that differ from the
in-process learner, kept out of the session's wiring (practice/session.py).

The car's run directory keeps what the car alone knows: the demo, laps.csv, events.jsonl, the
trajectory, loop_state.json and the spool of transitions the learner has not acknowledged yet.
It holds no replay buffer and no learner checkpoint: those live on the workstation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastrlap.config import Config
from fastrlap.practice.run import RunDir
from fastrlap.remote.client import LearnerLinkError, RemoteLearner
from fastrlap.remote.spool import SPOOL_FILE, Spool


def is_remote(cfg: Config) -> bool:
    return cfg.learner != "local"


def spool_path(run: RunDir):
    return run.path / SPOOL_FILE


def connect(
    cfg: Config, run: RunDir, dims: tuple[int, int, int], synchronous: bool, status: Callable[[str], None]
) -> RemoteLearner:
    """The link to `cfg.learner`, once its first weights arrived (one line when they cannot)."""
    if not cfg.learner.startswith("tcp://"):
        raise LearnerLinkError(f"learner={cfg.learner}: use local, or tcp://HOST:PORT of `fastrlap learner serve`")
    spool = Spool.open(spool_path(run), dims)
    try:
        learner = RemoteLearner(
            cfg.learner,
            cfg.learner_link,
            spool,
            dims,
            seed=cfg.seed,
            synchronous=synchronous,
            name=cfg.learner_link.car or run.path.name,
        )
    except BaseException:
        spool.close()
        raise
    status(f"connecting to the learner at {cfg.learner} ({spool.unacked} transitions spooled from before)")
    learner.wait_ready()
    status(f"learner link up: weights v{learner.version}")
    return learner


@dataclass
class LinkWatch:
    """Turns changes of the link into `learner_link` events and status lines, logs each weights
    version the loop starts acting with (`weights`: how long after its publication), and ends
    practice when the link is lost and `learner_link.on_loss=stop`."""

    learner: RemoteLearner
    on_event: Callable[[float, str, dict], None]
    shown: bool = True  # the link was up when practice began
    version: int = -1  # weights version last logged

    def __call__(self, t: float) -> None:
        uses = self.learner.first_uses
        if uses and uses[-1][0] != self.version:
            self.version, latency = uses[-1]
            self.on_event(t, "weights", {"version": self.version, "latency_ms": round(1e3 * latency, 1)})
        up = self.learner.link_up
        if up == self.shown:
            return
        self.shown = up
        state = "up" if up else "lost"
        self.on_event(
            t,
            "learner_link",
            {
                "state": state,
                "address": self.learner.address,
                "detail": f"learner link {state} ({self.learner.link_state})",
            },
        )
        if not up and self.learner.cfg.on_loss == "stop":
            raise LearnerLinkError(
                f"the learner at {self.learner.address} stopped answering "
                f"(learner_link.on_loss=stop); every transition is kept in the spool and is "
                f"sent when practice resumes"
            )
