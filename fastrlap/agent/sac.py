"""The learner: SAC with a REDQ critic ensemble, as in RLPD (arXiv 2302.02948) and FastRLAP.

One `update(batch)` is one UTD block: the batch of `utd_ratio · batch_size` transitions is split
into `utd_ratio` minibatches, each gives one critic update (and one polyak step of the targets),
then the actor and the temperature update once on the last minibatch. Metrics are returned,
never logged: the caller decides where they go.

Read top to bottom: `critic_target`, `next_actions`, `critic_loss`, `actor_loss`, `temperature_loss`, then
`critic_update` and `actor_update` (each whole step as one function), then the `SAC` object that
owns the networks, optimiser state and random streams. How an Adam step is taken and memory kept
cheaply on a CPU lives in `cpu_fastpath.py`.
"""

from __future__ import annotations

import copy
import hashlib
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fastrlap.agent.cpu_fastpath import AdamState, adam_step, keep_freed_memory
from fastrlap.agent.networks import CriticEnsemble, TanhGaussianActor, polyak_, subsample_ensemble
from fastrlap.agent.replay import Batch
from fastrlap.config import AgentConfig
from fastrlap.errors import FastrlapError
from fastrlap.storage import atomic_write


class NonFiniteError(FastrlapError, RuntimeError):
    """A loss, gradient or weight became NaN/Inf; the weights were left at their last good values."""


@dataclass(frozen=True)
class PolicyInput:
    """What `act` needs for one control tick (or a leading batch axis of them)."""

    embedding: np.ndarray | torch.Tensor  # (E,) frozen-encoder embedding; (0,) for state-only tasks
    proprio: np.ndarray | torch.Tensor  # (P,) float32
    action_lo: np.ndarray | torch.Tensor  # (A,) lower edge of this tick's output range
    action_hi: np.ndarray | torch.Tensor  # (A,) upper edge


class AgentFileError(FastrlapError):
    """A learner checkpoint that cannot be read or trusted (damaged, foreign, or not finite)."""


# Checkpoint file: this magic, the SHA-256 of what follows, then torch.save's bytes. torch's zip
# reader does not check its own CRCs, so without the seal flipped bits in a weight load silently
# (and put NaN into the optimiser). Files that start as a plain zip (written before the seal
# existed) still load, through the same weights-only reader; anything else is refused.
CHECKPOINT_MAGIC = b"FRLP-SAC-SHA256:"
_ZIP_MAGIC = b"PK\x03\x04"
_AGENT_FILE_FIX = (
    "delete it and `fastrlap practice resume=<run>` retrains the learner from the stored "
    "transitions, or restore the file from a backup"
)


def write_checkpoint(path: str | Path, payload: bytes) -> Path:
    """`payload` (torch.save bytes) sealed with its digest, written atomically."""
    seal = CHECKPOINT_MAGIC + hashlib.sha256(payload).digest()
    return atomic_write(path, lambda f: (f.write(seal), f.write(payload)))


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """The state dict in a checkpoint file, checked against its seal and read weights-only.

    Weights-only reading (`torch.load(weights_only=True)`) accepts tensors, numbers, strings and
    containers but no other objects, so a crafted file cannot run code when a run is resumed or
    evaluated. Every problem is one `AgentFileError` line naming the file and the fix."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise AgentFileError(f"{path} not found; practise first with `fastrlap practice`") from None
    except OSError as e:
        raise AgentFileError(f"{path} cannot be read ({e.strerror}); check the file's permissions") from None
    seal_len = len(CHECKPOINT_MAGIC) + hashlib.sha256().digest_size
    if data.startswith(CHECKPOINT_MAGIC):
        payload = data[seal_len:]
        if hashlib.sha256(payload).digest() != data[len(CHECKPOINT_MAGIC) : seal_len]:
            raise AgentFileError(
                f"{path} is damaged (its checksum does not match: truncated or bytes changed); {_AGENT_FILE_FIX}"
            )
    elif data.startswith(_ZIP_MAGIC):
        payload = data
    else:
        raise AgentFileError(
            f"{path} is not a learner checkpoint (damaged at its start, or another kind of file); {_AGENT_FILE_FIX}"
        )
    try:
        state = torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - any failure to parse untrusted bytes is the same answer
        raise AgentFileError(
            f"{path} is not a learner checkpoint this fastrlap can read safely "
            f"({type(e).__name__}: {_first_line(e)}); {_AGENT_FILE_FIX}"
        ) from None
    if not isinstance(state, dict) or "dims" not in state:
        raise AgentFileError(f"{path} is not a fastrlap learner checkpoint; {_AGENT_FILE_FIX}")
    return state


def _tensors(obj, name: str):
    """(dotted name, tensor) for every tensor inside nested dicts/lists (an optimiser's state)."""
    if isinstance(obj, torch.Tensor):
        yield name, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _tensors(v, f"{name}.{k}")
    elif isinstance(obj, (list, tuple)):
        for k, v in enumerate(obj):
            yield from _tensors(v, f"{name}.{k}")


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:160] if text else "no detail"


