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
