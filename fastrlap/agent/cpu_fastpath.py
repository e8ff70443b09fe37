"""What makes the learner's updates cheap on a CPU, kept apart from the SAC logic that uses it.

SAC's maths (`sac.py`) needs only "one Adam step of these weights, unless this step is refused"
and "run on the CPU". On a small car computer with one or two cores, how those are done decides
how many updates fit in a lap, so they are done here, the way that measured fastest:

- `AdamState` / `adam_step`: Adam without `optimizer.step()`. The update functions call torch's
  fused Adam kernel themselves on the moments of a `torch.optim.Adam` (aliased, so checkpoints
  keep torch's format), which lets `torch.compile` put loss, backward, Adam and polyak into one
  graph with no per-parameter Python in between, and lets a non-finite step be skipped without
  a host sync. The kernel is reached through the op `fastrlap::fused_adam_` registered below,
  because a compiled graph cannot hold `torch._fused_adam_` itself.
- `keep_freed_memory`: glibc's allocator told to keep the update's large buffers instead of
  returning them to the OS after every update (torch has no caching allocator on the CPU).

What it buys, from `scripts/bench_learner.py` (batch 256, 10 critics, UTD 8, one thread): over
five runs on a shared, loaded two-core machine the compiled single-graph update this makes
possible ran 1.2-1.85x as many critic updates per second as the same update eagerly; keeping
freed memory saves 1.5-2 ms of kernel time per critic update (~7 %).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class AdamState:
    """The tensors Adam keeps per weight (aliases of a `torch.optim.Adam`'s state, so checkpoints keep
    torch's format) and its hyperparameters."""

    exp_avgs: list[torch.Tensor]
    exp_avg_sqs: list[torch.Tensor]
    steps: list[torch.Tensor]  # float32 0-d, one per weight, as torch's fused Adam keeps them
    lr: float
    betas: tuple[float, float]
    eps: float

    @staticmethod
    def of(opt: torch.optim.Adam) -> AdamState:
        """Create the state torch would create lazily on the first step, and alias it."""
        group = opt.param_groups[0]
        if len(opt.param_groups) != 1 or group["weight_decay"] or group["amsgrad"] or group["maximize"]:
            raise ValueError("adam_step implements plain Adam over one parameter group")
        for p in group["params"]:
            if not opt.state[p]:
                opt.state[p] = {
                    "step": torch.zeros((), dtype=torch.float32, device=p.device),
                    "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                    "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format),
                }
        states = [opt.state[p] for p in group["params"]]
        return AdamState(
            [s["exp_avg"] for s in states],
            [s["exp_avg_sq"] for s in states],
            [s["step"] for s in states],
            group["lr"],
            group["betas"],
            group["eps"],
        )


def adam_step(weights: list[torch.Tensor], grads: list[torch.Tensor], adam: AdamState, ok: torch.Tensor) -> None:
    """One Adam step of `weights` in place, taken only if `ok` (0-d bool); no host sync either way.

    The counts advance here, as tensor ops a compiled graph fuses; the update itself is torch's
    fused kernel, and a skipped step leaves weights, moments and counts as they were.
    """
    skip = (~ok).to(torch.float32)
    for step in adam.steps:  # not _foreach_add_: with a tensor operand it reads it back on the host
        step.add_(1.0 - skip)
    torch.ops.fastrlap.fused_adam_(
        weights, grads, adam.exp_avgs, adam.exp_avg_sqs, adam.steps, skip, adam.lr, *adam.betas, adam.eps
    )


def _fused_adam(
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    exp_avgs: list[torch.Tensor],
    exp_avg_sqs: list[torch.Tensor],
    steps: list[torch.Tensor],
    skip: torch.Tensor,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
) -> None:
    """torch's fused Adam kernel (what `Adam(fused=True)` runs); a no-op where `skip` (0-d float) is 1.

    Registered below as the op `fastrlap::fused_adam_` because a compiled graph cannot contain
    `torch._fused_adam_` itself (inductor's functionalisation rejects its in-place tensor lists),
    while an opaque op with a schema that declares its mutations runs in place inside the graph.
    The skip is the kernel's `found_inf` input (GradScaler's). Registered with the plain
    `torch.library.Library` API: `torch.library.custom_op` costs ~0.13 ms of Python per call here.
    """
    torch._fused_adam_(
        params,
        grads,
        exp_avgs,
        exp_avg_sqs,
        [],
        steps,
        lr=lr,
        beta1=beta1,
        beta2=beta2,
        weight_decay=0.0,
        eps=eps,
        amsgrad=False,
        maximize=False,
        grad_scale=None,
        found_inf=skip,
    )


_OPS = torch.library.Library("fastrlap", "DEF")
_OPS.define(
    "fused_adam_(Tensor(a!)[] params, Tensor[] grads, Tensor(b!)[] exp_avgs, Tensor(c!)[] exp_avg_sqs, "
    "Tensor[] steps, Tensor skip, float lr, float beta1, float beta2, float eps) -> ()"
)
_OPS.impl("fused_adam_", _fused_adam, "CompositeExplicitAutograd")


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
