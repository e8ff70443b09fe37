"""`fastrlap pretrain collect` end to end, as a user runs it (subprocess, tiny settings)."""
import subprocess
import sys

from fastrlap.cli import COMMANDS, compose
from fastrlap.pretrain.shards import iter_trajectories, read_manifest


def run(*args):
    return subprocess.run([sys.executable, "-m", "fastrlap.cli", "pretrain", "collect", *args],
                          capture_output=True, text=True, timeout=120)


def test_collect_writes_a_dataset_with_progress(tmp_path):
    out = tmp_path / "prior"
    res = run("envs=[trail]", "steps=120", f"out={out}", "seed=4", "pretrain.frames_per_shard=50",
              "pretrain.camera_variants=1", "pretrain.episode_seconds=5")
    assert res.returncode == 0, res.stderr
    assert "frames/s" in res.stdout and "ETA" in res.stdout and "wrote 120 frames" in res.stdout
    manifest = read_manifest(out)
    assert manifest["total_frames"] == 120 and manifest["seed"] == 4 and manifest["environments"] == ["trail"]
    assert [s["frames"] for s in manifest["shards"]] == [50, 50, 20]
    assert sum(len(t) for t in iter_trajectories(out)) == 120
    again = run("envs=[trail]", "steps=10", f"out={out}")
    assert again.returncode == 1 and "already exists" in again.stderr


def test_race_track_is_one_line_listing_the_prior_environments(tmp_path):
    res = run("envs=[oval]", "steps=10", f"out={tmp_path / 'x'}")
    err = res.stderr.strip().splitlines()
    assert res.returncode == 1 and len(err) == 1
    assert "oval" in err[0] and all(e in err[0] for e in ("campus", "trail", "warehouse"))
    assert not (tmp_path / "x").exists()


def test_bare_keys_reach_the_pretrain_section():
    assert "pretrain collect" in COMMANDS
    from fastrlap.cli import _scoped

    overrides = _scoped(COMMANDS["pretrain collect"], ["envs=[campus]", "steps=7", "out=d", "seed=2"])
    cfg = compose(overrides)
    assert cfg.pretrain.envs == ["campus"] and cfg.pretrain.steps == 7 and cfg.pretrain.out == "d"
    assert cfg.seed == 2
