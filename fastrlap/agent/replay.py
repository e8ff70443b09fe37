"""Replay buffer of frozen-encoder embeddings, and the `Batch` record the learner consumes."""
from __future__ import annotations

from typing import NamedTuple

import torch


class Batch(NamedTuple):
    """Transitions as tensors with a leading batch axis B (SB3's `ReplayBufferSamples`).

    Build it with keywords. Float32 everywhere; `mask` is 0 where the episode terminated (no
    bootstrap) and 1 otherwise, including truncations (DESIGN.md §3).
    """

    embedding: torch.Tensor  # (B, E)
    proprio: torch.Tensor  # (B, P)
    action: torch.Tensor  # (B, A)
    action_lo: torch.Tensor  # (B, A)
    action_hi: torch.Tensor  # (B, A)
    reward: torch.Tensor  # (B,)
    mask: torch.Tensor  # (B,)
    next_embedding: torch.Tensor  # (B, E)
    next_proprio: torch.Tensor  # (B, P)
    next_action_lo: torch.Tensor  # (B, A)
    next_action_hi: torch.Tensor  # (B, A)

    def split(self, n: int) -> list[Batch]:
        """n equal minibatches along the batch axis (a UTD block)."""
        size = self.reward.shape[0]
        if size % n:
            raise ValueError(f"batch of {size} transitions does not split into {n} equal minibatches; "
                             f"sample utd_ratio * batch_size transitions")
        parts = [t.chunk(n) for t in self]
        return [Batch(*fields) for fields in zip(*parts)]

    def to(self, device: torch.device) -> Batch:
        if self.reward.device == device:
            return self
        return Batch(*(t.to(device, non_blocking=True) for t in self))
