"""Offline goal-conditioned IQL that trains the visual encoder through its critic, as the paper pretrains it.

Implicit Q-learning (Kostrikov et al., arXiv 2110.06169) never queries actions outside the data:
V(s, g) regresses an upper expectile of Q(s, g, a) over the dataset's actions, Q regresses
r + γ·V(s', g), and the policy is fitted by advantage-weighted regression. FastRLAP (arXiv
2304.09831 §IV-B) pretrains its encoder exactly so, on RECON with hindsight goals, because a
critic that must predict progress toward a goal from pixels has to see free space, walls and
what the car will hit — the features fast practice needs later. Here the conv encoder is trained
by the critic and value losses; the actor reads a detached embedding so it cannot shape the
features (only the critic's gradient does, as in the paper). Only the encoder is kept: practice
learns its own actor and critics on top of the frozen features.

With `geometry_weight` > 0 a small head also predicts, from the same embedding, the free distance
along each of `geometry.RAY_ANGLES` (auxiliary depth prediction, Mirowski et al. 2016, arXiv
1611.03673): on the simulated prior data the critic alone left the encoder with *less* of this
geometry than a random one has (docs/experiments/encoder.md), because reaching a goal on open
ground hardly depends on where the walls are. The head is dropped at export like the others.

Augmentation: DrQ's random shift (pad 4 px by edge replication, crop back at a random offset),
drawn independently for the current and the next stack.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from fastrlap.agent.encoder import Encoder, EncoderSpec
from fastrlap.agent.networks import CriticEnsemble, TanhGaussianActor, polyak_, squashed_log_prob
from fastrlap.config import IQLConfig
from fastrlap.errors import FastrlapError
from fastrlap.pretrain.dataset import STATE_DIM, Batch
from fastrlap.pretrain.geometry import MAX_FREE, RAY_ANGLES

ACTION_DIM = 2
ACTION_EPS = 1e-3  # dataset actions at exactly ±1 (e.g. reversing) are pulled inside the box for atanh
METRICS = ("q_loss", "v_loss", "actor_loss", "geometry_loss", "q", "v", "advantage", "reward", "done")
MAX_WEIGHT = 100.0  # cap on the advantage weight exp(β·A), as in the IQL paper's code release figures


def random_shift(x: torch.Tensor, pad: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """(B, C, S, S) uint8 -> the same shape, each image shifted by up to `pad` px (edges replicated)."""
    if pad <= 0:
        return x
    b, c, h, w = x.shape
    padded = F.pad(x.to(torch.float32), (pad, pad, pad, pad), mode="replicate")
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator, device=x.device)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator, device=x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None].expand(b, c, h, w + 2 * pad)
    shifted = padded.gather(2, rows)
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :].expand(b, c, h, w)
    return shifted.gather(3, cols).to(torch.uint8)


def photometric_jitter(x: torch.Tensor, strength: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """(B, 3K, S, S) uint8 stacks of K RGB frames -> the same, each sample seen in another light.

    Per sample, one brightness gain, one contrast change about the stack's mean and one white
    balance (a gain per colour channel), all drawn within ±`strength` (the colour gains within half
    that) and applied alike to every frame of the stack: a sunnier or dimmer day, a warmer lamp, an
    exposure that settled elsewhere, without making the frames of one moment disagree. An encoder
    trained through this has to find the track in the geometry of the picture, not in its
    brightness, which is what practice under another light needs.
    """
    if strength <= 0:
        return x
    b, c, h, w = x.shape
    dev = x.device

    def draw(*shape: int, scale: float) -> torch.Tensor:
        return 1.0 + scale * (2.0 * torch.rand(shape, generator=generator, device=dev) - 1.0)

    gain = draw(b, 1, 1, 1, 1, scale=strength)
    contrast = draw(b, 1, 1, 1, 1, scale=strength)
    colour = draw(b, 1, 3, 1, 1, scale=0.5 * strength)
    f = x.view(b, c // 3, 3, h, w).to(torch.float32)
    mean = f.mean(dim=(1, 2, 3, 4), keepdim=True)
    out = ((f - mean) * contrast + mean) * gain * colour
    return out.clamp_(0, 255).round_().to(torch.uint8).view(b, c, h, w)


def expectile_loss(diff: torch.Tensor, expectile: float) -> torch.Tensor:
    """mean |τ - 1(diff < 0)| · diff²: τ > 0.5 makes V an upper expectile of Q (the best actions seen)."""
    weight = torch.where(diff < 0, 1.0 - expectile, expectile)
    return (weight * diff.pow(2)).mean()


class IQL(nn.Module):
    """Encoder, Q ensemble (+ target), V and actor; `update(batch)` is one gradient step on all of them."""

    def __init__(self, spec: EncoderSpec, cfg: IQLConfig, device: torch.device | str = "cpu", seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.cfg = cfg
        self.encoder = Encoder(spec)
        e = spec.embedding_dim
        self.critic = CriticEnsemble(
            e, STATE_DIM, ACTION_DIM, num_qs=cfg.num_qs, projection_dim=cfg.projection_dim, hidden_dim=cfg.hidden_dim
        )
        self.target_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.value = CriticEnsemble(
            e, STATE_DIM, 0, num_qs=1, projection_dim=cfg.projection_dim, hidden_dim=cfg.hidden_dim
        )
        self.actor = TanhGaussianActor(
            e, STATE_DIM, ACTION_DIM, projection_dim=cfg.projection_dim, hidden_dim=cfg.hidden_dim
        )
        # Only built when weighted in: with weight 0 it would cost a forward pass per step for nothing.
        self.geometry = (
            nn.Sequential(nn.Linear(e, cfg.hidden_dim), nn.ReLU(), nn.Linear(cfg.hidden_dim, len(RAY_ANGLES)))
            if cfg.geometry_weight > 0
            else None
        )
        self.to(device)
        self.device = torch.device(device)
        trained = [p for name, p in self.named_parameters() if not name.startswith("target_critic.")]
        # fused: one kernel for the whole Adam step on a GPU instead of several per tensor
        self.optimizer = torch.optim.Adam(trained, lr=cfg.lr, fused=torch.device(device).type == "cuda")
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.updates = 0

    def augment(self, stack: torch.Tensor) -> torch.Tensor:
        """The training-time views of a batch of frame stacks: another light, then a small shift."""
        lit = photometric_jitter(stack, self.cfg.photometric, self.generator)
        return random_shift(lit, self.cfg.shift, self.generator)

    def losses(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Q, V, actor and geometry losses of a batch, and the statistics (`METRICS` order after the losses)."""
        cfg = self.cfg
        z = self.encoder(self.augment(batch.stack))
        with torch.no_grad():
            z_next = self.encoder(self.augment(batch.next_stack))
            v_next = self.value(z_next, batch.next_state, z_next[:, :0])[0]
            target = batch.reward + cfg.gamma * (1.0 - batch.done) * v_next
            q_target = self.target_critic(z, batch.state, batch.action).min(dim=0).values
        q = self.critic(z, batch.state, batch.action)  # (N, B), gradient into the encoder
        q_loss = (q - target).pow(2).mean(dim=1).sum()
        v = self.value(z, batch.state, z[:, :0])[0]
        v_loss = expectile_loss(q_target - v, cfg.expectile)

        # Advantage-weighted regression on the dataset's actions, on a detached embedding.
        advantage = (q_target - v).detach()
        weight = torch.exp(cfg.temperature * advantage).clamp(max=MAX_WEIGHT)
        mean, log_std = self.actor.distribution(z.detach(), batch.state)
        a = batch.action.clamp(-1.0 + ACTION_EPS, 1.0 - ACTION_EPS)
        ones = torch.ones_like(a)
        log_prob = squashed_log_prob(torch.atanh(a), mean, log_std, -ones, ones)
        actor_loss = -(weight * log_prob).mean()
        stats = torch.stack([q.mean(), v.mean(), advantage.mean(), batch.reward.mean(), batch.done.mean()])
        return q_loss, v_loss, actor_loss, self.geometry_loss(z, batch.rays), stats.detach()

    def geometry_loss(self, z: torch.Tensor, rays: torch.Tensor) -> torch.Tensor:
        """Mean squared error of the predicted free distances (in units of MAX_FREE) over labelled rows.

        Rows without labels (NaN: RECON data) add nothing; a batch without any gives 0, and so
        does a learner built with `geometry_weight` 0 (it has no head).
        """
        if self.geometry is None:
            return z.new_zeros(())
        known = ~torch.isnan(rays).any(dim=1)
        error = (self.geometry(z) - torch.nan_to_num(rays) / MAX_FREE).pow(2).mean(dim=1)
        return (error * known).sum() / known.sum().clamp_min(1)

    def update(self, batch: Batch) -> dict[str, float]:
        """One IQL step. Returns the losses and value statistics (floats); raises on a non-finite loss."""
        q_loss, v_loss, actor_loss, geometry_loss, stats = self.losses(batch)
        # One device->host transfer per step: the metrics, which also tell whether the loss is finite.
        values = torch.cat([torch.stack([q_loss, v_loss, actor_loss, geometry_loss]).detach(), stats]).tolist()
        metrics = dict(zip(METRICS, values))
        if not all(math.isfinite(x) for x in values[:4]):
            raise FastrlapError(
                f"IQL update {self.updates + 1}: non-finite loss (q {values[0]:.3g}, v {values[1]:.3g}, "
                f"actor {values[2]:.3g}, geometry {values[3]:.3g}); the weights from before this step "
                f"are kept — lower iql.lr or check the dataset for NaN"
            )
        self.optimizer.zero_grad(set_to_none=True)
        (q_loss + v_loss + actor_loss + self.cfg.geometry_weight * geometry_loss).backward()
        self.optimizer.step()
        with torch.no_grad():
            polyak_(list(self.target_critic.parameters()), list(self.critic.parameters()), self.cfg.tau)
        self.updates += 1
        return metrics

    def readers(self) -> list[nn.Linear]:
        """The layers that read the embedding: each head's projection (for ReDo's outgoing weights)."""
        heads = [
            self.critic.projection.linear,
            self.target_critic.projection.linear,
            self.value.projection.linear,
            self.actor.projection.linear,
        ]
        return heads + ([self.geometry[0]] if self.geometry is not None else [])
