"""The learner worker: gradient updates paced by the update-to-data (UTD) ratio.

Simulator: `SyncLearner` runs one UTD block right after each stored transition, in the loop's
thread, so a run is a pure function of its seed (same seed -> same laps).

Car: `ThreadedLearner` runs blocks in a background thread whenever it is behind the UTD target,
and the control loop acts with a *copy* of the actor that receives fresh weights every
`sync_seconds` — acting never waits for a gradient step (the paper's car ran its learner
asynchronously for the same reason).
"""
from __future__ import annotations

import copy
import threading
import time

import numpy as np
import torch

from fastrlap.agent.replay import ReplayBuffer
from fastrlap.agent.sac import SAC, PolicyInput


class SyncLearner:
    def __init__(self, agent: SAC, replay: ReplayBuffer, start_training: int) -> None:
        self.agent = agent
        self.replay = replay
        self.start_training = start_training
        self.last_metrics: dict[str, float] = {}

    @property
    def updates(self) -> int:
        return self.agent.critic_updates

    def act(self, obs: PolicyInput, deterministic: bool) -> np.ndarray:
        return self.agent.act(obs, deterministic=deterministic)

    def insert(self, transition) -> None:
        self.replay.insert(transition)

    def on_transition(self) -> None:
        """One UTD block per stored transition once the buffer holds `start_training`."""
        if len(self.replay) >= self.start_training:
            cfg = self.agent.cfg
            self.last_metrics = self.agent.update(self.replay.sample(cfg.utd_ratio * cfg.batch_size))

    def close(self) -> None:
        """Nothing runs in the background."""


class ThreadedLearner:
    """UTD-paced updates in a background thread; the actor copy is refreshed every `sync_seconds`."""

    def __init__(self, agent: SAC, replay: ReplayBuffer, start_training: int, sync_seconds: float) -> None:
        self.agent = agent
        self.replay = replay
        self.start_training = start_training
        self.sync_seconds = sync_seconds
        self.last_metrics: dict[str, float] = {}
        self.error: BaseException | None = None
        self._lock = threading.Lock()  # guards the replay buffer and the transition counter
        self._weights_lock = threading.Lock()
        self._actor = copy.deepcopy(agent.actor).requires_grad_(False)
        self._generator = torch.Generator(device=agent.device).manual_seed(int(agent.act_generator.initial_seed()))
        self._transitions = 0
        self._blocks = 0
        self._stop = threading.Event()
        self._last_sync = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="fastrlap-learner", daemon=True)
        self._thread.start()

    @property
    def updates(self) -> int:
        return self.agent.critic_updates

    def act(self, obs: PolicyInput, deterministic: bool) -> np.ndarray:
        if self.error is not None:
            raise RuntimeError(f"the learner thread failed: {self.error}") from self.error
        tensors = [torch.as_tensor(x, dtype=torch.float32, device=self.agent.device).unsqueeze(0)
                   for x in (obs.embedding, obs.proprio, obs.action_lo, obs.action_hi)]
        with self._weights_lock, torch.inference_mode():
            action, _ = self._actor(*tensors, deterministic=deterministic, generator=self._generator)
        return action[0].cpu().numpy()

    def insert(self, transition) -> None:
        """The loop stores transitions through here so the learner never samples mid-insert."""
        with self._lock:
            self.replay.insert(transition)

    def on_transition(self) -> None:
        """Count a stored transition toward the UTD target (only once training has started)."""
        with self._lock:
            if len(self.replay) >= self.start_training:
                self._transitions += 1

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
                    batch = self.replay.sample(cfg.utd_ratio * cfg.batch_size)
                    batch = type(batch)(*(t.clone() for t in batch))  # the buffer reuses its output tensors
                self.last_metrics = self.agent.update(batch)
                self._blocks += 1
                if time.monotonic() - self._last_sync >= self.sync_seconds:
                    with self._weights_lock:
                        self._actor.load_state_dict(self.agent.actor.state_dict())
                    self._last_sync = time.monotonic()
        except BaseException as e:  # surfaced to the control loop on its next act()
            self.error = e

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10.0)