def action_range(prev_action: np.ndarray, rate_limit: float) -> tuple[np.ndarray, np.ndarray]:
    """FastRLAP's per-step output range: [a_prev - limit, a_prev + limit] ∩ [-1, 1] (A,) each."""
    prev = np.asarray(prev_action, dtype=np.float32)
    return np.clip(prev - rate_limit, -1.0, 1.0), np.clip(prev + rate_limit, -1.0, 1.0)


# --------------------------------------------------------------------------------------------
# Losses. Each returns (loss, info) with info values as 0-d tensors (converted once per block).
# --------------------------------------------------------------------------------------------


def critic_target(
    reward: torch.Tensor, mask: torch.Tensor, next_qs: torch.Tensor, gamma: float, std_coef: float | None = None
) -> torch.Tensor:
    """y = r + γ · mask · min_i Q'_i(s', a'), the min over the sampled subset (M, B) -> (B,).

    REDQ: min over a random subset of M target critics, arXiv 2101.05982. No entropy term in the
    backup (RLPD's `backup_entropy=False`).

    With `std_coef` k (`agent.critic_target=mean_minus_std`, `next_qs` then holds every critic)
    the value is mean_i Q'_i - k · std_i Q'_i instead: the critics disagree most about states the
    car has rarely reached, such as the approach to a corner it keeps hitting, so their spread is
    charged as a cost there in proportion to the uncertainty rather than as one fixed pessimism
    everywhere. k = 0 is the plain ensemble mean. std is the population one (over N, not N - 1).
    """
    if std_coef is None:
        return reward + gamma * mask * next_qs.min(dim=0).values
    value = next_qs.mean(dim=0) - std_coef * next_qs.std(dim=0, correction=0)
    return reward + gamma * mask * value


def next_actions(actor: TanhGaussianActor, batch: Batch, noise: torch.Tensor) -> torch.Tensor:
    """a' ~ π(·|s') inside each sample's next range (B, A); `noise` (B, A) is standard normal.

    The actor only changes at the end of a UTD block, so the learner draws a' for the whole block
    in one batched pass (the same distribution as drawing them step by step, in fewer calls).
    """
    with torch.no_grad():
        action, _ = actor(
            batch.next_embedding, batch.next_proprio, batch.next_action_lo, batch.next_action_hi, noise=noise
        )
    return action


