"""Many practice benchmarks at once: one `bench_practice.py` process per (encoder, track, seed).

For a many-core machine: each run is single-threaded (`--threads`), so N cores run N tracks and
seeds side by side, and a wall-clock deadline stops what is still running with Ctrl-C (SIGINT),
which ends practice cleanly, so every run still reports how far it got (`practice_min`).

    python scripts/bench_matrix.py --tracks oval,hairpin,chicane --seeds 0,1 \\
        --encoders pretrained,random --minutes 20 --jobs 12 --deadline 1800 --out runs/matrix

Writes `<out>/logs/<name>.log` per run, `<out>/results.jsonl` (each run's JSON line from
bench_practice plus its laps as [practice_time_s, lap_time_s] pairs, for comparisons at equal
practice time), and prints the Markdown table of `results_table.py`. Final output line: JSON with the number of runs,
how many finished their minutes, and the wall time.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from fastrlap.practice.run import RunDir, read_laps
from results_table import laps_list, table  # scripts/ is on the path when this script runs

BENCH = Path(__file__).resolve().parent / "bench_practice.py"
GRACE_S = 45.0  # after SIGINT, time to save and print before SIGKILL


@dataclass
class Job:
    encoder: str
    track: str
    seed: int
    out: Path
    proc: subprocess.Popen | None = None
    log: Path | None = None
    started: float = 0.0
    interrupted: bool = False
    result: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{Path(self.encoder).stem if '/' in self.encoder else self.encoder}-{self.track}-s{self.seed}"


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
    return ap.parse_args()


def laps_of(parent: Path) -> list[list[float]]:
    """[practice_time_s, lap_time_s] of every lap of the (single) run directory under `parent`."""
    for laps in sorted(parent.glob("*/laps.csv")):
        return laps_list(read_laps(RunDir(laps.parent)))
    return []


def last_json(log: Path) -> dict:
    for line in reversed(log.read_text(errors="replace").splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                return {}
    return {}


def start(job: Job, args: argparse.Namespace, logs: Path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads),
               PYTHONUNBUFFERED="1")
    job.log = logs / f"{job.name}.log"
    cmd = [sys.executable, str(BENCH), "--track", job.track, "--seed", str(job.seed), "--minutes", str(args.minutes),
           "--out", str(job.out), f"agent.encoder={job.encoder}", f"practice.torch_threads={args.threads}",
           "practice.estop_key=false",  # N children share one terminal: none of them may put it in cbreak
           *args.overrides]
    with open(job.log, "w") as f:
        # A shell without job control starts background commands with SIGINT ignored, and a child
        # would inherit that and shrug off the deadline's Ctrl-C: give it the default back.
        job.proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env,
                                    preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    job.started = time.monotonic()


def main() -> None:
    args = parse_args()
    out = Path(args.out)
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    jobs = [Job(e, t, int(s), out / f"{e if '/' not in e else Path(e).stem}-{t}-s{s}")
            # Encoders innermost: a stopped matrix still has matched pairs to compare.
            for t in args.tracks.split(",") for s in args.seeds.split(",") for e in args.encoders.split(",")]
    t0 = time.monotonic()
    deadline = (t0 + (args.deadline_at - time.time()) if args.deadline_at
                else t0 + args.deadline if args.deadline else float("inf"))
    pending, running = list(jobs), []
    while pending or running:
        now = time.monotonic()
        while pending and len(running) < args.jobs and now < deadline:
            job = pending.pop(0)
            start(job, args, logs)
            running.append(job)
            print(f"[{now - t0:6.0f} s] started {job.name}", flush=True)
        for job in list(running):
            if job.proc.poll() is not None:
                running.remove(job)
                print(f"[{now - t0:6.0f} s] {job.name} exited {job.proc.returncode} after "
                      f"{now - job.started:.0f} s", flush=True)
            elif now >= deadline and not job.interrupted:
                job.proc.send_signal(signal.SIGINT)
                job.interrupted = True
                print(f"[{now - t0:6.0f} s] deadline: Ctrl-C to {job.name}", flush=True)
            elif job.interrupted and now >= deadline + GRACE_S:
                job.proc.kill()
        if now >= deadline and pending:
            print(f"deadline: {len(pending)} run(s) not started: {', '.join(j.name for j in pending)}", flush=True)
            pending.clear()
        time.sleep(1.0)

    finished = 0
    with open(out / "results.jsonl", "w") as f:
        for job in jobs:
            if job.proc is None:
                continue
            res = last_json(job.log)
            res.update(name=job.name, encoder=job.encoder, track=job.track, seed=job.seed,
                       returncode=job.proc.returncode, interrupted=job.interrupted, laps_list=laps_of(job.out))
            finished += int(bool(res.get("practice_min")) and res["practice_min"] >= args.minutes - 1e-6)
            job.result = res
            f.write(json.dumps(res) + "\n")
    print(table([job.result for job in jobs if job.result]))
    print(json.dumps({"runs": sum(j.proc is not None for j in jobs), "finished": finished,
                      "wall_s": round(time.monotonic() - t0, 1)}))


if __name__ == "__main__":
    main()
