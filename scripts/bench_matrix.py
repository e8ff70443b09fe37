"""Many practice benchmarks at once: one `fastrlap practice -m` sweep over (track, seed, encoder).

For a many-core machine: each job is single-threaded (`--threads`), so N cores run N tracks and
seeds side by side (Hydra's joblib launcher, `--jobs` at a time), and a wall-clock deadline
stops what is still running as Ctrl-C would, which ends practice cleanly, so every run still
reports how far it got (`practice_min`); jobs not started by then are skipped. Tracks may be
built-in names or paths to track files.

    python scripts/bench_matrix.py --tracks oval,hairpin,chicane --seeds 0,1 \\
        --encoders pretrained,random --minutes 20 --jobs 12 --deadline 1800 --out runs/matrix

Writes the sweep to `<out>/sweep/` (a run directory per job with its practice.log, and
summary.jsonl), `<out>/results.jsonl` (each run's figures as bench_practice prints them plus its
laps as [practice_time_s, lap_time_s] pairs, for comparisons at equal practice time), and prints
the Markdown table of `results_table.py`. Final output line: JSON with the number of runs, how
many finished their minutes, and the wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from results_table import table  # scripts/ is on the path when this script runs

from fastrlap.cli import practice_multirun
from fastrlap.practice.sweep import ALREADY_DONE


def add_matrix_options(ap: argparse.ArgumentParser) -> None:
    """The options of a matrix of practice runs (shared with bench_encoders.py)."""
    ap.add_argument("--tracks", default="oval,hairpin,chicane,technical,sweeper,figure")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--encoders", default="pretrained", help="comma list: pretrained, random or weight paths")
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--threads", type=int, default=1, help="torch/OpenMP threads per run")
    ap.add_argument("--deadline", type=float, default=0.0, help="s from now after which runs are stopped (0 = none)")
    ap.add_argument("--deadline-at", type=float, default=0.0, help="the same as a Unix time (wins over --deadline)")
    ap.add_argument("--out", default="runs/matrix")
    ap.add_argument("overrides", nargs="*", help="config overrides for every run, e.g. device=cpu")


def deadline_of(args: argparse.Namespace, t0: float) -> float | None:
    """The Unix time at which runs are stopped, or None."""
    return args.deadline_at or (t0 + args.deadline if args.deadline else None)


def finished(r: dict, minutes: float) -> bool:
    """Whether a run practised all its minutes (not stopped by the deadline or an error first)."""
    return (r.get("practice_min") or 0.0) >= minutes - 1e-6


def result(job: dict) -> dict:
    """A job's line of results.jsonl: its summary line (figures and laps when it practised) and
    how it ended."""
    return {"laps_list": [], **job, "name": Path(job["run_dir"]).name, "interrupted": job["status"] == "stopped"}


def practise(
    args: argparse.Namespace,
    sweep_dir: Path,
    deadline: float | None,
    done: frozenset[tuple[str, int, str]] = frozenset(),
) -> list[dict]:
    """Run the matrix as one sweep in `sweep_dir`, skipping the (track, seed, encoder) runs in
    `done`; prints a line per job that did not end well. Returns the result of every job that ran."""
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))  # the launcher's workers inherit it
    # Encoders innermost (the last swept key varies fastest): a stopped matrix still has matched pairs.
    sweep = practice_multirun(
        [
            f"track={args.tracks}",
            f"seed={args.seeds}",
            f"agent.encoder={args.encoders}",
            f"practice.minutes={args.minutes}",
            f"practice.torch_threads={args.threads}",
            "wandb.mode=disabled",
            f"hydra.launcher.n_jobs={args.jobs}",
            f"hydra.sweep.dir={sweep_dir}",
            *args.overrides,
        ],
        deadline=deadline,
        done=done,
    )
    for job in sweep.failed:
        if job["error"] != ALREADY_DONE:
            print(f"{Path(job['run_dir']).name}: {job['status']}" + (f": {job['error']}" if job["error"] else ""))
    return [result(job) for job in sweep.jobs if job["status"] != "skipped"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_matrix_options(ap)
    args = ap.parse_args()
    out = Path(args.out)
    t0 = time.time()
    results = practise(args, out / "sweep", deadline_of(args, t0))
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in results))
    print(table([r for r in results if r.get("practice_min") is not None]))
    done = sum(finished(r, args.minutes) for r in results)
    print(json.dumps({"runs": len(results), "finished": done, "wall_s": round(time.time() - t0, 1)}))


if __name__ == "__main__":
    main()
