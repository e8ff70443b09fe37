"""Practice benchmark: does the car get fast, and how quickly?

Records the demo lap and practises on a built-in race track in the simulator, then prints the
demo lap time, the time to the first autonomous lap (T2F, practice minutes), the best lap, the
oracle lap, best/oracle, collisions in the last 5 laps, and wall time; the run directory keeps
laps.csv, events.jsonl and a learning-curve PNG. Final output line: JSON with demo_lap_s,
t2f_min, best_lap_s, oracle_lap_s, best_over_oracle, collisions_last5, laps, wall_s.

    python scripts/bench_practice.py --track oval --minutes 20 --seed 0 [key=value ...]

Targets: best lap <= 1.3x oracle within 20 simulated minutes, T2F <= 5 minutes, and
>= 40% faster than the demo lap.
"""
from __future__ import annotations

import argparse
import json
import time
from datetime import datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from fastrlap.cli import _record_demo_into, compose  # noqa: E402
from fastrlap.practice.run import open_run_dir, read_laps, save_config  # noqa: E402
from fastrlap.practice.session import practice  # noqa: E402
from fastrlap.sim.drivers import speed_profile  # noqa: E402
from fastrlap.sim.track import load_track  # noqa: E402
from fastrlap.vehicle.sim import SimVehicle  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--track", default="oval")
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/bench", help="parent folder of the benchmark's run directory")
    ap.add_argument("overrides", nargs="*", help="extra config overrides, e.g. agent.encoder=random")
    args = ap.parse_args()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    run = open_run_dir(Path(args.out) / f"{stamp}-{args.track}-s{args.seed}", create=True)
    cfg = compose([f"track={args.track}", f"seed={args.seed}", f"practice.minutes={args.minutes}",
                   "practice.dashboard=false", "wandb.mode=disabled", *args.overrides])
    save_config(run, cfg)
    track = load_track(cfg.track)
    t0 = time.monotonic()
    if _record_demo_into(cfg, run, track) != 0:
        raise SystemExit("demo lap failed")
    car = SimVehicle(track, cfg.vehicle, seed=cfg.seed)
    oracle = speed_profile(track, car.params).lap_time
    summary = practice(run, car, cfg, oracle_lap=oracle, status=lambda s: print(s, flush=True))
    wall = time.monotonic() - t0
    laps = read_laps(run)
    last5 = laps[-5:]
    result = {
        "track": args.track,
        "seed": args.seed,
        "encoder": cfg.agent.encoder,
        "demo_lap_s": round(summary["demo_lap_s"], 3),
        "t2f_min": None if summary["first_lap_practice_min"] is None else round(summary["first_lap_practice_min"], 3),
        "best_lap_s": None if summary["best_lap_s"] is None else round(summary["best_lap_s"], 3),
        "oracle_lap_s": round(oracle, 3),
        "best_over_oracle": None if summary["best_lap_s"] is None else round(summary["best_lap_s"] / oracle, 3),
        "collisions_last5": int(sum(r["collisions"] for r in last5)),
        "laps": len(laps),
        "practice_min": round(summary["practice_min"], 2),
        "wall_s": round(wall, 1),
        "run_dir": str(run.path),
    }
    if laps:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot([r["practice_time_s"] / 60 for r in laps], [r["lap_time_s"] for r in laps], "o-", label="practice laps")
        ax.axhline(summary["demo_lap_s"], color="grey", ls="--", label="demo lap")
        ax.axhline(oracle, color="green", ls=":", label="oracle")
        ax.set_xlabel("practice time (simulated min)")
        ax.set_ylabel("lap time (s)")
        ax.set_title(f"{args.track}, seed {args.seed}")
        ax.legend()
        fig.tight_layout()
        fig.savefig(run.path / "learning_curve.png", dpi=100)
    print(f"track {args.track} seed {args.seed}: demo {result['demo_lap_s']} s | T2F {result['t2f_min']} min | "
          f"best {result['best_lap_s']} s | oracle {result['oracle_lap_s']} s | best/oracle {result['best_over_oracle']} "
          f"| collisions in last 5 laps {result['collisions_last5']} | laps {result['laps']} | {result['practice_min']} practice min | wall {result['wall_s']} s")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
