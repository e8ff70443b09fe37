"""Encoder benchmark: linear-probe quality of the pretrained encoder against random ones.

Renders `--frames` random poses on every race track (never in the prior data), embeds them with
the shipped encoder (or `--weights`) and with randomly initialised encoders (`--random-seeds`),
and scores leave-one-track-out linear probes for the free distance ahead (R²) and whether the
nearer edge is on the left (accuracy). See fastrlap/pretrain/probe.py for the labels.

    python scripts/bench_encoder.py [--weights PATH] [--frames 300] [--random-seeds 0,1,2]

Final output line: JSON with `pretrained` and `random` (mean over seeds) scores.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from fastrlap.agent.encoder import Encoder, EncoderSpec, load_encoder
from fastrlap.config import Config
from fastrlap.pretrain.probe import embed, probe, probe_set
from fastrlap.sim.track import builtin_tracks, load_track


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="", help="encoder weights (default: the shipped asset)")
    ap.add_argument("--frames", type=int, default=300, help="probe frames per race track")
    ap.add_argument("--random-seeds", default="0,1,2")
    ap.add_argument("--seed", type=int, default=0, help="seed of the probe poses")
    args = ap.parse_args()
    t0 = time.monotonic()
    spec = EncoderSpec()
    camera = Config().vehicle.sim.camera
    rng = np.random.default_rng(args.seed)
    sets = [probe_set(load_track(name), camera, spec, args.frames, rng) for name in builtin_tracks("race")]
    print(
        f"{sum(len(s.free) for s in sets)} probe frames from {len(sets)} race tracks in {time.monotonic() - t0:.0f} s "
        f"(free distance mean {np.mean([s.free.mean() for s in sets]):.2f} m, "
        f"left-nearer {np.mean([s.left_nearer.mean() for s in sets]):.2f})",
        flush=True,
    )

    def score(encoder: Encoder) -> dict[str, float]:
        return probe({s.track: embed(encoder, s.stacks) for s in sets}, sets)

    pretrained = score(load_encoder(args.weights or None, spec))
    print(
        f"pretrained: free-distance R² {pretrained['free_r2']:.3f}, left/right accuracy {pretrained['left_acc']:.3f}",
        flush=True,
    )
    randoms = []
    for seed in (int(s) for s in args.random_seeds.split(",")):
        torch.manual_seed(seed)
        randoms.append(score(Encoder(spec).freeze()))
        print(
            f"random (seed {seed}): free-distance R² {randoms[-1]['free_r2']:.3f}, left/right accuracy "
            f"{randoms[-1]['left_acc']:.3f}",
            flush=True,
        )
    random = {k: float(np.mean([r[k] for r in randoms])) for k in pretrained}
    print(
        json.dumps(
            {
                "pretrained": {k: round(v, 4) for k, v in pretrained.items()},
                "random": {k: round(v, 4) for k, v in random.items()},
                "frames_per_track": args.frames,
                "wall_s": round(time.monotonic() - t0, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
