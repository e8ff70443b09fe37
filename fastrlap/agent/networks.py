"""Actor and critic networks. They know nothing of RL; `sac.py` combines them.

- `TanhGaussianActor`: a Gaussian squashed by tanh into a **per-sample** box `[lo, hi]`
  (FastRLAP limits each step to `[a_prev - 0.2, a_prev + 0.2] ∩ [-1, 1]`, arXiv 2304.09831 §4),
  with the exact log-density of the shifted and scaled tanh.
- `CriticEnsemble`: `num_qs` Q-functions evaluated in one batched pass (rlpd's `Ensemble`),
  sharing one projection of the frozen embedding; `members=` evaluates a subset (REDQ's random
  subset of target critics, arXiv 2101.05982).

Shapes: B batch, E embedding, P proprio, A action, N ensemble members, H hidden units.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LOG_STD_MIN = -10.0  # bounds of the actor's log standard deviation (pre-tanh), as in rlpd
LOG_STD_MAX = 2.0
_LOG2 = math.log(2.0)


class Projection(nn.Module):
    """Linear -> LayerNorm -> tanh of the frozen embedding (DrQ's trunk); identity if E == 0.

    The actor and the critic each own one, so the frozen encoder is shared but its use is learned.
    """

    def __init__(self, embedding_dim: int, out_dim: int):
        super().__init__()
        self.embedding_dim = embedding_dim
        self.out_dim = out_dim if embedding_dim > 0 else 0
        if embedding_dim > 0:
            self.linear = nn.Linear(embedding_dim, out_dim)
            self.norm = nn.LayerNorm(out_dim)

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        """(B, E) -> (B, out_dim); (B, 0) -> (B, 0) for state-only tasks.

        The linear map is computed as (W·xᵀ)ᵀ, not x·Wᵀ: the same products, but with only 50
        outputs MKL runs the (50 x E)·(E x B) form ~25 % faster at batch 256 (one call, 2 cores;
        ~4 % more critic updates per second in scripts/bench_learner.py).
        """
        if self.embedding_dim == 0:
            return embedding[:, :0]
        y = torch.mm(self.linear.weight, embedding.t()).t() + self.linear.bias
        return torch.tanh(self.norm(y))


class TanhGaussianActor(nn.Module):
    """π(a | s) = lo + (hi - lo) · (tanh(u) + 1) / 2, u ~ N(μ(s), σ(s)²), independently per sample.

    `forward` returns the action (B, A) inside [lo, hi] and its log-density (B,) with respect to
    Lebesgue measure on the box, so entropy targets mean the same thing for every range width.
    """

    def __init__(
        self,
        embedding_dim: int,
        proprio_dim: int,
        action_dim: int,
        projection_dim: int = 50,
        hidden_dim: int = 256,
        num_layers: int = 2,
    ):
        super().__init__()
        self.action_dim = action_dim
        self.projection = Projection(embedding_dim, projection_dim)
        layers: list[nn.Module] = []
        width = self.projection.out_dim + proprio_dim
        for _ in range(num_layers):
            layers += [nn.Linear(width, hidden_dim), nn.ReLU()]
            width = hidden_dim
        self.trunk = nn.Sequential(*layers)
        self.head = nn.Linear(width, 2 * action_dim)

    def distribution(self, embedding: torch.Tensor, proprio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean (B, A) and log standard deviation (B, A) of the pre-tanh Gaussian."""
        h = self.trunk(torch.cat([self.projection(embedding), proprio], dim=-1))
        mean, log_std = self.head(h).chunk(2, dim=-1)
        # Smooth bound instead of a hard clamp so the gradient never dies at the edges.
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (torch.tanh(log_std) + 1.0)
        return mean, log_std

    def forward(
        self,
        embedding: torch.Tensor,
        proprio: torch.Tensor,
        lo: torch.Tensor,
        hi: torch.Tensor,
        deterministic: bool = False,
        generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sample (or take the mode of) the squashed policy. Returns action (B, A), log_prob (B,).

        `noise` (B, A), standard normal, may be drawn by the caller (a compiled graph cannot draw
        from a `torch.Generator`); otherwise it is drawn from `generator`.
        """
        mean, log_std = self.distribution(embedding, proprio)
        if deterministic:
            u = mean
        else:
            if noise is None:
                noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
            u = mean + noise * log_std.exp()
        return squash(u, lo, hi), squashed_log_prob(u, mean, log_std, lo, hi)


def polyak_(targets: list[torch.Tensor], sources: list[torch.Tensor], rate: float | torch.Tensor) -> None:
    """Move each target weight a fraction `rate` toward its source, in place: θ' ← θ' + rate·(θ - θ').

    Both learners' target critics (SAC here, IQL in pretraining) trail their critics this way. A
    0-d tensor `rate` keeps a compiled update free of host syncs; a rate of 0 leaves the targets as
    they were (SAC's skipped step).
    """
    torch._foreach_lerp_(targets, sources, rate)


def squash(u: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """Map pre-tanh u (B, A) into the box [lo, hi] (B, A).

    The clamp only removes float rounding (lo + (hi - lo)·1 can exceed hi by one ulp): the car
    and the critic must never see an action outside the range.
    """
    return torch.clamp(lo + (hi - lo) * 0.5 * (torch.tanh(u) + 1.0), min=lo, max=hi)


def squashed_log_prob(
    u: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor
) -> torch.Tensor:
    """log π(a) for a = squash(u): the Gaussian log-density minus log|da/du| (B,).

    da/du = (hi - lo)/2 · (1 - tanh(u)²) and log(1 - tanh(u)²) = 2·(log 2 - u - softplus(-2u)),
    the stable form SB3 and rlpd use; the log((hi - lo)/2) term is what a per-sample range adds.
    """
    z = (u - mean) / log_std.exp()
    gaussian = -0.5 * z.pow(2) - log_std - 0.5 * math.log(2 * math.pi)
    log_det = torch.log(0.5 * (hi - lo)) + 2.0 * (_LOG2 - u - F.softplus(-2.0 * u))
    return (gaussian - log_det).sum(dim=-1)


class EnsembleLinear(nn.Module):
    """N independent linear layers applied as one batched matmul: (N, B, I) -> (N, B, O).

    A shared input (B, I) is broadcast to every member (an expanded view, no copy). Measured on a
    2-core AVX-512 CPU at batch 256 (scripts/bench_learner.py): the batched form runs the first
    layer's forward and weight-gradient GEMMs at 90-99 % of the machine's peak where one
    (B, I) x (I, N*O) GEMM ran at 80-85 %, and its input gradient at 80 % instead of 45 %; it
    also keeps activations (N, B, H)-contiguous, so the LayerNorm kernels never write transposed.
    The bias is added after `bmm` rather than through `baddbmm`: baddbmm first copies the
    broadcast bias into the (N, B, O) output, a whole extra pass, while a separate add is folded
    by torch.compile into the LayerNorm that follows.
    """

    def __init__(self, num_members: int, in_dim: int, out_dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_members, in_dim, out_dim))
        self.bias = nn.Parameter(torch.empty(num_members, 1, out_dim))
        bound = 1.0 / math.sqrt(in_dim)  # nn.Linear's default init, member by member
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor, members: torch.Tensor | None = None) -> torch.Tensor:
        w, b = (self.weight, self.bias) if members is None else (self.weight[members], self.bias[members])
        if x.dim() == 2:
            x = x.expand(w.shape[0], *x.shape)
        return torch.bmm(x, w) + b


class EnsembleLayerNorm(nn.Module):
    """LayerNorm over the last axis with its own scale and shift per member: (N, B, H)."""

    def __init__(self, num_members: int, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_members, 1, dim))
        self.bias = nn.Parameter(torch.zeros(num_members, 1, dim))

    def forward(self, x: torch.Tensor, members: torch.Tensor | None = None) -> torch.Tensor:
        w, b = (self.weight, self.bias) if members is None else (self.weight[members], self.bias[members])
        return torch.addcmul(b, F.layer_norm(x, x.shape[-1:]), w)


class CriticEnsemble(nn.Module):
    """N Q-functions Q_i(s, a), MLP H x H with LayerNorm, on one shared projection of the embedding.

    `forward(...)` -> (N, B); `forward(..., members=idx)` -> (len(idx), B), computing only those.
    """

    def __init__(
        self,
        embedding_dim: int,
        proprio_dim: int,
        action_dim: int,
        num_qs: int = 10,
        projection_dim: int = 50,
        hidden_dim: int = 256,
        num_layers: int = 2,
    ):
        super().__init__()
        if num_qs < 1 or num_layers < 1:
            raise ValueError(f"critic ensemble needs num_qs >= 1 and num_layers >= 1, got {num_qs}, {num_layers}")
        self.num_qs = num_qs
        self.projection = Projection(embedding_dim, projection_dim)
        width = self.projection.out_dim + proprio_dim + action_dim
        self.linears = nn.ModuleList()
        self.norms = nn.ModuleList()
        for _ in range(num_layers):
            self.linears.append(EnsembleLinear(num_qs, width, hidden_dim))
            self.norms.append(EnsembleLayerNorm(num_qs, hidden_dim))
            width = hidden_dim
        self.out = EnsembleLinear(num_qs, width, 1)

    def forward(
        self, embedding: torch.Tensor, proprio: torch.Tensor, action: torch.Tensor, members: torch.Tensor | None = None
    ) -> torch.Tensor:
        x = torch.cat([self.projection(embedding), proprio, action], dim=-1)  # (B, I), shared
        for linear, norm in zip(self.linears, self.norms):
            x = F.relu(norm(linear(x, members), members))
        return self.out(x, members).squeeze(-1)


def subsample_ensemble(
    num_qs: int, num_min_qs: int, generator: torch.Generator | None = None, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Indices of `num_min_qs` distinct members drawn uniformly from `num_qs` (REDQ's subset M)."""
    if not 1 <= num_min_qs <= num_qs:
        raise ValueError(f"num_min_qs must lie in [1, num_qs={num_qs}], got {num_min_qs}")
    return torch.randperm(num_qs, generator=generator)[:num_min_qs].to(device)
