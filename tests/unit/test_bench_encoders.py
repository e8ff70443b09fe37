"""scripts/bench_encoders.py's report on a finished benchmark folder (sign tests, the lighting
ratio, the verdict), and light_shift.py's evaluations: only the light differs from the run's own."""

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from fastrlap.cli import compose
from fastrlap.errors import ConfigError
from fastrlap.practice.run import open_run_dir, save_config

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
TRACKS = ("oval", "hairpin", "chicane")


def job(num, track, seed, encoder, laps, minutes=10.0, status="ok"):
    """A sweep job's job.json record; `laps` are (practice_time_s, lap_time_s) pairs."""
    return {
        "job": num,
        "run_dir": f"/runs/{track}-{seed}-{encoder}",
        "track": track,
        "seed": seed,
        "encoder": encoder,
        "status": status,
        "error": None,
        "practice_min": minutes,
        "oracle_lap_s": 10.0,
        "laps_list": [list(lap) for lap in laps],
    }


def evaluation(record, light, lap_times, shift=120.0, level=0.6, laps=5):
    return {
        "run_dir": record["run_dir"],
        "track": record["track"],
        "seed": record["seed"],
        "encoder": record["encoder"],
        "light": light,
        "light_shift_deg": 0.0 if light == "own" else shift,
        "light_level": 1.0 if light == "own" else level,
        "laps_asked": laps,
        "lap_times": list(lap_times),
        "collisions": 1,
        "recoveries": 0,
    }


def write_folder(out: Path, sweeps: list[list[dict]], evaluations: list[dict]) -> None:
    """practice-1, practice-2, ... with each job's job.json, and evaluations.jsonl."""
    for n, jobs in enumerate(sweeps, 1):
        for j in jobs:
            path = out / f"practice-{n}" / f"{j['job']}_{j['track']}_{j['encoder']}" / "job.json"
            path.parent.mkdir(parents=True)
            path.write_text(json.dumps(j))
    (out / "evaluations.jsonl").write_text("".join(json.dumps(e) + "\n" for e in evaluations))


