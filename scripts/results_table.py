"""The README's practice results: a Markdown table and a learning-curve figure from benchmark results.

    python scripts/results_table.py docs/results/practice_*.jsonl --figure docs/figures/learning_curves.png

Reads result files written by `bench_matrix.py` (one JSON object per line: bench_practice's
figures plus `laps_list`, the [practice_time_s, lap_time_s] of every lap) or run directories
(summary.json, laps.csv, config.yaml; any folder above them, such as the folder of a
`fastrlap practice -m` sweep, e.g. runs/multirun/<date>/<time>); a track is shown by its name,
also when it was given as a path; a later entry for the same (track, seed, encoder) replaces an
earlier one. `--save FILE` writes the merged runs as one results file. Prints one table row per run with the
practice targets checked (best lap <= 1.3x the oracle, T2F <= 5 simulated minutes, best lap >= 40%
faster than the demo lap), and draws lap time / oracle lap against practice time, one panel per
track, one line per seed and encoder. Final output line: JSON with the number of runs and how
many met all three targets.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from fastrlap.practice.results import run_figures

BEST_OVER_ORACLE_MAX = 1.3
T2F_MAX_MIN = 5.0
FASTER_THAN_DEMO = 0.4

HEADER = (
    "| track | seed | encoder | demo lap | T2F | best lap | oracle | best/oracle | laps | "
    "collisions, last 5 laps | wall | targets |\n|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def encoder_name(encoder: str) -> str:
    return Path(encoder).stem if "/" in encoder or encoder.endswith(".pt") else encoder


def load(sources: list[str]) -> list[dict]:
    """Runs keyed by (track, seed, encoder), later entries winning, in order of first sight."""
    runs: dict[tuple, dict] = {}
    for src in map(Path, sources):
        if src.is_dir():
            found = [run_figures(p.parent) for p in sorted(src.glob("**/summary.json"))]
        else:
            found = [json.loads(line) for line in src.read_text().splitlines() if line.strip()]
        for r in found:
            runs[(r["track"], int(r["seed"]), encoder_name(r.get("encoder", "pretrained")))] = r
    return list(runs.values())


def targets_met(r: dict) -> bool:
    best, t2f, demo = r.get("best_lap_s"), r.get("t2f_min"), r.get("demo_lap_s")
    if best is None or t2f is None:
        return False
    return (
        best <= BEST_OVER_ORACLE_MAX * r["oracle_lap_s"]
        and t2f <= T2F_MAX_MIN
        and best <= (1.0 - FASTER_THAN_DEMO) * demo
    )


def row(r: dict) -> str:
    def f(v, unit: str, digits: int = 2) -> str:
        return "-" if v is None else f"{v:.{digits}f}{unit}"

    return (
        f"| {r['track']} | {r['seed']} | {encoder_name(r.get('encoder', 'pretrained'))} | "
        f"{f(r.get('demo_lap_s'), ' s')} | "
        f"{f(r.get('t2f_min'), ' min')} | {f(r.get('best_lap_s'), ' s')} | {f(r.get('oracle_lap_s'), ' s')} | "
        f"{f(r.get('best_over_oracle'), '', 3)} | {r.get('laps')} in {f(r.get('practice_min'), ' min', 1)} | "
        f"{r.get('collisions_last5')} | {f(r.get('wall_s'), ' s', 0)} | {'met' if targets_met(r) else 'NOT met'} |"
    )


def table(runs: list[dict]) -> str:
    return "\n".join([HEADER, *(row(r) for r in runs)])


def figure(runs: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tracks = list(dict.fromkeys(r["track"] for r in runs))
    cols = min(3, len(tracks))
    rows = math.ceil(len(tracks) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False, sharey=True)
    for ax, track in zip(axes.flat, tracks):
        for r in (r for r in runs if r["track"] == track):
            laps = r.get("laps_list") or []
            ax.plot(
                [t / 60 for t, _ in laps],
                [lap / r["oracle_lap_s"] for _, lap in laps],
                ".-",
                lw=1,
                ms=3,
                label=f"seed {r['seed']} ({encoder_name(r.get('encoder', 'pretrained'))})",
            )
        ax.axhline(1.0, color="green", ls=":", lw=1)
        ax.axhline(BEST_OVER_ORACLE_MAX, color="grey", ls="--", lw=1)
        ax.set_title(track)
        ax.set_ylim(0.9, 2.5)
        ax.set_xlabel("practice time (simulated min)")
        ax.legend(fontsize=7)
    for ax in axes[:, 0]:
        ax.set_ylabel("lap time / oracle lap")
    for ax in list(axes.flat)[len(tracks) :]:
        ax.axis("off")
    fig.suptitle(
        "Practice in the simulator: lap time against practice time (dotted: oracle; dashed: the 1.3x target)",
        fontsize=10,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sources", nargs="+", help="results .jsonl files from bench_matrix.py, or run directories")
    ap.add_argument("--figure", default="", help="write the learning-curve figure here (PNG)")
    ap.add_argument("--save", default="", help="write the merged runs here as one results .jsonl file")
    ap.add_argument("--encoder", default="", help="only runs with this encoder (e.g. pretrained)")
    args = ap.parse_args()
    runs = [r for r in load(args.sources) if not args.encoder or encoder_name(r.get("encoder", "")) == args.encoder]
    if args.save:
        Path(args.save).write_text("".join(json.dumps(r) + "\n" for r in runs))
    print(table(runs))
    if args.figure:
        figure(runs, Path(args.figure))
    print(json.dumps({"runs": len(runs), "targets_met": sum(targets_met(r) for r in runs)}))


if __name__ == "__main__":
    main()
