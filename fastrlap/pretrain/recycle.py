"""Recycle the dormant channels of the encoder's last layer (ReDo: Sokar et al., ICML 2023,
"The Dormant Neuron Phenomenon in Deep Reinforcement Learning", arXiv 2302.12902).

Why: training through the IQL critic leaves many ReLU channels of the last conv layer silent on
every prior frame (15 of 32 in the shipped IQL export, against ~10 in a random encoder). A
silent channel feeds nothing to practice's projections: the frozen embedding is then narrower
than a random one, and linear probes on race-track frames scored *below* random
(docs/experiments/encoder.md). ReDo's remedy is to re-initialise such units; for a frozen
encoder that means drawing fresh filters for the silent channels of the last layer, whose
outputs go straight to the learned projections. Earlier layers are left alone: new filters there
would change the input of the pretrained layers above them.

A channel's score is its mean activation over the calibration frames divided by the mean over
all channels of the layer (ReDo's normalised activity); a score <= `tau` marks it dormant. The
new filters use `nn.Conv2d`'s own initialisation from a seeded generator, so the result is a
pure function of (weights, frames, tau, seed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from fastrlap.agent.encoder import (
    Encoder,
    EncoderSpec,
    EncoderWeightsError,
    load_encoder,
    read_encoder_meta,
    save_encoder,
)
from fastrlap.errors import FastrlapError
from fastrlap.pretrain.dataset import PriorData


@dataclass(frozen=True)
class RecycleReport:
    """What `recycle_dormant` changed (stored in the weights file's training metadata)."""

    layer: int  # index of the recycled conv layer (the last)
    channels: list[int]  # channels that were re-initialised
    scores: list[float]  # every channel's normalised activity before recycling
    tau: float
    frames: int  # calibration stacks the scores were measured on
    seed: int


def last_conv(encoder: Encoder) -> tuple[int, nn.Conv2d]:
    convs = conv_layers(encoder)
    return len(convs) - 1, convs[-1]


def conv_layers(encoder: Encoder) -> list[nn.Conv2d]:
    return [m for m in encoder.convs if isinstance(m, nn.Conv2d)]


@torch.no_grad()
def layer_scores(encoder: Encoder, stacks: torch.Tensor, batch: int = 256) -> list[torch.Tensor]:
    """Normalised mean activation (C,) of every conv layer's channels over uint8 stacks (N, 3K, S, S)."""
    device = next(encoder.parameters()).device
    totals: list[torch.Tensor] = []
    sizes: list[int] = []
    for i in range(0, len(stacks), batch):
        x = stacks[i : i + batch].to(device).to(torch.float32) * (1.0 / 255.0)
        outs = []
        for module in encoder.convs:
            x = module(x)
            if isinstance(module, nn.ReLU):
                outs.append(x)
        parts = [o.sum(dim=(0, 2, 3)).double() for o in outs]
        totals = parts if not totals else [t + p for t, p in zip(totals, parts)]
        sizes = [o.shape[2] * o.shape[3] for o in outs]
    means = [t / (len(stacks) * n) for t, n in zip(totals, sizes)]
    return [(m / m.mean().clamp_min(1e-12)).float().cpu() for m in means]


def channel_scores(encoder: Encoder, stacks: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """Normalised mean activation (C,) of the last layer's channels (see `layer_scores`)."""
    return layer_scores(encoder, stacks, batch)[-1]


@torch.no_grad()
def recycle(
    encoder: Encoder,
    stacks: torch.Tensor,
    tau: float,
    seed: int,
    layers: list[int] | None = None,
    readers: Sequence[nn.Linear] = (),
    optimizer: torch.optim.Optimizer | None = None,
    scores: list[torch.Tensor] | None = None,
) -> list[list[int]]:
    """ReDo on the conv `layers` (None = all): re-initialise, in place, each channel scoring <= `tau`.

    As in ReDo, a recycled channel's incoming filter is drawn afresh and its outgoing weights are
    set to zero, so the network's output is unchanged at the moment of recycling and the new
    filter is learned from there: the next conv layer's weights from that channel, or, for the
    last layer, the columns of each `readers` layer that read the channel's embedding positions
    (the heads' projections). The optimizer's moments of every changed entry are reset, so stale
    Adam statistics do not push the fresh weights. Returns the recycled channels of each layer.
    `scores` (from `layer_scores` on the same stacks) saves measuring them again.

    Fresh filters use `nn.Conv2d`'s own initialisation, drawn for the layers from last to first
    after seeding with `seed`, `seed + 1`, ...: the result is a pure function of (weights,
    frames, tau, seed) and leaves the global random state alone.
    """
    if len(stacks) == 0:
        raise ValueError("recycling needs calibration frames; the dataset gave none")
    convs = conv_layers(encoder)
    chosen = range(len(convs)) if layers is None else layers
    scores = layer_scores(encoder, stacks) if scores is None else scores
    recycled: list[list[int]] = [[] for _ in convs]
    with torch.random.fork_rng(devices=[]):
        for k, layer in enumerate(sorted(chosen, reverse=True)):
            dormant = (scores[layer] <= tau).nonzero().flatten()
            if not len(dormant):
                continue
            conv = convs[layer]
            fresh = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride)
            torch.manual_seed(seed + k)
            fresh.reset_parameters()
            idx = dormant.to(conv.weight.device)
            conv.weight[idx] = fresh.weight[dormant].to(conv.weight)
            conv.bias[idx] = fresh.bias[dormant].to(conv.bias)
            reset_moments(optimizer, conv.weight, (idx,))
            reset_moments(optimizer, conv.bias, (idx,))
            if layer + 1 < len(convs):
                outgoing = [(convs[layer + 1].weight, (slice(None), idx))]
            else:
                positions = encoder.spec.out_size**2  # the embedding is (C, H, W) flattened
                cols = (idx[:, None] * positions + torch.arange(positions, device=idx.device)).flatten()
                outgoing = [(r.weight, (slice(None), cols.to(r.weight.device))) for r in readers]
            for weight, where in outgoing:
                weight[where] = 0.0
                reset_moments(optimizer, weight, where)
            recycled[layer] = dormant.tolist()
    return recycled


def reset_moments(optimizer: torch.optim.Optimizer | None, param: torch.Tensor, where: tuple) -> None:
    """Zero Adam's first and second moments of `param[where]` (no-op without optimizer or state)."""
    state = optimizer.state.get(param) if optimizer is not None else None
    for key in ("exp_avg", "exp_avg_sq"):
        if state and key in state:
            state[key][where] = 0.0


def recycle_dormant(encoder: Encoder, stacks: torch.Tensor, tau: float, seed: int) -> RecycleReport:
    """Re-initialise, in place, the last layer's channels whose score is <= `tau` (a frozen encoder's ReDo)."""
    if len(stacks) == 0:
        raise ValueError("recycling needs calibration frames; the dataset gave none")
    scores = layer_scores(encoder, stacks)
    layer, _ = last_conv(encoder)
    channels = recycle(encoder, stacks, tau, seed, layers=[layer], scores=scores)[layer]
    return RecycleReport(
        layer=layer,
        channels=channels,
        scores=[round(float(s), 4) for s in scores[layer]],
        tau=tau,
        frames=len(stacks),
        seed=seed,
    )


def recycle_file(
    src: str | Path | None,
    data: str | Path,
    out: str | Path,
    tau: float,
    frames: int,
    seed: int,
    spec: EncoderSpec = EncoderSpec(),
    device: str | torch.device = "cpu",
) -> RecycleReport:
    """Weights file `src` (None = the shipped asset) -> `out`, dormant channels recycled.

    Calibration: the first `frames` ticks of the prior dataset `data`, as training saw them
    (frame stacks with each camera's sensor noise, drawn from `seed`). The metadata keeps the
    source's training record and adds `recycled` (the report and the calibration datasets).
    """
    if tau < 0:
        raise FastrlapError(f"iql.recycle_tau={tau}: must be >= 0 (0 = only channels that never fire)")
    if frames < 1:
        raise FastrlapError(f"iql.recycle_frames={frames}: must be at least 1")
    try:
        encoder = load_encoder(src, spec, device)
    except EncoderWeightsError as e:  # already one line naming the file and the fix
        raise FastrlapError(str(e)) from None
    prior = PriorData.load(data, spec, device=device, max_frames=frames)
    stacks = prior.stacks(
        torch.arange(len(prior), device=prior.device), torch.Generator(device=prior.device).manual_seed(seed)
    )
    report = recycle_dormant(encoder, stacks, tau, seed)
    meta = read_encoder_meta(src)
    training = dict(meta.get("training") or {})
    training["recycled"] = {**asdict(report), "datasets": prior.sources, "source_sha256": meta["sha256"]}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_encoder(encoder, out, training=training)
    return report
