"""The learner worker: gradient updates paced by the update-to-data (UTD) ratio.

Simulator: `SyncLearner` runs one UTD block right after each stored transition, in the loop's
thread, so a run is a pure function of its seed (same seed -> same laps).

Car: `ThreadedLearner` runs blocks in a background thread whenever it is behind the UTD target,
and the control loop acts with a *copy* of the actor that receives fresh weights every
`sync_seconds` — acting never waits for a gradient step (the paper's car ran its learner
asynchronously for the same reason). The control loop never waits for the disk either: inserts
go into an in-memory inbox and a writer thread moves them into the replay buffer (whose crash-safe
flush writes a chunk file every `flush_every` transitions) and runs the periodic checkpoints.

Both learners also fix how many threads torch may use (`choose_torch_threads`), because the
learner thread, the control loop and other processes share the machine's cores.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

from fastrlap.agent.replay import ReplayBuffer
from fastrlap.agent.sac import SAC, PolicyInput
from fastrlap.errors import FastrlapError
from fastrlap.types import Transition

Job = Callable[[], None]


class SyncLearner:
    def __init__(self, agent: SAC, replay: ReplayBuffer, start_training: int) -> None:
        self.agent = agent
        self.replay = replay
        self.start_training = start_training
        self.last_metrics: dict[str, float] = {}
        self.error: BaseException | None = None  # nothing runs in the background to fail

    @property
    def updates(self) -> int:
        return self.agent.critic_updates

    @property
    def lag(self) -> int:
        """Never behind: each transition's updates run before the simulated clock moves on."""
        return 0

    def act(self, obs: PolicyInput, deterministic: bool) -> np.ndarray:
        return self.agent.act(obs, deterministic=deterministic)

    def insert(self, transition: Transition) -> None:
        self.replay.insert(transition)

    def on_transition(self) -> None:
        """One UTD block per stored transition once the buffer holds `start_training`."""
        if len(self.replay) >= self.start_training:
            cfg = self.agent.cfg
            batch = self.replay.sample(cfg.utd_ratio * cfg.batch_size, cfg.demo_batch_share)
            self.last_metrics = self.agent.update(batch)

    def checkpoint(self, job: Job) -> None:
        """Run `job` (learner weights, replay flush, counters) now, in the loop's thread: the
        simulator's clock waits for it, so where a checkpoint falls cannot change the run."""
        job()

    def close(self) -> None:
        """Nothing runs in the background."""


def act_with(
    actor: torch.nn.Module, obs: PolicyInput, deterministic: bool, generator: torch.Generator, device: torch.device
) -> np.ndarray:
    """One action from an actor copy the control loop owns (the caller holds its weights lock)."""
    tensors = [
        torch.as_tensor(x, dtype=torch.float32, device=device).unsqueeze(0)
        for x in (obs.embedding, obs.proprio, obs.action_lo, obs.action_hi)
    ]
    with torch.inference_mode():
        action, _ = actor(*tensors, deterministic=deterministic, generator=generator)
    return action[0].cpu().numpy()


_COUNT = object()  # inbox marker: a stored transition counts toward the UTD target
_STOP = object()  # inbox marker: the writer drains everything before it, then exits


