"""`fastrlap pretrain train`: run IQL over a prior dataset and export the encoder it trained.

Writes into `iql.out`:

    encoder.pt    the encoder weights (`save_encoder`) with `meta["training"]`: datasets, frames,
                  steps done, the mean losses of the last logging window, the IQL settings, seed,
                  device, wall time, fastrlap version. Saved every `save_every` steps and at the
                  end, atomically, so Ctrl-C or a crash loses less than `save_every` steps.
    metrics.csv   step, wall seconds, and the mean of each IQL metric over the logging window.

With `recycle_every` > 0 the encoder's dormant channels (ReDo, `recycle.py`) are re-initialised
every that many steps on every conv layer, and once more on the last layer of the exported copy,
so the frozen encoder that practice gets has no silent channel on the latest batch.

Copy `encoder.pt` to `fastrlap/assets/encoder.pt` to make it the package's default encoder
(`agent.encoder=pretrained`), or point practice at it with `agent.encoder=PATH`.
"""

from __future__ import annotations

import copy
import csv
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from fastrlap import __version__
from fastrlap.agent.encoder import EncoderSpec, save_encoder
from fastrlap.config import IQLConfig
from fastrlap.errors import FastrlapError
from fastrlap.pretrain.dataset import Batch, PriorData, describe
from fastrlap.pretrain.iql import IQL, METRICS
from fastrlap.pretrain.recycle import recycle, recycle_dormant


@dataclass
class TrainResult:
    steps: int  # gradient steps done
    seconds: float  # wall time of the steps (loading excluded)
    metrics: dict[str, float]  # means over the last logging window
    encoder_path: Path
    stopped: bool  # Ctrl-C ended it before iql.steps


def check_config(cfg: IQLConfig) -> None:
    """One-line errors for settings that cannot train."""
    if cfg.steps < 1 or cfg.batch_size < 1:
        raise FastrlapError(f"iql.steps={cfg.steps}, iql.batch_size={cfg.batch_size}: both must be at least 1")
    if not 1 <= cfg.goal_min_ticks <= cfg.goal_max_ticks:
        raise FastrlapError(
            f"iql.goal_min_ticks={cfg.goal_min_ticks}, iql.goal_max_ticks={cfg.goal_max_ticks}: "
            f"need 1 <= goal_min_ticks <= goal_max_ticks"
        )
    if not 0.0 < cfg.expectile < 1.0 or not 0.0 < cfg.gamma < 1.0:
        raise FastrlapError(f"iql.expectile={cfg.expectile}, iql.gamma={cfg.gamma}: both must lie in (0, 1)")


def train(
    cfg: IQLConfig, spec: EncoderSpec, device: torch.device, seed: int, progress: Callable[[str], None] = print
) -> TrainResult:
    """Load the data, run `cfg.steps` IQL steps, write encoder.pt and metrics.csv into `cfg.out`."""
    check_config(cfg)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input shapes: let cuDNN pick the fastest convolutions
        torch.backends.cuda.matmul.allow_tf32 = True
    t0 = time.perf_counter()
    data = PriorData.load(cfg.data, spec, device=device, max_frames=cfg.max_frames)
    progress(f"loaded {describe(data)} in {time.perf_counter() - t0:.0f} s")
    learner = IQL(spec, cfg, device=device, seed=seed)
    generator = torch.Generator(device=device).manual_seed(seed + 1)
    path = out / "encoder.pt"
    window: dict[str, list[float]] = {k: [] for k in METRICS}
    last: dict[str, float] = {}
    recycled = [0] * spec.num_layers  # channels recycled during training so far, per conv layer
    start = time.perf_counter()
    step = 0
    batch: Batch | None = None

    def export(stopped: bool) -> None:
        encoder, at_export = learner.encoder, None
        if cfg.recycle_every > 0 and batch is not None:
            # Channels that went dormant since the last recycling would be dead in the frozen
            # encoder: give them fresh filters in the exported copy (ReDo on the last layer).
            encoder = copy.deepcopy(learner.encoder)
            at_export = recycle_dormant(encoder, batch.stack, cfg.recycle_tau, seed + step).channels
        save_encoder(
            encoder,
            path,
            training={
                "method": "goal-conditioned IQL (encoder trained through the critic)",
                "datasets": data.sources,
                "frames": len(data),
                "steps": step,
                "stopped_early": stopped,
                "losses": last,
                "config": asdict(cfg),
                "seed": seed,
                "device": str(device),
                "seconds": round(time.perf_counter() - start, 1),
                "fastrlap_version": __version__,
                **(
                    {"recycled_during_training": recycled, "recycled_at_export": at_export}
                    if cfg.recycle_every > 0
                    else {}
                ),
            },
        )

    with open(out / "metrics.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["step", "seconds", *METRICS])
        try:
            while step < cfg.steps:
                batch = data.sample(
                    cfg.batch_size,
                    cfg.goal_min_ticks,
                    cfg.goal_max_ticks,
                    cfg.goal_radius,
                    cfg.crash_penalty,
                    generator,
                )
                if cfg.recycle_every > 0 and step > 0 and step % cfg.recycle_every == 0:
                    counts = recycle(
                        learner.encoder,
                        batch.stack,
                        cfg.recycle_tau,
                        seed + step,
                        readers=learner.readers(),
                        optimizer=learner.optimizer,
                    )
                    recycled = [n + len(c) for n, c in zip(recycled, counts)]
                m = learner.update(batch)
                step += 1
                for k in METRICS:
                    window[k].append(m[k])
                if step % cfg.log_every == 0 or step == cfg.steps:
                    last = {k: sum(v) / len(v) for k, v in window.items()}
                    window = {k: [] for k in METRICS}
                    elapsed = time.perf_counter() - start
                    writer.writerow([step, f"{elapsed:.1f}", *(f"{last[k]:.5g}" for k in METRICS)])
                    f.flush()
                    progress(progress_line(step, cfg.steps, elapsed, last))
                if step % cfg.save_every == 0:
                    export(stopped=False)
        except KeyboardInterrupt:
            if window["q_loss"]:
                last = {k: sum(v) / len(v) for k, v in window.items()}
            export(stopped=True)
            progress(f"stopped at step {step}/{cfg.steps}; the encoder so far is in {path}")
            return TrainResult(step, time.perf_counter() - start, last, path, stopped=True)
    export(stopped=False)
    return TrainResult(step, time.perf_counter() - start, last, path, stopped=False)


def progress_line(step: int, total: int, elapsed: float, m: dict[str, float], width: int = 20) -> str:
    """`[#####.....]  1250/5000  q 0.41  v 0.12  actor -1.3  Q 3.2  ETA 4m10s`."""
    done = step / total
    bar = "#" * int(round(done * width))
    eta = elapsed / max(step, 1) * (total - step)
    return (
        f"[{bar:<{width}}] {step:>7}/{total}  q_loss {m['q_loss']:.4f}  v_loss {m['v_loss']:.4f}  "
        f"actor {m['actor_loss']:+.3f}  geometry {m['geometry_loss']:.4f}  Q {m['q']:+.2f}  V {m['v']:+.2f}  "
        f"{step / max(elapsed, 1e-9):.1f} steps/s  ETA {int(eta // 60)}m{int(eta % 60):02d}s"
    )
