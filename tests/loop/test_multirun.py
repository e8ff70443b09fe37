"""`fastrlap practice -m`: a sweep runs one practice per combination through Hydra's joblib
launcher, each in its own run directory named from the track's name, with a summary line per job;
a failing job leaves the others running."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fastrlap.cli import main
from fastrlap.sim.track import resolve_track_path

QUICK = ["course.demo_speed=3.0", "practice.minutes=0.05", "practice.max_ticks=20", "hydra.launcher.n_jobs=2"]
SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def own_track(folder: Path) -> Path:
    """A copy of the technical track, renamed, in nested folders: a name must come from the file."""
    path = folder / "tracks" / "mine" / "my_track.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(resolve_track_path("technical").read_text().replace("name: technical", "name: twisty"))
    return path


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, tiny_overrides):
    """2 tracks (a built-in and a path) x 2 seeds, two jobs at a time."""
    root = tmp_path_factory.mktemp("sweep")
    folder = root / "multirun"
    argv = [
        "practice",
        "-m",
        f"track=oval,{own_track(root)}",
        "seed=0,1",
        *tiny_overrides,
        *QUICK,
        f"hydra.sweep.dir={folder}",
    ]
    assert main(argv) == 0
    return folder


def test_two_tracks_by_two_seeds_make_four_runs_and_a_summary(sweep):
    dirs = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    assert dirs == ["0_oval_seed0", "1_oval_seed1", "2_twisty_seed0", "3_twisty_seed1"]
    for name in dirs:  # each a complete practice run of its own, with the job's output beside it
        for file in ("config.yaml", "demo.npz", "summary.json", "laps.csv", "practice.log", "job.json"):
            assert (sweep / name / file).is_file(), (name, file)
    jobs = [json.loads(line) for line in (sweep / "summary.jsonl").read_text().splitlines()]
    assert [j["job"] for j in jobs] == [0, 1, 2, 3]
    assert {j["status"] for j in jobs} == {"ok"} and {j["error"] for j in jobs} == {None}
    assert [(j["track"], j["seed"]) for j in jobs] == [("oval", 0), ("oval", 1), ("twisty", 0), ("twisty", 1)]
    for job in jobs:
        assert Path(job["run_dir"]).parent == sweep and "seed=" + str(job["seed"]) in job["overrides"]
        assert job["oracle_lap_s"] > 0 and "t2f_min" in job and "best_lap_s" in job and job["practice_min"] > 0


def test_the_results_table_reads_a_sweep_folder_and_names_tracks_given_as_paths(sweep):
    out = subprocess.run(
        [sys.executable, str(SCRIPTS / "results_table.py"), str(sweep)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    rows = [line.split(" | ")[:2] for line in out.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows[1:] == [["| oval", "0"], ["| oval", "1"], ["| twisty", "0"], ["| twisty", "1"]]
    assert json.loads(out.stdout.splitlines()[-1])["runs"] == 4


def test_a_failing_job_records_its_error_and_the_others_finish(tmp_path, tiny_overrides, capsys, monkeypatch):
    # Relative paths are the user's, from where the command runs, even for a launcher's worker
    # that an earlier sweep started elsewhere.
    monkeypatch.chdir(tmp_path)
    argv = ["practice", "-m", "track=no/such_track.yaml,oval", *tiny_overrides, *QUICK, "hydra.sweep.dir=multirun"]
    assert main(argv) == 1
    folder = tmp_path / "multirun"
    jobs = [json.loads(line) for line in (folder / "summary.jsonl").read_text().splitlines()]
    assert [(j["job"], j["status"]) for j in jobs] == [(0, "failed"), (1, "ok")]
    assert "track file not found" in jobs[0]["error"] and "\n" not in jobs[0]["error"]
    assert jobs[0]["run_dir"] == str(folder / "0_such_track") and jobs[1]["run_dir"] == str(folder / "1_oval")
    assert (folder / "1_oval" / "laps.csv").is_file()
    out = capsys.readouterr().out
    assert "#0 0_such_track: failed: no/such_track.yaml: track file not found" in out and "#1 1_oval: ok" in out
