"""Practice benchmark's peer: stable-baselines3's SAC from pixels, practising fastrlap's task.

For each (track, seed) it records the demo lap as `fastrlap practice` does (`record_demo_lap`: the
scripted demo driver, the checkpoints extracted from its lap) into
`<out>/<date>-<time>-<track>-s<seed>/`, makes `fastrlap/Track-v0` on that run directory (practice's
task: its checkpoints, reward, supervisor recoveries and operator carries, and the state vector
fastrlap's actor gets; fastrlap/practice/gym_env.py) and trains SB3's `SAC("MultiInputPolicy")`
on it: SB3's NatureCNN on the 128x128 camera frame (what CnnPolicy uses) beside the state vector,
with SB3's defaults (one gradient step per env step, i.e. UTD 1; batch 256; learning rate 3e-4;
learning_starts 100; automatic entropy; no frame stacking, no demo transitions in the buffer)
and one exception that memory forces: the replay buffer holds the run's whole budget
(minutes x 600 transitions) rather than SB3's 1M (a million pairs of camera frames is ~100 GB).
Training stops at `--minutes` of simulated practice time, counted as practice counts it: every
control tick, the supervisor's recoveries and the operator's carries included, so the agent gets
at most minutes x 600 env steps. Laps, lap times, T2F and collisions come from practice's own
course and supervisor; the run directory gets laps.csv and events.jsonl like a practice run's.

    python scripts/bench_sb3.py --track oval --seed 0 --minutes 20 [--out runs/sb3] [key=value ...]
    python scripts/bench_sb3.py --tracks oval,hairpin --seeds 0,1,2,3 --minutes 20 --deadline 7200

`--deadline` (s from now) stops the run in progress cleanly (it still records how far it got,
`practice_min`, with status "stopped") and skips runs not started yet. Each run's line (the
figures bench_practice prints, encoder "sb3_sac_pixels", plus `laps_list` as [practice_time_s,
lap_time_s] pairs, name, status and interrupted, as in bench_matrix's results.jsonl) is appended
to `<out>/results.jsonl`, which results_table.py reads beside fastrlap's results. Final output
line: that JSON for a single run; for several, results_table's table and then JSON with the
number of runs, how many finished their minutes, and the wall time.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from results_table import table  # scripts/ is on the path when this script runs

from fastrlap.cli import compose
from fastrlap.config import Config
from fastrlap.errors import FastrlapError
from fastrlap.practice.demo_lap import record_demo_lap
from fastrlap.practice.results import laps_list, stuck_resets
from fastrlap.practice.run import RunDir, RunLog, new_run_dir, save_config, save_track
from fastrlap.practice.vehicles import course_track
from fastrlap.registration import ENV_ID
from fastrlap.sim.drivers import speed_profile
from fastrlap.sim.dynamics import car_params

ENCODER = "sb3_sac_pixels"  # what results tables show in the encoder column for this peer
TICKS_PER_MINUTE = 600  # control ticks per simulated minute at the simulator's 10 Hz


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--track", default="oval", help="built-in track name or path to a track YAML file")
    ap.add_argument("--tracks", default="", help="comma list of tracks (wins over --track)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seeds", default="", help="comma list of seeds (wins over --seed)")
    ap.add_argument("--minutes", type=float, default=20.0, help="simulated practice minutes per run")
    ap.add_argument("--out", default="runs/sb3", help="folder of the run directories and results.jsonl")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (torch.set_num_threads)")
    ap.add_argument("--deadline", type=float, default=0.0, help="s from now after which runs are stopped (0 = none)")
    ap.add_argument("--device", default="auto", help="SB3's device: auto (its default), cpu or cuda")
    ap.add_argument("--buffer", type=int, default=0, help="replay buffer size (0 = the run's minutes x 600)")
    ap.add_argument("--learning-starts", type=int, default=100, help="env steps before learning (SB3's default)")
    ap.add_argument("--batch-size", type=int, default=256, help="transitions per gradient step (SB3's default)")
    ap.add_argument("overrides", nargs="*", help="config overrides for every run, e.g. course.demo_speed=2.0")
    return ap.parse_args()


def configs(args: argparse.Namespace) -> list[Config]:
    """One checked config per (track, seed), tracks outermost: a bad track or override is one line
    before anything runs."""
    tracks = [t for t in (args.tracks or args.track).split(",") if t]
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s] if args.seeds else [args.seed]
    except ValueError:
        raise FastrlapError(f"--seeds {args.seeds}: give whole numbers separated by commas, e.g. 0,1,2") from None
    out = []
    for track in tracks:
        for seed in seeds:
            cfg = compose([f"track={track}", f"seed={seed}", "wandb.mode=disabled", *args.overrides])
            course_track(cfg)  # the track exists and holds a lap for this car
            out.append(cfg)
    return out


def record_run(cfg: Config, out: Path) -> RunDir:
    """A run directory with practice's demo lap and checkpoints for `cfg`'s track and seed."""
    track = course_track(cfg)
    run = new_run_dir(out, f"{track.name}-s{cfg.seed}")
    save_config(run, cfg)
    save_track(run, track.source)
    if record_demo_lap(cfg, run, track) != 0:
        raise FastrlapError(f"no demo lap was recorded in {run.path}")
    return run


def train(run: RunDir, args: argparse.Namespace, seed: int, deadline: float | None):
    """SB3's SAC on practice's task in `run` until the practice minutes (or the deadline) are
    over; returns the environment (its state, laps), the model, whether the deadline stopped it,
    and the env steps per wall second once gradient steps began (None if they never did)."""
    import gymnasium as gym
    import torch
    from stable_baselines3 import SAC

    log = RunLog(run)
    env = gym.make(ENV_ID, run_dir=str(run.path), on_lap=log.lap, on_event=lambda t, kind, d: log.event(t, kind, **d))
    practice = env.unwrapped
    budget_s = args.minutes * 60.0
    ticks = max(1, math.ceil(args.minutes * TICKS_PER_MINUTE))
    torch.set_num_threads(args.threads)
    model = SAC(
        "MultiInputPolicy",
        env,
        buffer_size=args.buffer or ticks,
        learning_starts=args.learning_starts,
        batch_size=args.batch_size,
        seed=seed,
        device=args.device,
        verbose=0,
    )
    stopped = False
    shown = 0  # the last whole practice minute a progress line was printed for
    learning_from: tuple[float, int] | None = None  # (wall time, env steps) when gradient steps began

    def keep_going(_locals: dict, _globals: dict) -> bool:
        nonlocal stopped, shown, learning_from
        st = practice.state
        if learning_from is None and model.num_timesteps >= args.learning_starts:
            learning_from = (time.monotonic(), model.num_timesteps)
        minute = int(st.practice_time // 60)
        if minute > shown:
            shown = minute
            best = f"{st.best_lap:.2f} s" if st.best_lap is not None else "-"
            print(f"  {minute} min: {st.laps} laps, best {best}, {st.collisions} collisions", flush=True)
        if deadline is not None and time.time() >= deadline:
            stopped = True
            return False
        return st.practice_time < budget_s - 1e-9

    try:
        model.learn(total_timesteps=ticks, callback=keep_going)
    finally:
        log.close()
        env.close()
    rate = None
    if learning_from is not None and model.num_timesteps > learning_from[1]:
        rate = (model.num_timesteps - learning_from[1]) / (time.monotonic() - learning_from[0])
    return practice, model, stopped, rate


def figures(run: RunDir, practice, model, stopped: bool, rate: float | None, wall_s: float) -> dict:
    """The run's line: bench_practice's figures, its laps, and how it ended (bench_matrix's keys)."""
    st, laps = practice.state, practice.laps
    demo = practice.course_spec.demo_lap_time
    oracle = speed_profile(practice.track, car_params(practice.cfg.vehicle)).lap_time
    best = st.best_lap
    return {
        "track": practice.track.name,
        "seed": int(practice.cfg.seed),
        "encoder": ENCODER,
        "demo_lap_s": None if demo is None else round(demo, 3),
        "t2f_min": None if st.first_lap_time is None else round(st.first_lap_time / 60.0, 3),
        "best_lap_s": None if best is None else round(best, 3),
        "oracle_lap_s": round(oracle, 3),
        "best_over_oracle": None if best is None else round(best / oracle, 3),
        "collisions_last5": int(sum(r.collisions for r in laps[-5:])),
        "collisions": st.collisions,
        "stuck_first_min": stuck_resets(run, within_s=60.0),
        "laps": len(laps),
        "practice_min": round(st.practice_time / 60.0, 2),
        "wall_s": round(wall_s, 1),
        "run_dir": str(run.path),
        "env_steps": int(model.num_timesteps),
        "learning_steps_per_s": None if rate is None else round(rate, 2),
        "laps_list": laps_list(laps),
        "name": run.path.name,
        "status": "stopped" if stopped else "ok",
        "interrupted": stopped,
    }


def main() -> None:
    args = parse_args()
    out = Path(args.out)
    t0 = time.time()
    deadline = t0 + args.deadline if args.deadline else None
    try:
        runs = configs(args)
    except FastrlapError as e:
        raise SystemExit(f"bench_sb3: {e}") from None
    results = []
    for cfg in runs:
        if deadline is not None and time.time() >= deadline:
            print(f"{Path(cfg.track).stem} seed {cfg.seed}: skipped (the deadline passed)")
            continue
        start = time.time()
        run = record_run(cfg, out)
        practice, model, stopped, rate = train(run, args, cfg.seed, deadline)
        result = figures(run, practice, model, stopped, rate, time.time() - start)
        with open(out / "results.jsonl", "a") as f:
            f.write(json.dumps(result) + "\n")
        results.append(result)
        print(
            f"track {result['track']} seed {result['seed']} ({ENCODER}): demo {result['demo_lap_s']} s | "
            f"T2F {result['t2f_min']} min | best {result['best_lap_s']} s | oracle {result['oracle_lap_s']} s | "
            f"best/oracle {result['best_over_oracle']} | collisions in last 5 laps {result['collisions_last5']} | "
            f"laps {result['laps']} | {result['practice_min']} practice min | {result['env_steps']} env steps "
            f"({result['learning_steps_per_s']}/s learning) | "
            f"wall {result['wall_s']} s" + (" | stopped by the deadline" if stopped else "")
        )
        print(json.dumps(result), flush=True)
    if len(runs) > 1:
        finished = sum(r["practice_min"] >= args.minutes - 0.01 for r in results)
        print(table(results))
        print(json.dumps({"runs": len(results), "finished": finished, "wall_s": round(time.time() - t0, 1)}))


if __name__ == "__main__":
    main()
