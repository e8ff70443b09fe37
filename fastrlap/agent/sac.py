"""The learner: SAC with a REDQ critic ensemble, as in RLPD (arXiv 2302.02948) and FastRLAP.

One `update(batch)` is one UTD block: the batch of `utd_ratio · batch_size` transitions is split
into `utd_ratio` minibatches, each gives one critic update (and one polyak step of the targets),
then the actor and the temperature update once on the last minibatch. Metrics are returned,
never logged (STYLE.md 8).

Read top to bottom: `critic_target`, `next_actions`, `critic_loss`, `actor_loss`, `temperature_loss`, then the
`SAC` object that owns the networks, optimisers and random streams.
"""
from __future__ import annotations

import copy
import ctypes
import ctypes.util
import io
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fastrlap.agent.networks import CriticEnsemble, TanhGaussianActor, subsample_ensemble
from fastrlap.agent.replay import Batch
from fastrlap.config import AgentConfig


class NonFiniteError(RuntimeError):
    """A loss, gradient or weight became NaN/Inf; the weights were left at their last good values."""


@dataclass(frozen=True)
class PolicyInput:
    """What `act` needs for one control tick (or a leading batch axis of them)."""

    embedding: np.ndarray | torch.Tensor  # (E,) frozen-encoder embedding; (0,) for state-only tasks
    proprio: np.ndarray | torch.Tensor  # (P,) float32
    action_lo: np.ndarray | torch.Tensor  # (A,) lower edge of this tick's output range
    action_hi: np.ndarray | torch.Tensor  # (A,) upper edge


def action_range(prev_action: np.ndarray, rate_limit: float) -> tuple[np.ndarray, np.ndarray]:
    """FastRLAP's per-step output range: [a_prev - limit, a_prev + limit] ∩ [-1, 1] (A,) each."""
    prev = np.asarray(prev_action, dtype=np.float32)
    return np.clip(prev - rate_limit, -1.0, 1.0), np.clip(prev + rate_limit, -1.0, 1.0)


# --------------------------------------------------------------------------------------------
# Losses. Each returns (loss, info) with info values as 0-d tensors (converted once per block).
# --------------------------------------------------------------------------------------------

def critic_target(reward: torch.Tensor, mask: torch.Tensor, next_qs: torch.Tensor, gamma: float) -> torch.Tensor:
    """y = r + γ · mask · min_i Q'_i(s', a'), the min over the sampled subset (M, B) -> (B,).

    REDQ: min over a random subset of M target critics, arXiv 2101.05982. No entropy term in the
    backup (RLPD's `backup_entropy=False`).
    """
    return reward + gamma * mask * next_qs.min(dim=0).values


def next_actions(actor: TanhGaussianActor, batch: Batch, noise: torch.Tensor) -> torch.Tensor:
    """a' ~ π(·|s') inside each sample's next range (B, A); `noise` (B, A) is standard normal.

    The actor only changes at the end of a UTD block, so the learner draws a' for the whole block
    in one batched pass (the same distribution as drawing them step by step, in fewer calls).
    """
    with torch.no_grad():
        action, _ = actor(batch.next_embedding, batch.next_proprio, batch.next_action_lo, batch.next_action_hi,
                          noise=noise)
    return action


def critic_loss(critic: CriticEnsemble, target_critic: CriticEnsemble, batch: Batch, next_action: torch.Tensor,
                members: torch.Tensor, gamma: float) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Mean squared TD error of every critic against one shared target built from a' (B, A)."""
    with torch.no_grad():
        next_qs = target_critic(batch.next_embedding, batch.next_proprio, next_action, members=members)
        target = critic_target(batch.reward, batch.mask, next_qs, gamma)
    qs = critic(batch.embedding, batch.proprio, batch.action)  # (N, B)
    loss = (qs - target).pow(2).mean()
    return loss, {"critic_loss": loss.detach(), "q_mean": qs.detach().mean(), "target_mean": target.mean()}


