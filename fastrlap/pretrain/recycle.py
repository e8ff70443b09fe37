"""Recycle the dormant channels of the encoder's last layer (ReDo: Sokar et al., ICML 2023,
"The Dormant Neuron Phenomenon in Deep Reinforcement Learning", arXiv 2302.12902).

Why: training through the IQL critic leaves many ReLU channels of the last conv layer silent on
every prior frame (15 of 32 in the shipped IQL export, against ~10 in a random encoder). A
silent channel feeds nothing to practice's projections: the frozen embedding is then narrower
than a random one, and linear probes on race-track frames scored *below* random
(README, "Pretrained encoder"). ReDo's remedy is to re-initialise such units; for a frozen
encoder that means drawing fresh filters for the silent channels of the last layer, whose
outputs go straight to the learned projections. Earlier layers are left alone: new filters there
would change the input of the pretrained layers above them.

A channel's score is its mean activation over the calibration frames divided by the mean over
all channels of the layer (ReDo's normalised activity); a score <= `tau` marks it dormant. The
new filters use `nn.Conv2d`'s own initialisation from a seeded generator, so the result is a
pure function of (weights, frames, tau, seed).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from fastrlap.agent.encoder import Encoder, EncoderSpec, EncoderWeightsError, load_encoder, read_encoder_meta, save_encoder
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
    convs = [m for m in encoder.convs if isinstance(m, nn.Conv2d)]
    return len(convs) - 1, convs[-1]


@torch.no_grad()
def channel_scores(encoder: Encoder, stacks: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """Normalised mean activation (C,) of the last layer's channels over uint8 stacks (N, 3K, S, S)."""
    device = next(encoder.parameters()).device
    total = None
    for i in range(0, len(stacks), batch):
        x = stacks[i:i + batch].to(device)
        out = encoder.convs((x.to(torch.float32) * (1.0 / 255.0)))  # (B, C, H, W) after the last ReLU
        part = out.sum(dim=(0, 2, 3)).double()
        total = part if total is None else total + part
    mean = total / (len(stacks) * out.shape[2] * out.shape[3])
    return (mean / mean.mean().clamp_min(1e-12)).float().cpu()


@torch.no_grad()
def recycle_dormant(encoder: Encoder, stacks: torch.Tensor, tau: float, seed: int) -> RecycleReport:
    """Re-initialise, in place, the last layer's channels whose score is <= `tau`."""
    if len(stacks) == 0:
        raise ValueError("recycling needs calibration frames; the dataset gave none")
    scores = channel_scores(encoder, stacks)
    dormant = (scores <= tau).nonzero().flatten()
    layer, conv = last_conv(encoder)
    if len(dormant):
        fresh = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            fresh.reset_parameters()
        idx = dormant.to(conv.weight.device)
        conv.weight[idx] = fresh.weight[dormant].to(conv.weight)
        conv.bias[idx] = fresh.bias[dormant].to(conv.bias)
    return RecycleReport(layer=layer, channels=dormant.tolist(), scores=[round(float(s), 4) for s in scores],
                         tau=tau, frames=len(stacks), seed=seed)


def recycle_file(src: str | Path | None, data: str | Path, out: str | Path, tau: float, frames: int, seed: int,
                 spec: EncoderSpec = EncoderSpec(), device: str | torch.device = "cpu") -> RecycleReport:
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
    stacks = prior.stacks(torch.arange(len(prior), device=prior.device),
                          torch.Generator(device=prior.device).manual_seed(seed))
    report = recycle_dormant(encoder, stacks, tau, seed)
    meta = read_encoder_meta(src)
    training = dict(meta.get("training") or {})
    training["recycled"] = {**asdict(report), "datasets": prior.sources, "source_sha256": meta["sha256"]}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_encoder(encoder, out, training=training)
    return report
