"""scripts/results_table.py: the README's practice table and learning-curve figure."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "results_table.py"


def result(track, seed, best, t2f=1.0, demo=40.0, oracle=10.0, encoder="pretrained"):
    return {
        "track": track,
        "seed": seed,
        "encoder": encoder,
        "demo_lap_s": demo,
        "t2f_min": t2f,
        "best_lap_s": best,
        "oracle_lap_s": oracle,
        "best_over_oracle": None if best is None else best / oracle,
        "collisions_last5": 0,
        "laps": 3,
        "practice_min": 20.0,
        "wall_s": 100.0,
        "laps_list": [[60.0, 30.0], [80.0, 20.0], [95.0, 15.0]],
    }


def write_run(folder: Path, track="hairpin", seed=1) -> None:
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(
        json.dumps(
            {
                "demo_lap_s": 38.0,
                "first_lap_practice_min": 1.5,
                "best_lap_s": 12.0,
                "laps": 6,
                "practice_min": 10.0,
                "wall_s_this_session": 321.0,
                "oracle_lap_s": 10.79,
            }
        )
    )
    (folder / "config.yaml").write_text(f"track: {track}\nseed: {seed}\nagent:\n  encoder: random\n")
    rows = ["lap,practice_time_s,lap_time_s,collisions,recoveries,mean_speed_mps,max_speed_mps"]
    rows += [f"{k},{90 + 13 * k},{12.0 + k % 3},{k % 2},0,3.0,5.0" for k in range(1, 7)]
    (folder / "laps.csv").write_text("\n".join(rows) + "\n")


def run(*args):
    res = subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return res.stdout.splitlines()


def test_targets_are_checked_per_run_and_later_entries_win(tmp_path):
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text(
        "".join(
            json.dumps(r) + "\n"
            for r in [
                result("oval", 0, 12.0),
                result("oval", 1, 14.0),  # 1.4x the oracle: not met
                result("chicane", 0, 12.0, t2f=6.0),  # first lap too late
                result("figure", 0, 25.0, demo=40.0, oracle=20.0),
            ]
        )
    )  # only 37.5% faster than the demo
    second.write_text(json.dumps(result("oval", 1, 12.5)) + "\n")  # a rerun replaces seed 1
    lines = run(first, second, "--figure", tmp_path / "fig.png", "--save", tmp_path / "all.jsonl")
    rows = [ln for ln in lines if ln.startswith("| ") and not ln.startswith("| track")]
    verdict = {(r.split(" | ")[0][2:], r.split(" | ")[1]): r.rstrip(" |").rsplit("| ", 1)[1] for r in rows}
    assert verdict == {
        ("oval", "0"): "met",
        ("oval", "1"): "met",
        ("chicane", "0"): "NOT met",
        ("figure", "0"): "NOT met",
    }
    summary = json.loads(lines[-1])
    assert (summary["runs"], summary["targets_met"]) == (4, 2)
    assert summary["limit"]["pretrained"]["runs"] == 4
    assert (tmp_path / "fig.png").stat().st_size > 10_000
    assert len((tmp_path / "all.jsonl").read_text().splitlines()) == 4


def test_run_directories_give_the_same_figures_as_the_benchmark(tmp_path):
    write_run(tmp_path / "runs" / "x" / "20261126-hairpin-s1")
    lines = run(tmp_path / "runs", "--save", tmp_path / "r.jsonl")
    r = json.loads((tmp_path / "r.jsonl").read_text())
    assert (r["track"], r["seed"], r["encoder"], r["laps"]) == ("hairpin", 1, "random", 6)
    assert r["collisions_last5"] == 2 and r["best_over_oracle"] == round(12.0 / 10.79, 3) and r["t2f_min"] == 1.5
    assert r["laps_list"][0] == [103.0, 13.0] and r["wall_s"] == 321.0
    assert (
        "| hairpin | 1 | random | 38.00 s | 1.50 min | 12.00 s | 10.79 s | 1.112 | 6 in 10.0 min | 2 | 0 | 32 s | met |"
        in lines
    )


def test_near_the_limit_targets_take_medians_and_the_worst_run_per_encoder(tmp_path):
    runs = [result("oval", k, best, t2f=t2f) for k, (best, t2f) in enumerate([(10.2, 0.5), (10.4, 0.8), (10.5, 1.5)])]
    for r, cell in zip(runs, (3, 12, 21)):
        r["worst_cell_recoveries"] = cell
        r["wall_s_per_min"] = 50.0
    runs[1]["collisions_last5"] = 3
    lapless = result("oval", 3, None, t2f=None, encoder="random")  # no lap at all: infinitely slow
    (tmp_path / "r.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [*runs, lapless]))
    lines = run(tmp_path / "r.jsonl")
    limit = json.loads(lines[-1])["limit"]
    mine = limit["pretrained"]
    assert (mine["median_t2f_min"], mine["median_t2f_min_met"]) == (0.8, True)
    assert (mine["median_best_over_oracle"], mine["median_best_over_oracle_met"]) == (1.04, True)
    assert (mine["median_collisions_last5"], mine["median_collisions_last5_met"]) == (0.0, True)
    assert (mine["max_best_over_oracle"], mine["max_best_over_oracle_met"]) == (1.05, True)
    assert (mine["max_worst_cell_recoveries"], mine["max_worst_cell_recoveries_met"]) == (21, False)
    assert mine["median_wall_s_per_min"] == 50.0
    assert limit["random"]["median_t2f_min"] is None and not limit["random"]["median_t2f_min_met"]
    assert any(line.startswith("pretrained (3 runs): median t2f_min 0.8 (<= 1.0: met)") for line in lines)
