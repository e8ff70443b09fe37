"""Pretrained against random encoder, at equal practice time, from `bench_matrix.py` results.

    python scripts/compare_encoders.py runs/matrix [more folders or .jsonl files ...] [--minutes 6]

A folder's *.jsonl files are read: bench_matrix's results.jsonl, or the summary.jsonl of a
`fastrlap practice -m agent.encoder=pretrained,random ...` sweep folder (its lines carry the laps).

For every (track, seed) run with both encoders, takes the laps both runs had driven by the same
practice time (the shorter run's, or `--minutes`), and prints T2F (the first lap's practice time)
and the best lap within that time for each, with which encoder was better; then the seed means
per track and on which tracks the pretrained encoder is better on both figures (pretraining's
target: a majority of tracks), and the pairs each encoder won over all tracks with a two-sided
sign test (how likely so lopsided a count is if neither encoder were better). Any non-random
encoder (e.g. a weights path) counts as "pretrained"; pass only the files to compare. Final
output line: JSON with the per-pair figures, the pairs each encoder won on each figure with
their sign-test p-values, the per-track means and the tracks won.
"""

from __future__ import annotations

import argparse
import json
import statistics
from math import comb
from pathlib import Path


def side(encoder: str) -> str:
    """`random`, or `pretrained` for any other encoder (the shipped one or a weights path)."""
    return "random" if encoder == "random" else "pretrained"


def load(folders: list[str]) -> dict[tuple[str, int, str], dict]:
    runs = {}
    for folder in folders:
        path = Path(folder)
        files = [path] if path.is_file() else sorted(path.glob("*.jsonl"))  # later files win
        for line in (ln for f in files for ln in f.read_text().splitlines() if ln.strip()):
            r = json.loads(line)
            runs[(r["track"], int(r["seed"]), side(r["encoder"]))] = r
    return runs


def within(r: dict, minutes: float) -> tuple[float | None, float | None]:
    """(T2F in minutes, best lap in s) over the laps finished by `minutes` of practice."""
    laps = [(t, lap) for t, lap in r.get("laps_list", []) if t <= minutes * 60.0 + 1e-6]
    if not laps:
        return None, None
    return laps[0][0] / 60.0, min(lap for _, lap in laps)


def pair_up(runs: dict[tuple[str, int, str], dict], minutes: float = 0.0) -> list[dict]:
    """One entry per (track, seed) run with both encoders: T2F and best lap of each over the laps
    both had driven by the same practice time (the shorter run's, or `minutes` when less)."""
    pairs = []
    for (track, seed, enc), r in sorted(runs.items()):
        other = runs.get((track, seed, "random"))
        if enc != "pretrained" or other is None:
            continue
        m = min(r.get("practice_min") or 0.0, other.get("practice_min") or 0.0)
        if minutes:
            m = min(m, minutes)
        (tp, bp), (tr, br) = within(r, m), within(other, m)
        pairs.append(
            {
                "track": track,
                "seed": seed,
                "minutes": round(m, 2),
                "t2f_pretrained": tp,
                "t2f_random": tr,
                "best_pretrained": bp,
                "best_random": br,
                "oracle_lap_s": r.get("oracle_lap_s"),
            }
        )
    return pairs


def pairs_won(tracks: list[dict]) -> dict[str, dict[str, int]]:
    """{"t2f" | "best": {"pretrained": n, "random": n}}: the pairs each encoder won over all tracks."""
    return {
        k: {side: sum(t[f"{k}_wins"][side] for t in tracks) for side in ("pretrained", "random")}
        for k in ("t2f", "best")
    }