class ThreadedLearner:
    """UTD-paced updates in a background thread; the actor copy is refreshed every `sync_seconds`.

    Three threads touch the learner's state:
    - the control loop: `act` (actor copy, under `_weights_lock`), `insert` / `on_transition` /
      `checkpoint` (appends to the inbox: O(1), no lock shared with anything that does I/O);
    - the writer ("fastrlap-replay"): inbox -> `replay.insert` (which flushes a chunk to disk every
      `flush_every` transitions) and checkpoint jobs, in the order the loop issued them;
    - the learner ("fastrlap-learner"): samples under `_lock` and updates under `_agent_lock`.

    A flush holds `_lock`, so the learner may wait for the disk; the control loop never does.
    kill -9 loses the transitions not yet in a completed flush: the up to `flush_every - 1`
    pending ones, plus whatever arrived while the last flush was being written (at 10 Hz, one per
    100 ms of disk time) — one flush interval plus one write's worth of driving, where the old
    in-loop flush lost one interval but froze the car's control for the write.
    """

    def __init__(self, agent: SAC, replay: ReplayBuffer, start_training: int, sync_seconds: float) -> None:
        self.agent = agent
        self.replay = replay
        self.start_training = start_training
        self.sync_seconds = sync_seconds
        self.last_metrics: dict[str, float] = {}
        self.error: BaseException | None = None
        self._lock = threading.Lock()  # the replay buffer and the transition counter
        self._agent_lock = threading.Lock()  # the agent's weights/optimisers: update vs checkpoint
        self._weights_lock = threading.Lock()  # the actor copy: act vs refresh
        self._actor = copy.deepcopy(agent.actor).requires_grad_(False)
        self._generator = torch.Generator(device=agent.device).manual_seed(int(agent.act_generator.initial_seed()))
        self._inbox: deque = deque()  # Transition | _COUNT | Job | _STOP; deque.append is thread-safe
        self._wake = threading.Event()
        self._transitions = 0
        self._blocks = 0
        self._stop = threading.Event()
        self._closed = False
        self._last_sync = time.monotonic()
        self._writer = threading.Thread(target=self._write, name="fastrlap-replay", daemon=True)
        self._thread = threading.Thread(target=self._run, name="fastrlap-learner", daemon=True)
        self._writer.start()
        self._thread.start()

    @property
    def updates(self) -> int:
        return self.agent.critic_updates

    @property
    def lag(self) -> int:
        """UTD blocks the learner is behind its target (0 before training starts)."""
        return max(0, self._transitions - self._blocks)

    def actor_weights(self) -> tuple[int, dict[str, torch.Tensor]]:
        """The critic update count and a CPU copy of the actor's weights at that update, taken
        between two update blocks: what a learner on another machine publishes to its cars."""
        with self._agent_lock:
            return self.agent.critic_updates, {
                k: v.detach().cpu().clone() for k, v in self.agent.actor.state_dict().items()
            }

    def act(self, obs: PolicyInput, deterministic: bool) -> np.ndarray:
        if isinstance(self.error, FastrlapError):  # a write failed (disk full): already one line
            raise self.error
        if self.error is not None:
            raise RuntimeError(f"the learner's background work failed: {self.error}") from self.error
        with self._weights_lock:
            return act_with(self._actor, obs, deterministic, self._generator, self.agent.device)

    def _post(self, item) -> None:
        if self._closed:
            raise RuntimeError("the threaded learner is closed; build a new one to continue")
        self._inbox.append(item)
        self._wake.set()

    def insert(self, transition: Transition) -> None:
        """Queue a transition for the replay buffer; returns at once (the writer stores it)."""
        self._post(transition)

    def on_transition(self) -> None:
        """Count the transition queued before this call toward the UTD target (once training started)."""
        self._post(_COUNT)

    def checkpoint(self, job: Job) -> None:
        """Run `job` in the writer thread once every transition queued before this call is in the
        replay buffer. It holds the replay and agent locks, so it saves weights between optimiser
        steps and a replay that matches them; the learner pauses for it, the control loop does not.
        Whatever `job` needs from the loop must be copied before calling this."""
        self._post(job)

    # ------------------------------------------------------------------ writer thread
    def _write(self) -> None:
        try:
            while True:
                if not self._inbox:
                    self._wake.wait(0.05)
                    self._wake.clear()
                    continue
                item = self._inbox.popleft()
                if item is _STOP:
                    return
                try:
                    self._handle(item)
                except FastrlapError as e:
                    # A write failed (disk full, read-only): keep storing transitions in memory, so
                    # the session's last checkpoint can still save them or count them as lost;
                    # the control loop stops on its next act().
                    self.error = e
        except BaseException as e:  # surfaced to the control loop on its next act()
            self.error = e

    def _handle(self, item) -> None:
        if item is _COUNT:
            with self._lock:
                if len(self.replay) >= self.start_training:
                    self._transitions += 1
        elif isinstance(item, Transition):
            with self._lock:
                self.replay.insert(item)  # may write a chunk (a flush) while holding the lock
        else:
            with self._lock, self._agent_lock:
                item()

    # ------------------------------------------------------------------ learner thread
    def _behind(self) -> bool:
        with self._lock:
            return len(self.replay) >= self.start_training and self._blocks < self._transitions

    def _run(self) -> None:
        cfg = self.agent.cfg
        try:
            while not self._stop.is_set():
                if not self._behind():
                    time.sleep(0.002)
                    continue
                with self._lock:
                    batch = self.replay.sample(cfg.utd_ratio * cfg.batch_size, cfg.demo_batch_share)
                    batch = type(batch)(*(t.clone() for t in batch))  # the buffer reuses its output tensors
                with self._agent_lock:
                    self.last_metrics = self.agent.update(batch)
                    self._blocks += 1
                    if time.monotonic() - self._last_sync >= self.sync_seconds:
                        with self._weights_lock:
                            self._actor.load_state_dict(self.agent.actor.state_dict())
                        self._last_sync = time.monotonic()
        except BaseException as e:  # surfaced to the control loop on its next act()
            self.error = e

    def close(self) -> None:
        """Stop learning, then let the writer store every queued transition and run every queued
        checkpoint (a final checkpoint after `close` then sees the whole session). A failure of
        either thread stays in `error` for the caller to report; close itself does not raise, so a
        `finally` that calls it still reaches its own checkpoint and logs."""
        if self._closed:
            return
        self._stop.set()
        self._thread.join(timeout=10.0)
        self._inbox.append(_STOP)
        self._closed = True
        self._wake.set()
        self._writer.join()  # a flush in progress completes: what was driven is kept


# ---------------------------------------------------------------------------------------------
# torch threads


def available_cores() -> int:
    """CPU cores this process may run on: its affinity mask, capped by a cgroup v2 CPU quota
    (`cpu.max`, e.g. `docker --cpus=2`), which the affinity mask does not show."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def choose_torch_threads(setting: int, threaded: bool, cores: int | None = None, current: int | None = None) -> int:
    """torch intra-op threads for practice (`practice.torch_threads`; 0 = auto).

    Auto: in the simulator the loop and the learner take turns in one thread, so torch may use
    every core this process has. On the car the learner thread and the control loop call torch at
    the same time, and each caller runs its own team of intra-op threads (OpenMP), so twice the
    count compete for the cores; half the cores each keeps the two teams within the machine and
    the control loop's encoder pass from waiting behind the learner (the learner's small MLPs gain
    little from more threads anyway). Never more than torch's current setting, so a lower
    OMP_NUM_THREADS (several benchmarks sharing a machine) still wins; with N processes on one
    machine, set practice.torch_threads to cores / N.
    """
    if setting < 0:
        raise FastrlapError(f"practice.torch_threads={setting}: use a positive thread count, or 0 for auto")
    if setting > 0:
        return setting
    cores = available_cores() if cores is None else cores
    current = torch.get_num_threads() if current is None else current
    budget = max(1, cores // 2) if threaded else cores
    return max(1, min(budget, current))


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[int]:
    """Use `n` intra-op threads inside the block and restore the previous count after it: the
    setting is process-wide, and a library call must not leave it changed for its caller."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(previous)
