"""The benchmark scripts launch a sweep (`fastrlap practice -m`) and read its folder; a track given
as a path is named by its file in their folders and results, never nesting folders."""

import json
import subprocess
import sys
from pathlib import Path

from fastrlap.sim.track import resolve_track_path

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
TINY = [
    "agent.encoder=random",
    "agent.hidden_dim=32",
    "agent.num_qs=2",
    "agent.batch_size=16",
    "agent.utd_ratio=2",
    "agent.replay_flush_every=20",
    "practice.start_training=20",
    "practice.checkpoint_every=20",
    "practice.summary_every=10",
    "course.demo_speed=3.0",
    "practice.max_ticks=20",
]


def own_track(folder: Path) -> Path:
    path = folder / "tracks" / "mine" / "my_track.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(resolve_track_path("technical").read_text().replace("name: technical", "name: twisty"))
    return path


def script(name: str, *args, cwd: Path) -> list[str]:
    out = subprocess.run(
        [sys.executable, str(SCRIPTS / name), *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return out.stdout.splitlines()


def test_bench_practice_runs_a_track_file_in_one_flat_folder(tmp_path):
    track, out = own_track(tmp_path), tmp_path / "bench"
    result = json.loads(
        script("bench_practice.py", "--track", track, "--minutes", 0.05, "--out", out, *TINY, cwd=tmp_path)[-1]
    )
    assert result["track"] == "twisty" and result["seed"] == 0 and result["oracle_lap_s"] > 0
    (sweep,) = out.iterdir()  # <date>-<time>-twisty-s0: the path's folders are not repeated here
    assert sweep.name.endswith("-twisty-s0") and Path(result["run_dir"]) == sweep / "0_twisty"
    assert (sweep / "summary.jsonl").is_file() and (sweep / "0_twisty" / "laps.csv").is_file()


def test_bench_matrix_sweeps_tracks_given_as_paths_and_writes_its_results(tmp_path):
    track, out = own_track(tmp_path), tmp_path / "matrix"
    lines = script(
        "bench_matrix.py",
        "--tracks",
        f"oval,{track}",
        "--seeds",
        0,
        "--encoders",
        "random",
        "--minutes",
        0.05,
        "--jobs",
        2,
        "--out",
        out,
        *TINY,
        cwd=tmp_path,
    )
    assert json.loads(lines[-1])["runs"] == 2
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [(r["track"], r["name"], r["status"]) for r in results] == [
        ("oval", "0_oval", "ok"),
        ("twisty", "1_twisty", "ok"),
    ]
    assert all(r["encoder"] == "random" and r["oracle_lap_s"] > 0 for r in results)
    assert any(line.startswith("| twisty | 0 | random |") for line in lines)  # results_table's row


def test_bench_encoders_practises_evaluates_under_two_lights_and_continues_where_it_stopped(tmp_path):
    out = tmp_path / "encbench"
    args = ["--tracks", "oval", "--seeds", 3, "--minutes", 0.03, "--jobs", 2, "--laps", 2, "--out", out]
    tiny = [o for o in TINY if not o.startswith("agent.encoder=")]  # the benchmark sweeps both encoders
    lines = script("bench_encoders.py", *args, *tiny, cwd=tmp_path)
    assert "practising 2 of 2 runs (0 finished before)" in lines
    report = json.loads(lines[-1])
    assert report["runs"]["finished"] == 2 and [(p["track"], p["seed"]) for p in report["pairs"]] == [("oval", 3)]
    assert set(report["light"]) == {"pretrained", "random"} and report["pass"]["all"] is False
    evaluations = [json.loads(line) for line in (out / "evaluations.jsonl").read_text().splitlines()]
    assert sorted((e["encoder"], e["light"]) for e in evaluations) == [
        ("pretrained", "own"),
        ("pretrained", "shifted"),
        ("random", "own"),
        ("random", "shifted"),
    ]
    for e in evaluations:
        light = (0.0, 1.0) if e["light"] == "own" else (120.0, 0.6)
        assert (e["light_shift_deg"], e["light_level"], e["seed"], e["laps_asked"]) == (*light, 3, 2)
        assert (Path(e["run_dir"]) / f"evaluation_{e['light']}.csv").is_file()
    again = script("bench_encoders.py", *args, *tiny, cwd=tmp_path)
    assert not any(line.startswith(("practising", "evaluating")) for line in again)
    assert json.loads(again[-1])["pairs"] == report["pairs"] and len(list(out.glob("practice-*"))) == 1