def report(out: Path, *options) -> tuple[list[str], dict]:
    """The script's output on a folder where every run is practised and evaluated already (a
    deadline long past: should a run be missing, nothing is started)."""
    res = subprocess.run(
        [sys.executable, str(SCRIPTS / "bench_encoders.py"), "--tracks", ",".join(TRACKS), "--seeds", "0,1",
         "--minutes", "10", "--out", str(out), "--deadline-at", "1", *options],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    lines = res.stdout.splitlines()
    assert not any(line.startswith(("practising", "evaluating")) for line in lines)  # nothing left to run
    return lines, json.loads(lines[-1])


def benchmark(t2f_random_s, best_random_s, shifted_pretrained):
    """Six pairs: pretrained's first lap at 60 s, best 11 s, mean evaluation lap 11 s under its own light
    and `shifted_pretrained[i]` under the shifted one; random's as given, the same under both lights."""
    jobs, evals = [], []
    for i, (track, seed) in enumerate((t, s) for t in TRACKS for s in (0, 1)):
        p = job(2 * i, track, seed, "pretrained", [(60.0, 20.0), (300.0, 11.0)])
        r = job(2 * i + 1, track, seed, "random", [(t2f_random_s[i], 20.0), (400.0, best_random_s[i])])
        jobs += [p, r]
        evals += [evaluation(p, "own", [11.0] * 5), evaluation(p, "shifted", shifted_pretrained[i])]
        evals += [evaluation(r, "own", [12.0] * 5), evaluation(r, "shifted", [12.0] * 5)]
    return jobs, evals


def test_a_pretrained_encoder_that_wins_everywhere_and_keeps_its_pace_passes(tmp_path):
    jobs, evals = benchmark([90.0] * 6, [12.0, 12.0, 12.0, 12.0, 10.0, 10.0], [[11.22] * 5] * 3 + [[11.0] * 5] * 3)
    write_folder(tmp_path, [jobs], evals)
    lines, out = report(tmp_path)
    assert out["wins"] == {"t2f": {"pretrained": 6, "random": 0}, "best": {"pretrained": 4, "random": 2}}
    assert out["sign_test_p"]["t2f"] == pytest.approx(2 / 2**6) and out["sign_test_p"]["best"] == pytest.approx(
        2 * (1 + 6 + 15) / 2**6
    )
    light = out["light"]["pretrained"]
    assert light["ratio"] == pytest.approx((3 * 11.22 / 11 + 3) / 6) and light["runs_compared"] == 6
    assert out["light"]["random"]["ratio"] == pytest.approx(1.0)
    assert out["pass"] == {"t2f": True, "best": True, "light": True, "all": True}
    assert "PASS  the pretrained encoder passes" in lines
    (pair,) = [p for p in out["pairs"] if (p["track"], p["seed"]) == ("oval", 0)]
    assert pair["t2f_pretrained"] == 1.0 and pair["t2f_random"] == 1.5 and pair["own_light_lap_pretrained"] == 11.0
    assert "| oval | 0 | 10.0 | 1.00 min | 1.50 min | 11.00 s | 12.00 s | 11.00 / 11.22 s | 12.00 / 12.00 s |" in lines


def test_five_of_six_first_laps_are_not_significant_and_a_lost_lap_fails_the_light(tmp_path):
    jobs, evals = benchmark([90.0] * 5 + [30.0], [12.0] * 6, [[11.0] * 5] * 5 + [[]])
    write_folder(tmp_path, [jobs], evals)
    lines, out = report(tmp_path)
    assert out["wins"]["t2f"] == {"pretrained": 5, "random": 1}
    assert out["sign_test_p"]["t2f"] == pytest.approx(2 * (1 + 6) / 2**6)  # 0.22: not below 0.05
    light = out["light"]["pretrained"]
    assert light["ratio"] is None and light["runs_lapping_only_in_own_light"] == 1
    assert light["laps_not_completed"] == {"own": 0, "shifted": 5}
    assert out["pass"] == {"t2f": False, "best": True, "light": False, "all": False}
    assert any(line.startswith("FAIL  pretrained quicker first lap") for line in lines)


def test_a_shifted_light_slower_by_more_than_5_percent_fails(tmp_path):
    jobs, evals = benchmark([90.0] * 6, [12.0] * 6, [[11.0 * 1.06] * 5] * 6)
    write_folder(tmp_path, [jobs], evals)
    _, out = report(tmp_path)
    assert out["light"]["pretrained"]["ratio"] == pytest.approx(1.06)
    assert out["pass"] == {"t2f": True, "best": True, "light": False, "all": False}


def test_a_continued_folder_reports_the_latest_finished_runs_under_the_asked_light(tmp_path):
    jobs, evals = benchmark([90.0] * 6, [12.0] * 6, [[11.0] * 5] * 6)
    first = [j for j in jobs if j["encoder"] == "pretrained"] + [
        {**j, "practice_min": 4.0, "laps_list": [[30.0, 9.0]]} for j in jobs if j["encoder"] == "random"
    ]  # stopped by a deadline: random's runs did not finish, and their laps are not these
    second = [{**j, "status": "skipped", "practice_min": None} for j in jobs if j["encoder"] == "pretrained"]
    second += [j for j in jobs if j["encoder"] == "random"]
    other_light = [evaluation(j, "shifted", [30.0] * 5, level=0.3) for j in jobs]  # another --light-level
    write_folder(tmp_path, [first, second], evals + other_light)
    _, out = report(tmp_path)
    assert out["runs"] == {"wanted": 12, "finished": 12, "wall_s": out["runs"]["wall_s"]}
    assert out["wins"]["t2f"] == {"pretrained": 6, "random": 0}  # random's first laps at 90 s, not 30 s
    assert out["light"]["pretrained"]["ratio"] == pytest.approx(1.0)
    _, dim = report(tmp_path, "--light-level", "0.3")
    assert dim["light"]["pretrained"]["ratio"] == pytest.approx(30.0 / 11.0) and not dim["pass"]["light"]
    results = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert len(results) == 12 and {r["practice_min"] for r in results} == {10.0}


@pytest.fixture
def light_shift(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPTS))  # as when the script runs: its folder is on the path
    return importlib.import_module("light_shift")


@pytest.fixture
def realistic_run(tmp_path):
    run = open_run_dir(tmp_path / "run", create=True)
    save_config(run, compose(["track=hairpin", "seed=3", "vehicle.sim.camera.look=realistic"]))
    return run.path


def test_the_shifted_evaluation_changes_the_light_only(light_shift, realistic_run):
    shifted = light_shift.Light(120.0, 0.6)
    run = light_shift.run_light(realistic_run, shifted)
    assert (run.track, run.seed, run.light) == ("hairpin", 3, light_shift.Light(0.0, 1.0))
    for light, expected in ((None, run.light), (shifted, shifted)):
        args = light_shift.evaluate_args(realistic_run, 5, light)
        assert args[:3] == ["evaluate", f"run_dir={realistic_run}", "laps=5"]
        cfg = compose(args[1:])  # as `fastrlap evaluate` composes them on the run's own config
        cam = cfg.vehicle.sim.camera
        assert (cam.light_shift_deg, cam.light_level) == (expected.shift_deg, expected.level)
        assert cfg.seed == 3 and cfg.track == "hairpin" and cam.look == "realistic"


def test_a_run_without_a_light_to_shift_or_under_the_shifted_light_is_refused(light_shift, tmp_path):
    clean = open_run_dir(tmp_path / "clean", create=True)
    save_config(clean, compose(["track=oval", "vehicle.sim.camera.look=clean"]))
    with pytest.raises(ConfigError, match="look=realistic"):
        light_shift.run_light(clean.path, light_shift.Light(120.0, 0.6))
    lit = open_run_dir(tmp_path / "lit", create=True)
    save_config(lit, compose(["track=oval", "vehicle.sim.camera.look=realistic", "vehicle.sim.camera.light_level=0.6"]))
    with pytest.raises(ConfigError, match="another --light-shift-deg or --light-level"):
        light_shift.run_light(lit.path, light_shift.Light(0.0, 0.6))
