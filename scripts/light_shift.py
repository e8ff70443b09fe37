"""Trained runs' lap times under their own light and under another: `fastrlap evaluate` twice per run.

    python scripts/light_shift.py RUN_DIR [RUN_DIR ...] --laps 5 --light-shift-deg 120 --light-level 0.6

For each run (one that practised with the realistic camera look, `vehicle.sim.camera.look=realistic`,
the only look with a sun and a light level), `fastrlap evaluate` drives `--laps` timed laps with the
learned policy, no learning, first under the run's own light, then under a shifted one (the venue's
light turned by `--light-shift-deg`, its brightness scaled by `--light-level`); track, seed and every
other setting are the run's own, so only the light differs. A policy that looks at the track rather
than at its shading should lap about as fast in both. `--jobs` runs evaluate side by side (the two
lights of one run one after the other: evaluate locks the run). Each evaluation's laps are kept
beside the run's files as evaluation_own.csv / evaluation_shifted.csv, its output as
evaluation_<light>.log. Prints a line per evaluation; final output line: JSON, one record per
evaluation (run, light, lap times, collisions and recoveries over its laps).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from fastrlap.errors import ConfigError, FastrlapError
from fastrlap.practice.run import RunDir, load_run_config
from fastrlap.sim.track import track_name

OWN, SHIFTED = "own", "shifted"
# `fastrlap evaluate` as the console script runs it, on this interpreter (the one with fastrlap).
FASTRLAP = [sys.executable, "-c", "import sys; from fastrlap.cli import main; sys.exit(main())"]


@dataclass(frozen=True)
class Light:
    """The simulated venue's light: the sun turned by `shift_deg`, every episode's light scaled by `level`."""

    shift_deg: float
    level: float

    def overrides(self) -> list[str]:
        return [f"vehicle.sim.camera.light_shift_deg={self.shift_deg}", f"vehicle.sim.camera.light_level={self.level}"]


@dataclass(frozen=True)
class RunLight:
    """What a run practised with: where its laps are evaluated and under which light."""

    run_dir: Path
    track: str
    seed: int
    encoder: str
    light: Light


def run_light(run_dir: Path, shifted: Light) -> RunLight:
    """The run's own setting, checked: its look must have a light, and `shifted` must differ from its own."""
    cfg = load_run_config(RunDir(Path(run_dir)))
    cam = cfg.vehicle.sim.camera
    if cfg.vehicle.kind != "sim" or cam.look != "realistic":
        raise ConfigError(
            f"{run_dir} practised with look={cam.look} on vehicle={cfg.vehicle.kind}: only the simulator's "
            f"realistic look has a light to shift; practise with vehicle.sim.camera.look=realistic"
        )
    own = Light(cam.light_shift_deg, cam.light_level)
    if own == shifted:
        raise ConfigError(
            f"{run_dir} practised under light_shift_deg={own.shift_deg} light_level={own.level}, the light "
            f"asked for as the shifted one; pick another --light-shift-deg or --light-level"
        )
    return RunLight(Path(run_dir), track_name(cfg.track), cfg.seed, cfg.agent.encoder, own)


def evaluate_args(run_dir: Path, laps: int, light: Light | None) -> list[str]:
    """The arguments after `fastrlap`: `light` None keeps the run's own light. No seed= is given,
    so evaluate drives with the run's own seed under either light."""
    return ["evaluate", f"run_dir={run_dir}", f"laps={laps}", *(light.overrides() if light else [])]


