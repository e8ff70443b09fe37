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

Below the table, per encoder, the figures that say whether practice gets near the limit, with
their targets: the medians over the runs of T2F (<= 1.0 simulated minute), best/oracle (<= 1.05)
and collisions in the last 5 laps (<= 1); the worst run's best/oracle (<= 1.12); the most
pseudo-resets begun in one 2 m cell after minute 5 in any run (<= 20: no corner crashed again and
again); and the median wall time per simulated minute. The final JSON line carries them under
`limit` per encoder.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

from fastrlap.practice.results import run_figures

BEST_OVER_ORACLE_MAX = 1.3
T2F_MAX_MIN = 5.0
FASTER_THAN_DEMO = 0.4
# Practice near the limit, over all runs of one encoder: (figure, statistic, bound)
LIMIT_TARGETS = (
    ("t2f_min", "median", 1.0),
    ("best_over_oracle", "median", 1.05),
    ("collisions_last5", "median", 1.0),
    ("best_over_oracle", "max", 1.12),
    ("worst_cell_recoveries", "max", 20),
)

HEADER = (
    "| track | seed | encoder | demo lap | T2F | best lap | oracle | best/oracle | laps | "
    "collisions, last 5 laps | most resets in a 2 m cell after min 5 | wall per sim min | targets |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
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
        f"{r.get('collisions_last5')} | {r.get('worst_cell_recoveries', '-')} | "
        f"{f(r.get('wall_s_per_min'), ' s', 0)} | {'met' if targets_met(r) else 'NOT met'} |"
    )


def table(runs: list[dict]) -> str:
    return "\n".join([HEADER, *(row(r) for r in runs)])


def limit_figures(runs: list[dict]) -> dict:
    """The near-the-limit figures of one encoder's runs and whether each meets its target. A run
    without a lap counts as infinitely slow (T2F and best/oracle), so it cannot hide in a median."""
    out: dict = {"runs": len(runs)}
    for key, stat, bound in LIMIT_TARGETS:
        values = [math.inf if r.get(key) is None else float(r[key]) for r in runs]
        value = (statistics.median if stat == "median" else max)(values) if values else math.inf
        out[f"{stat}_{key}"] = None if math.isinf(value) else round(value, 3)
        out[f"{stat}_{key}_met"] = value <= bound
    walls = [r["wall_s_per_min"] for r in runs if r.get("wall_s_per_min") is not None]
    out["median_wall_s_per_min"] = round(statistics.median(walls), 1) if walls else None
    return out


def limit_summary(runs: list[dict]) -> dict[str, dict]:
    """`limit_figures` per encoder, in order of first sight."""
    encoders = dict.fromkeys(encoder_name(r.get("encoder", "pretrained")) for r in runs)
    return {e: limit_figures([r for r in runs if encoder_name(r.get("encoder", "pretrained")) == e]) for e in encoders}


def limit_lines(summary: dict[str, dict]) -> list[str]:
    def show(fig: dict, stat: str, key: str, bound: float) -> str:
        value = fig[f"{stat}_{key}"]
        verdict = "met" if fig[f"{stat}_{key}_met"] else "NOT met"
        return f"{stat} {key} {'-' if value is None else value} (<= {bound}: {verdict})"

    return [
        f"{encoder} ({fig['runs']} runs): "
        + "; ".join(show(fig, stat, key, bound) for key, stat, bound in LIMIT_TARGETS)
        + f"; median wall per simulated minute {fig['median_wall_s_per_min']} s"
        for encoder, fig in summary.items()
    ]


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
    summary = limit_summary(runs)
    print("\n".join(limit_lines(summary)))
    if args.figure:
        figure(runs, Path(args.figure))
    print(json.dumps({"runs": len(runs), "targets_met": sum(targets_met(r) for r in runs), "limit": summary}))


if __name__ == "__main__":
    main()