def cell(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", help="bench_matrix output folders (their *.jsonl) or results files")
    ap.add_argument("--minutes", type=float, default=0.0, help="compare at this practice time (0 = the pair's shorter)")
    args = ap.parse_args()
    pairs = pair_up(load(args.folders), args.minutes)
    print("| track | seed | minutes | T2F pretrained | T2F random | best pretrained | best random | oracle |")
    print("|---|---|---|---|---|---|---|---|")
    for p in pairs:
        print(
            f"| {p['track']} | {p['seed']} | {p['minutes']:.1f} | {cell(p['t2f_pretrained'], 2)} min | "
            f"{cell(p['t2f_random'], 2)} min | {cell(p['best_pretrained'], 2)} s | {cell(p['best_random'], 2)} s | "
            f"{p['oracle_lap_s']} s |"
        )
    tracks = per_track(pairs)
    wins = pairs_won(tracks)
    print(
        "\n| track | seeds | T2F pretrained | T2F random | best pretrained | best random | statistic | "
        "pairs won T2F / best (pretrained-random) | pretrained better on |\n|---|---|---|---|---|---|---|---|---|"
    )
    for t in tracks:
        p = "" if t["statistic"] == "mean" else "median_"
        print(
            f"| {t['track']} | {t['seeds']} | {summary_cell(t[p + 't2f_pretrained'], 'min')} | "
            f"{summary_cell(t[p + 't2f_random'], 'min')} | {summary_cell(t[p + 'best_pretrained'], 's')} | "
            f"{summary_cell(t[p + 'best_random'], 's')} | {t['statistic']} | "
            f"{t['t2f_wins']['pretrained']}-{t['t2f_wins']['random']} / {t['best_wins']['pretrained']}-"
            f"{t['best_wins']['random']} | {', '.join(t['pretrained_better']) or '-'} |"
        )
    both = sum(t["pretrained_better"] == ["T2F", "best lap"] for t in tracks)
    print(f"pretrained better on both figures on {both} of {len(tracks)} tracks (target: a majority)")
    p_values = {k: sign_test(w["pretrained"], w["random"]) for k, w in wins.items()}
    print(f"pairs won over all tracks (pretrained-random): {won_line(wins, p_values)}")
    print(
        json.dumps(
            {"pairs": pairs, "wins": wins, "sign_test_p": p_values, "tracks": tracks, "tracks_won_on_both": both}
        )
    )


def won_line(wins: dict[str, dict[str, int]], p_values: dict[str, float]) -> str:
    """`T2F 13-27 (sign test p = 0.038), best lap 19-21 (sign test p = 0.875)`."""
    return ", ".join(
        f"{name} {wins[k]['pretrained']}-{wins[k]['random']} (sign test p = {p_values[k]:.3f})"
        for name, k in (("T2F", "t2f"), ("best lap", "best"))
    )


def sign_test(wins_a: int, wins_b: int) -> float:
    """Two-sided exact sign test: P(a split at least this lopsided | each pair a fair coin); ties left out."""
    n, k = wins_a + wins_b, min(wins_a, wins_b)
    if n == 0:
        return 1.0
    return min(1.0, 2.0 * sum(comb(n, i) for i in range(k + 1)) / 2**n)


def summary_cell(value: float | None, unit: str) -> str:
    """A per-track figure for the summary table; None is a median that is a run without a lap."""
    return "no lap" if value is None else f"{value:.2f} {unit}"


def per_track(pairs: list[dict]) -> list[dict]:
    """Per track: seed means (only when every run drove a lap), medians and pairs won.

    A run with no lap in the compared time counts as infinitely slow in the medians and the pairs
    won (it is slower than any run that lapped), so a track with such a run still has a verdict;
    the verdict is on the means where they exist, else on the medians.
    """
    inf = float("inf")
    out = []
    for track in sorted({p["track"] for p in pairs}):
        ps = [p for p in pairs if p["track"] == track]
        values = {
            key: [inf if p[key] is None else p[key] for p in ps]
            for key in ("t2f_pretrained", "t2f_random", "best_pretrained", "best_random")
        }
        means = {key: sum(v) / len(v) for key, v in values.items()}
        medians = {key: statistics.median(v) for key, v in values.items()}
        stat = "mean" if all(m < inf for m in means.values()) else "median"
        verdict = means if stat == "mean" else medians
        t: dict = {"track": track, "seeds": len(ps), "statistic": stat}
        for key in values:  # None = not finite (a run without a lap): JSON has no infinity
            t[key] = means[key] if means[key] < inf else None
            t["median_" + key] = medians[key] if medians[key] < inf else None
        t["pretrained_better"] = [
            name
            for name, k in (("T2F", "t2f"), ("best lap", "best"))
            if verdict[f"{k}_pretrained"] < verdict[f"{k}_random"]
        ]
        for k in ("t2f", "best"):
            a, b = values[f"{k}_pretrained"], values[f"{k}_random"]
            t[f"{k}_wins"] = {
                "pretrained": sum(x < y for x, y in zip(a, b)),
                "random": sum(y < x for x, y in zip(a, b)),
            }
        out.append(t)
    return out


if __name__ == "__main__":
    main()