def read_evaluation(path: Path) -> tuple[list[float], int, int]:
    """(lap times in s, collisions, recoveries) over the laps of an evaluation.csv."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    times = [float(r["lap_time_s"]) for r in rows]
    return times, sum(int(r["collisions"]) for r in rows), sum(int(r["recoveries"]) for r in rows)


def evaluate_one(
    run: RunLight, name: str, light: Light, laps: int, threads: int, deadline: float | None
) -> dict | None:
    """One `fastrlap evaluate` of `run` under the light called `name` (OWN: nothing overridden);
    its record, or None (with a line saying why) when it failed or the deadline stopped it."""
    log_path = run.run_dir / f"evaluation_{name}.log"
    csv_path = run.run_dir / "evaluation.csv"
    csv_path.unlink(missing_ok=True)  # evaluate rewrites it: none left over from an earlier one
    timeout = None if deadline is None else deadline - time.time()
    if timeout is not None and timeout <= 0:
        print(f"{run.run_dir.name}: not evaluated under the {name} light, the deadline passed", flush=True)
        return None
    args = evaluate_args(run.run_dir, laps, None if name == OWN else light)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    try:
        with open(log_path, "w") as log:
            code = subprocess.run(
                [*FASTRLAP, *args], stdout=log, stderr=subprocess.STDOUT, env=env, timeout=timeout
            ).returncode
    except subprocess.TimeoutExpired:
        print(f"{run.run_dir.name}: evaluation under the {name} light stopped at the deadline", flush=True)
        return None
    if code not in (0, 1) or not csv_path.is_file():  # 1: fewer laps than asked, still a result
        last = (log_path.read_text().strip().splitlines() or ["no output"])[-1]
        print(f"{run.run_dir.name}: evaluation under the {name} light failed (exit {code}): {last}", flush=True)
        return None
    kept = csv_path.rename(run.run_dir / f"evaluation_{name}.csv")
    times, collisions, recoveries = read_evaluation(kept)
    return {
        "run_dir": str(run.run_dir),
        "track": run.track,
        "seed": run.seed,
        "encoder": run.encoder,
        "light": name,
        "light_shift_deg": light.shift_deg,
        "light_level": light.level,
        "laps_asked": laps,
        "lap_times": times,
        "collisions": collisions,
        "recoveries": recoveries,
    }


def evaluate_runs(
    todo: dict[RunLight, tuple[str, ...]], shifted: Light, laps: int, jobs: int, threads: int, deadline: float | None
) -> Iterator[dict]:
    """Evaluate each run under the lights named for it (OWN, SHIFTED), `jobs` runs at a time;
    yields each run's records as the run is done."""

    def both(run: RunLight, names: tuple[str, ...]) -> list[dict]:
        records = (evaluate_one(run, n, run.light if n == OWN else shifted, laps, threads, deadline) for n in names)
        return [r for r in records if r is not None]

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for done in as_completed([pool.submit(both, run, names) for run, names in todo.items()]):
            yield from done.result()


def describe(record: dict) -> str:
    times = record["lap_times"]
    mean = f"mean {sum(times) / len(times):.2f} s" if times else "no lap"
    return (
        f"{Path(record['run_dir']).name}: {record['light']} light (shift {record['light_shift_deg']:g} deg, level "
        f"{record['light_level']:g}): {len(times)} of {record['laps_asked']} laps, {mean}, "
        f"{record['collisions']} collisions"
    )


def light_options(ap: argparse.ArgumentParser) -> None:
    """The shifted light and the laps per evaluation (shared with bench_encoders.py)."""
    ap.add_argument("--laps", type=int, default=5, help="timed laps per evaluation")
    ap.add_argument("--light-shift-deg", type=float, default=120.0, help="the shifted light: the sun turned by this")
    ap.add_argument("--light-level", type=float, default=0.6, help="the shifted light: brightness scaled by this")


def check_light_options(ap: argparse.ArgumentParser, args: argparse.Namespace) -> Light:
    if args.laps < 1:
        ap.error(f"--laps {args.laps}: evaluate at least 1 lap")
    if args.light_level <= 0:
        ap.error(f"--light-level {args.light_level}: a brightness scale must be above 0 (1 = the run's own)")
    return Light(args.light_shift_deg, args.light_level)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="run directories that practised with the realistic look")
    light_options(ap)
    ap.add_argument("--jobs", type=int, default=1, help="evaluations side by side")
    ap.add_argument("--threads", type=int, default=1, help="torch/OpenMP threads per evaluation")
    args = ap.parse_args()
    shifted = check_light_options(ap, args)
    try:
        todo = {run_light(Path(r), shifted): (OWN, SHIFTED) for r in args.runs}
    except FastrlapError as e:
        sys.exit(f"light_shift: {e}")
    records = []
    for record in evaluate_runs(todo, shifted, args.laps, args.jobs, args.threads, deadline=None):
        print(describe(record), flush=True)
        records.append(record)
    print(json.dumps(records))


if __name__ == "__main__":
    main()