def critic_loss(
    critic: CriticEnsemble,
    target_critic: CriticEnsemble,
    batch: Batch,
    next_action: torch.Tensor,
    members: torch.Tensor,
    gamma: float,
    std_coef: float | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Mean squared TD error of every critic against one shared target built from a' (B, A)."""
    with torch.no_grad():
        next_qs = target_critic(batch.next_embedding, batch.next_proprio, next_action, members=members)
        target = critic_target(batch.reward, batch.mask, next_qs, gamma, std_coef)
    qs = critic(batch.embedding, batch.proprio, batch.action)  # (N, B)
    loss = (qs - target).pow(2).mean()
    return loss, {"critic_loss": loss.detach(), "q_mean": qs.detach().mean(), "target_mean": target.mean()}


def actor_loss(
    actor: TanhGaussianActor, critic: CriticEnsemble, batch: Batch, temperature: torch.Tensor, noise: torch.Tensor
) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
    """E[α log π(a|s) - mean_i Q_i(s, a)], a ~ π inside the sample's range; also returns log π (B,)."""
    action, log_prob = actor(batch.embedding, batch.proprio, batch.action_lo, batch.action_hi, noise=noise)
    q = critic(batch.embedding, batch.proprio, action).mean(dim=0)  # RLPD: mean over all critics
    loss = (temperature.detach() * log_prob - q).mean()
    return loss, {"actor_loss": loss.detach(), "entropy": -log_prob.detach().mean()}, log_prob.detach()


def temperature_loss(
    log_temperature: torch.Tensor, log_prob: torch.Tensor, target_entropy: float
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """α · (H - H_target): gradient descent raises α when the entropy H is below the target."""
    temperature = log_temperature.exp()
    loss = temperature * (-log_prob.mean() - target_entropy)
    return loss, {"temperature": temperature.detach(), "temperature_loss": loss.detach()}


# --------------------------------------------------------------------------------------------
# Whole update steps (loss, gradient, Adam, polyak) as functions torch.compile makes one graph of.
# --------------------------------------------------------------------------------------------


def grad_norm(grads: list[torch.Tensor]) -> torch.Tensor:
    """Global L2 norm of a list of gradients (0-d)."""
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


def critic_update(
    critic: CriticEnsemble,
    target_critic: CriticEnsemble,
    weights: list[torch.Tensor],
    target_weights: list[torch.Tensor],
    adam: AdamState,
    batch: Batch,
    next_action: torch.Tensor,
    members: torch.Tensor,
    gamma: float,
    tau: float,
    std_coef: float | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One critic update: TD loss, its gradient, Adam and the polyak step of the targets; returns (ok, info).

    `weights` / `target_weights` are the two ensembles' parameters, updated in place. The whole
    step is one function (`torch.autograd.grad`, not `loss.backward()` + `optimizer.step()`) so
    that `torch.compile` makes a single graph of it: no autograd engine, optimiser or
    per-parameter Python between the kernels, and inductor fuses the grad norm and the polyak step
    into the backward's element-wise work. Eagerly it is the same autograd and the same fused Adam
    kernel as before. If the loss or the gradient is not finite (`ok` false) nothing changes:
    weights, targets and Adam's moments keep their values, and no host sync was needed to decide.
    """
    loss, info = critic_loss(critic, target_critic, batch, next_action, members, gamma, std_coef)
    grads = torch.autograd.grad(loss, weights)
    info["critic_grad_norm"] = grad_norm(grads)
    ok = torch.isfinite(info["critic_loss"]) & torch.isfinite(info["critic_grad_norm"])
    with torch.no_grad():
        adam_step(weights, grads, adam, ok)
        polyak_(target_weights, weights, tau * ok.to(torch.float32))  # θ' stays put on a skipped step
    return ok, info


def actor_update(
    actor: TanhGaussianActor,
    critic: CriticEnsemble,
    weights: list[torch.Tensor],
    log_temperature: torch.Tensor,
    actor_adam: AdamState,
    temperature_adam: AdamState,
    batch: Batch,
    noise: torch.Tensor,
    target_entropy: float,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """One actor update and one temperature update; returns (actor_ok, temperature_ok, info).

    One function for the same reason as `critic_update`. The gradient is taken with respect to the
    actor's weights only, so no critic weight gradient is computed; the critic passes the gradient
    through to the action. Both steps are taken only if both losses and gradients are finite.
    """
    temperature = log_temperature.exp()
    loss, info, log_prob = actor_loss(actor, critic, batch, temperature, noise)
    grads = torch.autograd.grad(loss, weights)
    info["actor_grad_norm"] = grad_norm(grads)
    t_loss, t_info = temperature_loss(log_temperature, log_prob, target_entropy)
    (t_grad,) = torch.autograd.grad(t_loss, [log_temperature])
    actor_ok = torch.isfinite(loss) & torch.isfinite(info["actor_grad_norm"])
    temperature_ok = torch.isfinite(t_loss) & torch.isfinite(t_grad)
    ok = actor_ok & temperature_ok
    with torch.no_grad():
        adam_step(weights, grads, actor_adam, ok)
        adam_step([log_temperature], [t_grad], temperature_adam, ok)
    info.update(t_info)
    return actor_ok, temperature_ok, info


# --------------------------------------------------------------------------------------------
# The learner.
# --------------------------------------------------------------------------------------------


class SAC:
    """Networks, optimisers and random streams; `update(batch)` and `act(obs)`.

    Dimensions: E embedding (0 for state-only tasks such as Pendulum), P proprio, A action.
    """

    def __init__(
        self,
        embedding_dim: int,
        proprio_dim: int,
        action_dim: int,
        cfg: AgentConfig,
        device: str | torch.device = "cpu",
        seed: int = 0,
    ):
        if cfg.utd_ratio < 1 or cfg.batch_size < 1:
            raise ValueError(
                f"agent.utd_ratio and agent.batch_size must be >= 1, got {cfg.utd_ratio}, {cfg.batch_size}"
            )
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
            self.actor = TanhGaussianActor(
                embedding_dim, proprio_dim, action_dim, cfg.projection_dim, cfg.hidden_dim, cfg.num_layers
            ).to(self.device)
            self.critic = CriticEnsemble(
                embedding_dim, proprio_dim, action_dim, cfg.num_qs, cfg.projection_dim, cfg.hidden_dim, cfg.num_layers
            ).to(self.device)
        self.target_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_temperature = torch.tensor(math.log(cfg.init_temperature), device=self.device, requires_grad=True)
        # critic_update and actor_update run Adam themselves (torch's fused kernel); these optimisers
        # hold the moments, so checkpoints keep torch's format. fused=True keeps their step counts on
        # the weights' device, where the kernel reads them.
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg.lr, fused=True)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=cfg.lr, fused=True)
        self.temperature_opt = torch.optim.Adam([self.log_temperature], lr=cfg.lr, fused=True)
        self._adam_states()
        self._critic_weights = list(self.critic.parameters())
        self._target_weights = list(self.target_critic.parameters())
        self._actor_weights = list(self.actor.parameters())
        # Separate streams so acting does not change what the learner samples, and vice versa.
        self.act_generator = torch.Generator(device=self.device).manual_seed(seed + 1)
        self.update_generator = torch.Generator(device=self.device).manual_seed(seed + 2)
        self.subset_generator = torch.Generator().manual_seed(seed + 3)
        self._all_members = torch.arange(cfg.num_qs, device=self.device)
        self.critic_updates = 0
        self.actor_updates = 0
        # Compiling makes one graph of each update (loss, backward, Adam, polyak) and fuses the
        # LayerNorm/ReLU/loss element-wise work into few kernels; the first update pays the compile
        # time. One graph needs dynamo to trace torch.autograd.grad (off by default, a graph break).
        if cfg.compile:
            torch._dynamo.config.trace_autograd_ops = True
        self._critic_update = torch.compile(critic_update) if cfg.compile else critic_update
        self._next_actions = torch.compile(next_actions) if cfg.compile else next_actions
        self._actor_update = torch.compile(actor_update) if cfg.compile else actor_update

    # ---- acting --------------------------------------------------------------------------

    @torch.inference_mode()
    def act(self, obs: PolicyInput, deterministic: bool = False) -> np.ndarray:
        """Action (A,) inside [obs.action_lo, obs.action_hi] (or (B, A) for batched inputs)."""
        tensors = [
            torch.as_tensor(x, dtype=torch.float32, device=self.device)
            for x in (obs.embedding, obs.proprio, obs.action_lo, obs.action_hi)
        ]
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
        if self.cfg.critic_target == "mean_minus_std":
            members, std_coef = self._all_members, self.cfg.critic_target_std
        else:
            members = subsample_ensemble(self.cfg.num_qs, self.cfg.num_min_qs, self.subset_generator, self.device)
            std_coef = None
        ok, info = self._critic_update(
            self.critic,
            self.target_critic,
            self._critic_weights,
            self._target_weights,
            self._critic_adam,
            batch,
            next_action,
            members,
            self.cfg.gamma,
            self.cfg.tau,
            std_coef,
        )
        if not bool(ok):
            self._raise_not_finite("critic", info["critic_loss"], batch)
        self.critic_updates += 1
        return info

    def _actor_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        target_entropy = self.target_entropy()
        actor_ok, temperature_ok, info = self._actor_update(
            self.actor,
            self.critic,
            self._actor_weights,
            self.log_temperature,
            self._actor_adam,
            self._temperature_adam,
            batch,
            self._noise(batch),
            target_entropy,
        )
        if not bool(actor_ok):
            self._raise_not_finite("actor", info["actor_loss"], batch)
        if not bool(temperature_ok):
            self._raise_not_finite("temperature", info["temperature_loss"], batch)
        self.actor_updates += 1
        info["target_entropy"] = torch.tensor(target_entropy)
        return info

    def _adam_states(self) -> None:
        """Alias the optimisers' moment tensors (again after loading, which replaces them)."""
        self._critic_adam = AdamState.of(self.critic_opt)
        self._actor_adam = AdamState.of(self.actor_opt)
        self._temperature_adam = AdamState.of(self.temperature_opt)

    def _raise_not_finite(self, what: str, loss: torch.Tensor, batch: Batch) -> None:
        """The one-line error of a refused step, naming the batch fields that hold NaN/Inf if any do."""
        bad = [name for name, t in zip(batch._fields, batch) if not bool(torch.isfinite(t).all())]
        cause = (
            f"non-finite values in batch field(s) {', '.join(bad)}; fix the data that filled the replay buffer"
            if bad
            else "the batch is finite, so the learning rate or reward scale is too large; lower agent.lr"
        )
        raise NonFiniteError(
            f"{what} {'loss' if not bool(torch.isfinite(loss)) else 'gradient'} is not finite "
            f"after {self.critic_updates} critic updates: {cause} (weights kept at last good values)"
        )

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
            raise ValueError(
                f"agent checkpoint has (embedding, proprio, action) dims {tuple(state['dims'])} but this "
                f"agent has {self.dims}; load it into an agent built with the same encoder and proprio"
            )
        for key in (
            "actor",
            "critic",
            "target_critic",
            "log_temperature",
            "actor_opt",
            "critic_opt",
            "temperature_opt",
        ):
            for name, t in _tensors(state[key], key):
                if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                    raise NonFiniteError(f"agent checkpoint tensor {name} is not finite; use an earlier checkpoint")
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.target_critic.load_state_dict(state["target_critic"])
        with torch.no_grad():
            self.log_temperature.copy_(state["log_temperature"])
        self.actor_opt.load_state_dict(state["actor_opt"])
        self.critic_opt.load_state_dict(state["critic_opt"])
        self.temperature_opt.load_state_dict(state["temperature_opt"])
        self._adam_states()
        # Generator states are CPU byte tensors whatever the generator's device; a state dict
        # mapped onto another device must bring them back.
        self.act_generator.set_state(state["act_generator"].cpu())
        self.update_generator.set_state(state["update_generator"].cpu())
        self.subset_generator.set_state(state["subset_generator"].cpu())
        self.critic_updates = int(state["critic_updates"])
        self.actor_updates = int(state["actor_updates"])

    def save(self, path: str | Path) -> None:
        """Write a checkpoint atomically, sealed with its SHA-256 (`write_checkpoint`)."""
        buf = io.BytesIO()
        torch.save(self.state_dict(), buf)  # raises before touching the disk if weights are bad
        write_checkpoint(path, buf.getvalue())

    def load(self, path: str | Path) -> None:
        """Load a checkpoint file, whichever device either was on; every problem with it is one
        `AgentFileError` line.

        The file is read onto the CPU and `load_state_dict` copies each tensor to the agent's
        device. Mapped straight onto CUDA, the random-stream states would move too, and
        `Generator.set_state` accepts only CPU byte tensors; read through the CPU, a checkpoint
        written on a GPU machine also loads on a CPU-only one."""
        state = read_checkpoint(path)
        try:
            self.load_state_dict(state)
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as e:
            raise AgentFileError(
                f"{path} does not fit this agent ({type(e).__name__}: {_first_line(e)}); {_AGENT_FILE_FIX}"
            ) from None

    def _check_weights(self, what: str) -> None:
        for module_name, module in (
            ("actor", self.actor),
            ("critic", self.critic),
            ("target_critic", self.target_critic),
        ):
            for name, p in module.named_parameters():
                if not bool(torch.isfinite(p).all()):
                    raise NonFiniteError(
                        f"{what}: weight {module_name}.{name} is not finite; refusing to checkpoint it "
                        f"(load the last good checkpoint)"
                    )
        if not bool(torch.isfinite(self.log_temperature)):
            raise NonFiniteError(f"{what}: the temperature is not finite; refusing to checkpoint it")
