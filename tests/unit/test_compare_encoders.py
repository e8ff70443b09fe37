"""scripts/compare_encoders.py: pretrained vs random at equal practice time, per track."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "compare_encoders.py"


def result(track, seed, encoder, laps, minutes=3.0):
    """A bench_matrix result line; `laps` are (practice_time_s, lap_time_s) pairs."""
    return {
        "track": track,
        "seed": seed,
        "encoder": encoder,
        "practice_min": minutes,
        "oracle_lap_s": 10.0,
        "laps_list": [list(lap) for lap in laps],
    }


def run_script(tmp_path, rows) -> str:
    """The script's standard output for these result lines."""
    path = tmp_path / "results.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = subprocess.run([sys.executable, str(SCRIPT), path], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return res.stdout


def compare(tmp_path, rows, **json_options):
    """The script's final JSON line for these result lines."""
    return json.loads(run_script(tmp_path, rows).splitlines()[-1], **json_options)


def test_means_decide_when_every_run_lapped(tmp_path):
    out = compare(
        tmp_path,
        [
            result("oval", 0, "pretrained", [(60, 20.0), (80, 12.0)]),
            result("oval", 0, "random", [(50, 25.0), (120, 13.0)]),
            result("oval", 1, "pretrained", [(100, 20.0), (130, 11.0)]),
            result("oval", 1, "random", [(70, 25.0), (95, 14.0)]),
        ],
    )
    (oval,) = out["tracks"]
    assert oval["statistic"] == "mean"
    assert oval["t2f_pretrained"] == pytest.approx((60 + 100) / 2 / 60)
    assert oval["t2f_random"] == pytest.approx((50 + 70) / 2 / 60)
    assert oval["pretrained_better"] == ["best lap"]
    assert oval["t2f_wins"] == {"pretrained": 0, "random": 2} and oval["best_wins"] == {"pretrained": 2, "random": 0}
    assert out["tracks_won_on_both"] == 0


def test_a_run_without_a_lap_counts_as_slowest_in_medians_and_wins(tmp_path):
    out = compare(
        tmp_path,
        [
            result("hairpin", 0, "pretrained", []),
            result("hairpin", 0, "random", [(70, 20.0)]),
            result("hairpin", 1, "pretrained", [(60, 15.0)]),
            result("hairpin", 1, "random", [(80, 16.0)]),
            result("hairpin", 2, "pretrained", [(66, 14.0)]),
            result("hairpin", 2, "random", [(90, 19.0)]),
        ],
    )
    (hairpin,) = out["tracks"]  # kept, although one run drove no lap
    assert hairpin["statistic"] == "median" and hairpin["t2f_pretrained"] is None
    assert hairpin["median_t2f_pretrained"] == pytest.approx(66 / 60)
    assert hairpin["median_t2f_random"] == pytest.approx(80 / 60)
    assert hairpin["median_best_pretrained"] == 15.0 and hairpin["median_best_random"] == 19.0
    assert hairpin["t2f_wins"] == {"pretrained": 2, "random": 1}
    assert hairpin["pretrained_better"] == ["T2F", "best lap"] and out["tracks_won_on_both"] == 1


def test_a_track_without_any_pretrained_lap_prints_no_lap_and_valid_json(tmp_path):
    rows = [result("oval", 0, "pretrained", []), result("oval", 0, "random", [(70, 20.0)])]
    assert "| oval | 1 | no lap | 1.17 min | no lap | 20.00 s | median | 0-1 / 0-1 | - |" in run_script(tmp_path, rows)

    def no_infinity(name):
        raise AssertionError(f"{name} in the JSON line")

    out = compare(tmp_path, rows, parse_constant=no_infinity)
    (oval,) = out["tracks"]
    assert oval["median_t2f_pretrained"] is None and oval["pretrained_better"] == []


def test_sign_test_over_all_tracks(tmp_path):
    rows = []
    for seed in range(12):  # random quicker to the first lap in 11 of 12 pairs, pretrained best lap in all
        rows += [
            result("hairpin", seed, "pretrained", [(90 if seed else 50, 12.0)]),
            result("hairpin", seed, "random", [(60, 13.0)]),
        ]
    out = compare(tmp_path, rows)
    assert out["wins"]["t2f"] == {"pretrained": 1, "random": 11}
    assert out["sign_test_p"]["t2f"] == pytest.approx(2 * (1 + 12) / 2**12)
    assert out["sign_test_p"]["best"] == pytest.approx(2 / 2**12)


def test_sign_test_is_one_without_decided_pairs(tmp_path):
    out = compare(tmp_path, [result("oval", 0, "pretrained", [(60, 12.0)]), result("oval", 0, "random", [(60, 12.0)])])
    assert out["wins"]["t2f"] == {"pretrained": 0, "random": 0} and out["sign_test_p"]["t2f"] == 1.0