def actor_loss(actor: TanhGaussianActor, critic: CriticEnsemble, batch: Batch, temperature: torch.Tensor,
               noise: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
    """E[α log π(a|s) - mean_i Q_i(s, a)], a ~ π inside the sample's range; also returns log π (B,)."""
    action, log_prob = actor(batch.embedding, batch.proprio, batch.action_lo, batch.action_hi, noise=noise)
    q = critic(batch.embedding, batch.proprio, action).mean(dim=0)  # RLPD: mean over all critics
    loss = (temperature.detach() * log_prob - q).mean()
    return loss, {"actor_loss": loss.detach(), "entropy": -log_prob.detach().mean()}, log_prob.detach()


def temperature_loss(log_temperature: torch.Tensor, log_prob: torch.Tensor, target_entropy: float
                     ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """α · (H - H_target): gradient descent raises α when the entropy H is below the target."""
    temperature = log_temperature.exp()
    loss = temperature * (-log_prob.mean() - target_entropy)
    return loss, {"temperature": temperature.detach(), "temperature_loss": loss.detach()}


def polyak_update(target: nn.Module, online: nn.Module, tau: float) -> None:
    """θ' ← θ' + τ (θ - θ'), all tensors in one fused call."""
    with torch.no_grad():
        torch._foreach_lerp_(list(target.parameters()), list(online.parameters()), tau)


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters, <malloc.h>


def keep_freed_memory() -> bool:
    """Ask glibc to reuse freed blocks instead of handing them back to the OS (Linux; else a no-op).

    Every critic update allocates and frees the same activation and gradient buffers, each a few
    MB at batch 256 (torch has no caching allocator on the CPU). glibc serves blocks that large with
    their own mmap() and unmaps them on free, so each update faulted ~1000 fresh zeroed pages
    back in: measured 1.5-2 ms of kernel time per critic update on one thread, ~7 % of it. With
    both thresholds raised the buffers stay in the heap and are reused; the cost is that up to
    256 MB of freed heap is kept by the process. Process-wide, idempotent; True if glibc took it.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl or another libc without mallopt
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, 32 << 20)) and bool(mallopt(_M_TRIM_THRESHOLD, 256 << 20))


def _grad_norm(params: list[torch.Tensor]) -> torch.Tensor:
    grads = [p.grad for p in params if p.grad is not None]
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


# --------------------------------------------------------------------------------------------
# The learner.
# --------------------------------------------------------------------------------------------

class SAC:
    """Networks, optimisers and random streams; `update(batch)` and `act(obs)`.

    Dimensions: E embedding (0 for state-only tasks such as Pendulum), P proprio, A action.
    """

    def __init__(self, embedding_dim: int, proprio_dim: int, action_dim: int, cfg: AgentConfig,
                 device: str | torch.device = "cpu", seed: int = 0):
        if cfg.utd_ratio < 1 or cfg.batch_size < 1:
            raise ValueError(f"agent.utd_ratio and agent.batch_size must be >= 1, got {cfg.utd_ratio}, {cfg.batch_size}")
        self.cfg = cfg
        self.device = torch.device(device)
        if self.device.type == "cpu":
            keep_freed_memory()  # CUDA tensors come from torch's caching allocator already
        self.dims = (embedding_dim, proprio_dim, action_dim)
        # Seeded initialisation without touching the global streams. torch.manual_seed also seeds
        # every CUDA device, so those streams are forked too when CUDA is in use. The networks are
        # built on the CPU and then moved, so a seed gives the same weights on either device.
        cuda_devices = list(range(torch.cuda.device_count())) if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda_devices):
            torch.manual_seed(seed)
            self.actor = TanhGaussianActor(embedding_dim, proprio_dim, action_dim, cfg.projection_dim,
                                           cfg.hidden_dim, cfg.num_layers).to(self.device)
            self.critic = CriticEnsemble(embedding_dim, proprio_dim, action_dim, cfg.num_qs, cfg.projection_dim,
                                         cfg.hidden_dim, cfg.num_layers).to(self.device)
        self.target_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_temperature = torch.tensor(math.log(cfg.init_temperature), device=self.device, requires_grad=True)
        fused = self.device.type in ("cpu", "cuda")
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg.lr, fused=fused)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=cfg.lr, fused=fused)
        self.temperature_opt = torch.optim.Adam([self.log_temperature], lr=cfg.lr)
        self._critic_params = list(self.critic.parameters())
        self._actor_params = list(self.actor.parameters())
        # Separate streams so acting does not change what the learner samples, and vice versa.
        self.act_generator = torch.Generator(device=self.device).manual_seed(seed + 1)
        self.update_generator = torch.Generator(device=self.device).manual_seed(seed + 2)
        self.subset_generator = torch.Generator().manual_seed(seed + 3)
        self.critic_updates = 0
        self.actor_updates = 0
        # Compiling fuses the LayerNorm/ReLU/loss element-wise work into few kernels (forward and
        # backward); the first update pays the compile time.
        self._critic_loss = torch.compile(critic_loss) if cfg.compile else critic_loss
        self._next_actions = torch.compile(next_actions) if cfg.compile else next_actions
        self._actor_loss = torch.compile(actor_loss) if cfg.compile else actor_loss

    # ---- acting --------------------------------------------------------------------------

    @torch.inference_mode()
    def act(self, obs: PolicyInput, deterministic: bool = False) -> np.ndarray:
        """Action (A,) inside [obs.action_lo, obs.action_hi] (or (B, A) for batched inputs)."""
        tensors = [torch.as_tensor(x, dtype=torch.float32, device=self.device)
                   for x in (obs.embedding, obs.proprio, obs.action_lo, obs.action_hi)]
        single = tensors[1].dim() == 1
        if single:
            tensors = [t.unsqueeze(0) for t in tensors]
        action, _ = self.actor(*tensors, deterministic=deterministic, generator=self.act_generator)
        out = action.cpu().numpy()
        return out[0] if single else out

    # ---- learning ------------------------------------------------------------------------

    def target_entropy(self) -> float:
        """Linearly annealed from `target_entropy_start` to `target_entropy` over the actor updates."""
        n = self.cfg.target_entropy_anneal_updates
        frac = 1.0 if n <= 0 else min(1.0, self.actor_updates / n)
        return self.cfg.target_entropy_start + frac * (self.cfg.target_entropy - self.cfg.target_entropy_start)

    def update(self, batch: Batch) -> dict[str, float]:
        """One UTD block on `utd_ratio · B` transitions; returns the block's last metrics."""
        batch = batch.to(self.device)
        minibatches = batch.split(self.cfg.utd_ratio)
        next_action = self._next_actions(self.actor, batch, self._noise(batch)).chunk(self.cfg.utd_ratio)
        info: dict[str, torch.Tensor] = {}
        for minibatch, a_next in zip(minibatches, next_action):
            info.update(self._critic_step(minibatch, a_next))
        info.update(self._actor_step(minibatches[-1]))
        return {k: float(v) for k, v in info.items()}

    def _noise(self, batch: Batch) -> torch.Tensor:
        return torch.randn(batch.action.shape, generator=self.update_generator, device=self.device)

    def _critic_step(self, batch: Batch, next_action: torch.Tensor) -> dict[str, torch.Tensor]:
        members = subsample_ensemble(self.cfg.num_qs, self.cfg.num_min_qs, self.subset_generator, self.device)
        loss, info = self._critic_loss(self.critic, self.target_critic, batch, next_action, members, self.cfg.gamma)
        self.critic_opt.zero_grad(set_to_none=True)
        loss.backward()
        info["critic_grad_norm"] = _grad_norm(self._critic_params)
        self._check_finite("critic", loss, info["critic_grad_norm"], batch, self.critic_opt)
        self.critic_opt.step()
        polyak_update(self.target_critic, self.critic, self.cfg.tau)
        self.critic_updates += 1
        return info

    def _actor_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        temperature = self.log_temperature.exp()
        # The critic only passes the gradient through to the action. Freezing its weights while the
        # graph is built (not just `backward(inputs=...)`) keeps a compiled backward from computing
        # critic weight gradients nobody reads: about 0.46 GFLOP of wasted GEMMs per UTD block.
        self.critic.requires_grad_(False)
        try:
            loss, info, log_prob = self._actor_loss(self.actor, self.critic, batch, temperature, self._noise(batch))
        finally:
            self.critic.requires_grad_(True)
        self.actor_opt.zero_grad(set_to_none=True)
        loss.backward(inputs=self._actor_params)
        info["actor_grad_norm"] = _grad_norm(self._actor_params)
        self._check_finite("actor", loss, info["actor_grad_norm"], batch, self.actor_opt)

        target_entropy = self.target_entropy()
        t_loss, t_info = temperature_loss(self.log_temperature, log_prob, target_entropy)
        self.temperature_opt.zero_grad(set_to_none=True)
        t_loss.backward()
        self._check_finite("temperature", t_loss, self.log_temperature.grad, batch, self.temperature_opt)
        self.actor_opt.step()
        self.temperature_opt.step()
        self.actor_updates += 1
        info.update(t_info)
        info["target_entropy"] = torch.tensor(target_entropy)
        return info

    def _check_finite(self, what: str, loss: torch.Tensor, grad_norm: torch.Tensor, batch: Batch,
                      opt: torch.optim.Optimizer) -> None:
        """Refuse the step (weights stay at their last good values) if the loss or gradient is not finite."""
        if bool(torch.isfinite(loss) & torch.isfinite(grad_norm)):
            return
        opt.zero_grad(set_to_none=True)
        bad = [name for name, t in zip(batch._fields, batch) if not bool(torch.isfinite(t).all())]
        cause = (f"non-finite values in batch field(s) {', '.join(bad)}; fix the data that filled the replay buffer"
                 if bad else "the batch is finite, so the learning rate or reward scale is too large; lower agent.lr")
        raise NonFiniteError(f"{what} {'loss' if not bool(torch.isfinite(loss)) else 'gradient'} is not finite "
                             f"after {self.critic_updates} critic updates: {cause} (weights kept at last good values)")

    # ---- checkpoints ---------------------------------------------------------------------

    def state_dict(self) -> dict:
        """Everything needed to continue exactly: weights, optimisers, counters, random streams."""
        self._check_weights("state_dict")
        return {
            "dims": self.dims,
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "target_critic": self.target_critic.state_dict(),
            "log_temperature": self.log_temperature.detach().clone(),
            "actor_opt": self.actor_opt.state_dict(),
            "critic_opt": self.critic_opt.state_dict(),
            "temperature_opt": self.temperature_opt.state_dict(),
            "act_generator": self.act_generator.get_state(),
            "update_generator": self.update_generator.get_state(),
            "subset_generator": self.subset_generator.get_state(),
            "critic_updates": self.critic_updates,
            "actor_updates": self.actor_updates,
        }

    def load_state_dict(self, state: dict) -> None:
        if tuple(state["dims"]) != self.dims:
            raise ValueError(f"agent checkpoint has (embedding, proprio, action) dims {tuple(state['dims'])} but this "
                             f"agent has {self.dims}; load it into an agent built with the same encoder and proprio")
        for key in ("actor", "critic", "target_critic"):
            for name, t in state[key].items():
                if not bool(torch.isfinite(t).all()):
                    raise NonFiniteError(f"agent checkpoint tensor {key}.{name} is not finite; use an earlier checkpoint")
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.target_critic.load_state_dict(state["target_critic"])
        with torch.no_grad():
            self.log_temperature.copy_(state["log_temperature"])
        self.actor_opt.load_state_dict(state["actor_opt"])
        self.critic_opt.load_state_dict(state["critic_opt"])
        self.temperature_opt.load_state_dict(state["temperature_opt"])
        # Generator states are CPU byte tensors whatever the generator's device; `load` maps the
        # whole checkpoint to self.device, so bring them back.
        self.act_generator.set_state(state["act_generator"].cpu())
        self.update_generator.set_state(state["update_generator"].cpu())
        self.subset_generator.set_state(state["subset_generator"].cpu())
        self.critic_updates = int(state["critic_updates"])
        self.actor_updates = int(state["actor_updates"])

    def save(self, path: str | Path) -> None:
        """Write a checkpoint atomically (temp file + rename): a crash never leaves a half file."""
        path = Path(path)
        buf = io.BytesIO()
        torch.save(self.state_dict(), buf)  # raises before touching the disk if weights are bad
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(buf.getvalue())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def load(self, path: str | Path) -> None:
        self.load_state_dict(torch.load(path, map_location=self.device, weights_only=False))

    def _check_weights(self, what: str) -> None:
        for module_name, module in (("actor", self.actor), ("critic", self.critic), ("target_critic", self.target_critic)):
            for name, p in module.named_parameters():
                if not bool(torch.isfinite(p).all()):
                    raise NonFiniteError(f"{what}: weight {module_name}.{name} is not finite; refusing to checkpoint it "
                                         f"(load the last good checkpoint)")
        if not bool(torch.isfinite(self.log_temperature)):
            raise NonFiniteError(f"{what}: the temperature is not finite; refusing to checkpoint it")
