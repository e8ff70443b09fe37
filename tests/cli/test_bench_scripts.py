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


SB3_TINY = ["--minutes", 0.05, "--learning-starts", 10, "--batch-size", 8, "course.demo_speed=3.0"]
BENCH_KEYS = {
    "track",
    "seed",
    "encoder",
    "demo_lap_s",
    "t2f_min",
    "best_lap_s",
    "oracle_lap_s",
    "best_over_oracle",
    "collisions_last5",
    "collisions",
    "stuck_first_min",
    "laps",
    "practice_min",
    "wall_s",
    "run_dir",
}


def test_bench_sb3_prints_the_practice_figures_and_results_table_shows_them_beside_fastrlaps(tmp_path):
    out = tmp_path / "sb3"
    lines = script("bench_sb3.py", "--track", "oval", "--seed", 0, "--out", out, *SB3_TINY, cwd=tmp_path)
    result = json.loads(lines[-1])
    assert BENCH_KEYS <= result.keys() and result["encoder"] == "sb3_sac_pixels"
    assert (result["track"], result["seed"], result["status"], result["laps_list"]) == ("oval", 0, "ok", [])
    assert 0.05 <= result["practice_min"] < 0.15 and 0 < result["env_steps"] <= 30 and result["oracle_lap_s"] > 0
    assert [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()] == [result]
    run = Path(result["run_dir"])  # practice's demo and checkpoints, and its logs
    assert {"demo.npz", "checkpoints.json", "laps.csv", "events.jsonl"} <= {p.name for p in run.iterdir()}
    ours = dict(result, encoder="pretrained", best_lap_s=12.0, t2f_min=1.0, laps_list=[[60.0, 12.0]])
    (tmp_path / "fastrlap.jsonl").write_text(json.dumps(ours) + "\n")
    rows = script("results_table.py", tmp_path / "fastrlap.jsonl", out / "results.jsonl", cwd=tmp_path)
    assert [r.split(" | ")[2] for r in rows if r.startswith("| oval | 0 |")] == ["pretrained", "sb3_sac_pixels"]


def test_bench_sb3_deadline_stops_a_run_and_still_records_how_far_it_got(tmp_path):
    """A deadline reached during training ends the run after its current env step, as finished."""
    code = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(SCRIPTS)!r})\n"
        "import bench_sb3 as b\n"
        f"sys.argv = ['bench_sb3.py', '--out', 'out', *{[str(a) for a in SB3_TINY]!r}]\n"
        "args = b.parse_args()\n"
        "(cfg,) = b.configs(args)\n"
        "run = b.record_run(cfg, b.Path(args.out))\n"
        "practice, model, stopped, rate = b.train(run, args, cfg.seed, deadline=0.0)\n"
        "print(json.dumps(b.figures(run, practice, model, stopped, rate, 1.0)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.splitlines()[-1])
    assert (result["status"], result["interrupted"], result["env_steps"]) == ("stopped", True, 1)
    assert result["practice_min"] < 0.05 and BENCH_KEYS <= result.keys()


def test_bench_sb3_names_a_bad_track_in_one_line_before_running(tmp_path):
    out = subprocess.run(
        [sys.executable, str(SCRIPTS / "bench_sb3.py"), "--tracks", "oval,nowhere", "--out", tmp_path / "o"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert out.returncode == 1 and out.stderr.startswith("bench_sb3: ") and "nowhere" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and not (tmp_path / "o").exists()
