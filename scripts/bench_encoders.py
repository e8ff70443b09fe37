"""The benchmark that decides which encoder ships: pretrained against random on every race track, then a new light.

    python scripts/bench_encoders.py --jobs 16 --deadline 10800 --out runs/encbench [key=value ...]

1. Practice (bench_matrix.py's sweep): the six built-in race tracks x seeds 0-3 x the encoders
   `pretrained,random` (`--encoders WEIGHTS,random` for other weights), 10 simulated minutes
   each, with the realistic camera look. Runs that finished their minutes in `--out` earlier are
   not run again, so the same command continues an interrupted benchmark (a run that did not
   finish starts over).
2. Lighting shift (light_shift.py): every finished run drives `--laps` timed laps under its own
   light and as many under another (`--light-shift-deg`, `--light-level`), same seed; an
   evaluation done earlier with the same light and laps is kept.
3. Report: per (track, seed) pair each encoder's T2F and best lap at equal practice time and mean
   evaluation lap under both lights; the pairs each encoder won on T2F and on the best lap with
   two-sided sign tests (compare_encoders.py); per encoder the mean over runs of the shifted/own
   mean-lap ratio; and the verdict on the pretrained encoder: a quicker first lap in more pairs
   than the random one with sign-test p < 0.05, a better best lap in more pairs, and its laps
   under the shifted light within 5% of its own (a run that laps under its own light but not
   under the shifted one fails this). Pairs where neither encoder was better are left out.

`--tracks`, `--seeds`, `--encoders` and `--minutes` run (and report) a smaller slice; `--jobs`,
`--threads` and `--deadline` as in bench_matrix.py, the deadline covering both steps. The folder
holds practice-N/ (one sweep per invocation that had runs to practise; each job's job.json is the
record of that run), results.jsonl (the latest result per track, seed and encoder, for
compare_encoders.py and results_table.py) and evaluations.jsonl (one line per run and light). Use a
new `--out` for other settings. Final output line: JSON with every figure of the report.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench_matrix import add_matrix_options, deadline_of, finished, practise, result
from compare_encoders import cell, pair_up, pairs_won, per_track, side, sign_test, won_line
from light_shift import OWN, SHIFTED, Light, check_light_options, describe, evaluate_runs, light_options, run_light

from fastrlap.errors import FastrlapError
from fastrlap.practice.sweep import JOB_FILE
from fastrlap.sim.track import track_name

REALISTIC = "vehicle.sim.camera.look=realistic"
P_MAX = 0.05  # the sign test's p below which a majority of first laps counts
RATIO_TOLERANCE = 0.05  # shifted/own mean lap within this of 1
SIDES = ("pretrained", "random")
# Settings the benchmark sets itself, and where to give them instead of as an override.
OPTIONS_OWN = {
    "track": "give the tracks with --tracks",
    "seed": "give the seeds with --seeds",
    "agent.encoder": "give the encoders with --encoders",
    "practice.minutes": "give the simulated minutes with --minutes",
    "vehicle.sim.camera.look": "the benchmark practises with the realistic look, the one with a light to shift",
}


@dataclass(frozen=True)
class Slice:
    """The runs asked for: tracks (name -> as given), seeds, encoders, simulated minutes."""

    tracks: dict[str, str]
    seeds: tuple[int, ...]
    encoders: tuple[str, ...]
    minutes: float

    def wanted(self) -> list[tuple[str, int, str]]:
        return [(t, s, e) for t in self.tracks for s in self.seeds for e in self.encoders]

    def holds(self, r: dict) -> bool:
        return key(r) in set(self.wanted())


def key(r: dict) -> tuple[str, int, str]:
    return r["track"], int(r["seed"]), r["encoder"]


def parse_args() -> tuple[argparse.Namespace, Slice, Light]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_matrix_options(ap)
    light_options(ap)
    ap.set_defaults(seeds="0,1,2,3", encoders="pretrained,random", minutes=10.0, out="runs/encbench")
    args = ap.parse_args()
    shifted = check_light_options(ap, args)
    try:
        seeds = tuple(int(s) for s in args.seeds.split(","))
    except ValueError:
        ap.error(f"--seeds {args.seeds}: give a comma list of integers, e.g. 0,1,2,3")
    encoders = tuple(args.encoders.split(","))
    if len(set(encoders)) != len(encoders) or sum(e != "random" for e in encoders) > 1:
        ap.error(f"--encoders {args.encoders}: one encoder against random, e.g. pretrained,random or WEIGHTS,random")
    if args.minutes <= 0 or args.jobs < 1 or args.threads < 1:
        ap.error("--minutes must be above 0, --jobs and --threads at least 1")
    for o in args.overrides:
        if o.split("=", 1)[0] in OPTIONS_OWN:
            ap.error(f"{o}: {OPTIONS_OWN[o.split('=', 1)[0]]}")
    tracks = {track_name(t): t for t in args.tracks.split(",")}
    return args, Slice(tracks, seeds, encoders, args.minutes), shifted


def sweeps(out: Path) -> list[Path]:
    """The practice-N folders, in the order they were made."""
    found = [p for p in out.glob("practice-*") if p.is_dir() and p.name.split("-", 1)[1].isdigit()]
    return sorted(found, key=lambda p: int(p.name.split("-", 1)[1]))


def read_results(out: Path) -> dict[tuple[str, int, str], dict]:
    """The latest result per (track, seed, encoder), read from the jobs' job.json files, so a
    benchmark killed before its sweep ended still keeps every run that finished."""
    results = {}
    for folder in sweeps(out):
        jobs = [json.loads(p.read_text()) for p in folder.glob(f"*/{JOB_FILE}")]
        for job in sorted(jobs, key=lambda j: j["job"]):
            if job["status"] != "skipped":
                results[key(job)] = result(job)
    return results


def practise_missing(args: argparse.Namespace, sl: Slice, deadline: float | None) -> dict[tuple[str, int, str], dict]:
    """Practise the runs of the slice not finished in the folder; every result, old and new."""
    out = Path(args.out)
    results = read_results(out)
    done = {k for k, r in results.items() if finished(r, sl.minutes)}
    missing = [k for k in sl.wanted() if k not in done]
    if missing and deadline is not None and time.time() >= deadline:
        print(f"practising none of the {len(missing)} runs left: the deadline passed", flush=True)
    elif missing:
        print(f"practising {len(missing)} of {len(sl.wanted())} runs ({len(done)} finished before)", flush=True)
        # One sweep over the values that still have a run to do; jobs finished already are skipped.
        part = argparse.Namespace(
            **{
                **vars(args),
                "tracks": ",".join(dict.fromkeys(sl.tracks[t] for t, _, _ in missing)),
                "seeds": ",".join(dict.fromkeys(str(s) for _, s, _ in missing)),
                "encoders": ",".join(dict.fromkeys(e for _, _, e in missing)),
                "overrides": [REALISTIC, *args.overrides],
            }
        )
        made = sweeps(out)
        n = int(made[-1].name.split("-", 1)[1]) + 1 if made else 1
        practise(part, out / f"practice-{n}", deadline, frozenset(done))
        results = read_results(out)
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in results.values()))
    return results


def matches(record: dict, shifted: Light, laps: int) -> bool:
    """An evaluation made with these settings (the own light is each run's own)."""
    same_light = record["light"] == OWN or Light(record["light_shift_deg"], record["light_level"]) == shifted
    return record["laps_asked"] == laps and same_light


def evaluate_missing(
    args: argparse.Namespace, runs: list[dict], shifted: Light, deadline: float | None
) -> dict[tuple[str, str], dict]:
    """Evaluate `runs` under each light not evaluated yet; {(run_dir, light): record}, old and new."""
    path = Path(args.out) / "evaluations.jsonl"
    lines = path.read_text().splitlines() if path.is_file() else []
    records = [json.loads(line) for line in lines if line.strip()]
    have = {(r["run_dir"], r["light"]): r for r in records if matches(r, shifted, args.laps)}
    todo = {}
    for r in runs:
        names = tuple(n for n in (OWN, SHIFTED) if (r["run_dir"], n) not in have)
        if names:
            todo[run_light(Path(r["run_dir"]), shifted)] = names
    if todo and deadline is not None and time.time() >= deadline:
        print(f"evaluating none of the {len(todo)} runs left: the deadline passed", flush=True)
        return have
    if todo:
        print(f"evaluating {len(todo)} runs under their own and the shifted light", flush=True)
    with open(path, "a") as f:
        for record in evaluate_runs(todo, shifted, args.laps, args.jobs, args.threads, deadline):
            print(describe(record), flush=True)
            f.write(json.dumps(record) + "\n")
            f.flush()
            have[(record["run_dir"], record["light"])] = record
    return have


def mean_lap(record: dict | None) -> float | None:
    """The mean of an evaluation's lap times; None without the evaluation or a lap."""
    return statistics.fmean(record["lap_times"]) if record and record["lap_times"] else None


def light_summary(evaluated: list[tuple[dict, dict]]) -> dict:
    """One encoder's runs under (own, shifted) light: the mean over runs of shifted/own mean lap,
    over the runs that lapped under their own light. None when one of those drove no lap under
    the shifted light (so much slower that no ratio says it) or no run lapped at all."""
    ratios, own_laps, shifted_laps = [], [], []
    lost = 0
    for own, shifted in evaluated:
        a, b = mean_lap(own), mean_lap(shifted)
        if a is None:
            continue
        if b is None:
            lost += 1
            continue
        ratios.append(b / a)
        own_laps.append(a)
        shifted_laps.append(b)
    per_light = {OWN: [o for o, _ in evaluated], SHIFTED: [s for _, s in evaluated]}
    return {
        "runs": len(evaluated),
        "runs_compared": len(ratios),
        "runs_lapping_only_in_own_light": lost,
        "mean_lap_s": {
            OWN: statistics.fmean(own_laps) if own_laps else None,
            SHIFTED: statistics.fmean(shifted_laps) if shifted_laps else None,
        },
        "ratio": statistics.fmean(ratios) if ratios and not lost else None,
        "laps_not_completed": {
            n: sum(r["laps_asked"] - len(r["lap_times"]) for r in rs) for n, rs in per_light.items()
        },
        "collisions": {n: sum(r["collisions"] for r in rs) for n, rs in per_light.items()},
    }


def verdict(runs: list[dict], evaluations: dict[tuple[str, str], dict], minutes: float) -> dict:
    """Every figure of the report from the slice's finished runs and their evaluations."""
    by_side = {(r["track"], int(r["seed"]), side(r["encoder"])): r for r in runs}
    pairs = pair_up(by_side, minutes)
    for p in pairs:
        for s in SIDES:
            run_dir = by_side[(p["track"], p["seed"], s)]["run_dir"]
            for light in (OWN, SHIFTED):
                p[f"{light}_light_lap_{s}"] = mean_lap(evaluations.get((run_dir, light)))
    tracks = per_track(pairs)
    wins = pairs_won(tracks)
    p_values = {k: sign_test(w["pretrained"], w["random"]) for k, w in wins.items()}
    light = {}
    for s in SIDES:
        both = [
            (evaluations[(r["run_dir"], OWN)], evaluations[(r["run_dir"], SHIFTED)])
            for r in runs
            if side(r["encoder"]) == s and (r["run_dir"], OWN) in evaluations and (r["run_dir"], SHIFTED) in evaluations
        ]
        if both:
            light[s] = light_summary(both)
    ratio = light.get("pretrained", {}).get("ratio")
    passed = {
        "t2f": wins["t2f"]["pretrained"] > wins["t2f"]["random"] and p_values["t2f"] < P_MAX,
        "best": wins["best"]["pretrained"] > wins["best"]["random"],
        "light": ratio is not None and abs(ratio - 1.0) <= RATIO_TOLERANCE,
    }
    passed["all"] = all(passed.values())
    return {"pairs": pairs, "tracks": tracks, "wins": wins, "sign_test_p": p_values, "light": light, "pass": passed}


def print_report(figures: dict) -> None:
    print(
        "\n| track | seed | minutes | T2F pretrained | T2F random | best pretrained | best random | "
        "mean lap own / shifted light, pretrained | same, random |\n|---|---|---|---|---|---|---|---|---|"
    )
    for p in figures["pairs"]:
        laps = {s: f"{cell(p[f'{OWN}_light_lap_{s}'], 2)} / {cell(p[f'{SHIFTED}_light_lap_{s}'], 2)} s" for s in SIDES}
        print(
            f"| {p['track']} | {p['seed']} | {p['minutes']:.1f} | {cell(p['t2f_pretrained'], 2)} min | "
            f"{cell(p['t2f_random'], 2)} min | {cell(p['best_pretrained'], 2)} s | {cell(p['best_random'], 2)} s | "
            f"{laps['pretrained']} | {laps['random']} |"
        )
    print(f"\npairs won (pretrained-random): {won_line(figures['wins'], figures['sign_test_p'])}")
    print(
        "\n| encoder | runs (compared) | mean lap own light | mean lap shifted light | shifted / own | "
        "laps not completed own / shifted | collisions own / shifted |\n|---|---|---|---|---|---|---|"
    )
    for s, li in figures["light"].items():
        print(
            f"| {s} | {li['runs']} ({li['runs_compared']}) | {cell(li['mean_lap_s'][OWN], 2)} s | "
            f"{cell(li['mean_lap_s'][SHIFTED], 2)} s | {cell(li['ratio'], 3)} | "
            f"{li['laps_not_completed'][OWN]} / {li['laps_not_completed'][SHIFTED]} | "
            f"{li['collisions'][OWN]} / {li['collisions'][SHIFTED]} |"
        )
    wins, p_values, passed = figures["wins"], figures["sign_test_p"], figures["pass"]
    ratio = figures["light"].get("pretrained", {}).get("ratio")
    lines = [
        (
            "t2f",
            f"quicker first lap in a significant majority of pairs: {wins['t2f']['pretrained']}-"
            f"{wins['t2f']['random']}, p = {p_values['t2f']:.3f} (needs more pairs than random and p < {P_MAX})",
        ),
        (
            "best",
            f"better best lap in the majority of pairs: {wins['best']['pretrained']}-{wins['best']['random']} "
            "(needs more pairs than random)",
        ),
        (
            "light",
            f"mean lap under the shifted light within {RATIO_TOLERANCE:.0%} of its own: ratio {cell(ratio, 3)}"
            " (- : a run lost its laps under the shifted light, or none evaluated)",
        ),
    ]
    print()
    for k, text in lines:
        print(f"{'PASS' if passed[k] else 'FAIL'}  pretrained {text}")
    print(f"{'PASS' if passed['all'] else 'FAIL'}  the pretrained encoder {'passes' if passed['all'] else 'fails'}")


def main() -> None:
    args, sl, shifted = parse_args()
    t0 = time.time()
    deadline = deadline_of(args, t0)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    try:
        results = practise_missing(args, sl, deadline)
        runs = [r for r in results.values() if sl.holds(r) and finished(r, sl.minutes)]
        evaluations = evaluate_missing(args, runs, shifted, deadline)
    except FastrlapError as e:
        sys.exit(f"bench_encoders: {e}")
    figures = verdict(runs, evaluations, sl.minutes)
    pretrained = next((e for e in sl.encoders if e != "random"), "-")
    print(
        f"\npretrained = {pretrained}; {len(runs)} of {len(sl.wanted())} runs finished {sl.minutes:g} simulated "
        f"minutes; shifted light: light_shift_deg={shifted.shift_deg:g} light_level={shifted.level:g}, "
        f"{args.laps} laps per evaluation"
    )
    print_report(figures)
    settings = {
        "tracks": list(sl.tracks),
        "seeds": list(sl.seeds),
        "encoders": list(sl.encoders),
        "minutes": sl.minutes,
        "laps": args.laps,
        "light_shift_deg": shifted.shift_deg,
        "light_level": shifted.level,
    }
    runs_line = {"wanted": len(sl.wanted()), "finished": len(runs), "wall_s": round(time.time() - t0, 1)}
    print(json.dumps({"settings": settings, "runs": runs_line, **figures}))


if __name__ == "__main__":
    main()
