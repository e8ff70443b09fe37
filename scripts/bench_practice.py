"""Practice benchmark: does the car get fast, and how quickly?

Records the demo lap and practises on a race track in the simulator, then prints the
demo lap time, the time to the first autonomous lap (T2F, practice minutes), the best lap, the
oracle lap, best/oracle, collisions in the last 5 laps and in all, stuck resets in the first
practice minute, and wall time; the run directory keeps
laps.csv, events.jsonl, practice.log and a learning-curve PNG. The run is a one-job sweep
(`fastrlap practice -m`) in `<out>/<date>-<time>-<track name>-s<seed>/`; the track may be a
built-in name or a path to a track file. Final output line: JSON with track, seed, encoder,
demo_lap_s, t2f_min, best_lap_s, oracle_lap_s, best_over_oracle, collisions_last5, collisions,
stuck_first_min, worst_cell_recoveries (the most pseudo-resets begun in one 2 m cell after minute 5),
laps, practice_min, wall_s, wall_s_per_min (wall time per simulated minute) and run_dir.

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

from fastrlap.cli import practice_multirun  # noqa: E402
from fastrlap.practice.results import run_figures  # noqa: E402
from fastrlap.practice.sweep import LOG_FILE  # noqa: E402
from fastrlap.sim.track import track_name  # noqa: E402


def learning_curve(result: dict, path: Path) -> None:
    laps = result["laps_list"]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([t / 60 for t, _ in laps], [lap for _, lap in laps], "o-", label="practice laps")
    ax.axhline(result["demo_lap_s"], color="grey", ls="--", label="demo lap")
    ax.axhline(result["oracle_lap_s"], color="green", ls=":", label="oracle")
    ax.set_xlabel("practice time (simulated min)")
    ax.set_ylabel("lap time (s)")
    ax.set_title(f"{result['track']}, seed {result['seed']}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--track", default="oval", help="built-in track name or path to a track YAML file")
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/bench", help="parent folder of the benchmark's sweep folder")
    ap.add_argument("overrides", nargs="*", help="extra config overrides, e.g. agent.encoder=random")
    args = ap.parse_args()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = Path(args.out) / f"{stamp}-{track_name(args.track)}-s{args.seed}"
    t0 = time.monotonic()
    sweep = practice_multirun(
        [
            f"track={args.track}",
            f"seed={args.seed}",
            f"practice.minutes={args.minutes}",
            "wandb.mode=disabled",
            f"hydra.sweep.dir={folder}",
            *args.overrides,
        ]
    )
    job = sweep.jobs[0]
    if job["status"] == "failed":
        raise SystemExit(f"bench_practice: {job['error']} (log: {Path(job['run_dir']) / LOG_FILE})")
    result = run_figures(job["run_dir"])
    result["wall_s"] = round(time.monotonic() - t0, 1)  # the demo lap and the job's start included
    if result["laps_list"]:
        learning_curve(result, Path(job["run_dir"]) / "learning_curve.png")
    del result["laps_list"]
    print(
        f"track {result['track']} seed {args.seed}: demo {result['demo_lap_s']} s | T2F {result['t2f_min']} min | "
        f"best {result['best_lap_s']} s | oracle {result['oracle_lap_s']} s | best/oracle {result['best_over_oracle']} "
        f"| collisions in last 5 laps {result['collisions_last5']} | laps {result['laps']} | {result['practice_min']} practice min | wall {result['wall_s']} s"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
