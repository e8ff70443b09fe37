"""`fastrlap pretrain collect` end to end, as a user runs it (subprocess, tiny settings)."""

import subprocess
import sys

from fastrlap.cli import COMMANDS, compose
from fastrlap.pretrain.shards import iter_trajectories, read_manifest


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "fastrlap.cli", "pretrain", "collect", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_collect_writes_a_dataset_with_progress(tmp_path):
    out = tmp_path / "prior"
    res = run(
        "envs=[trail]",
        "steps=120",
        f"out={out}",
        "seed=4",
        "pretrain.frames_per_shard=50",
        "pretrain.camera_variants=1",
        "pretrain.episode_seconds=5",
    )
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


def cli(*args):
    return subprocess.run([sys.executable, "-m", "fastrlap.cli", *args], capture_output=True, text=True, timeout=180)


def test_import_recon_then_train_then_practice_config_points_at_the_encoder(tmp_path):
    """RECON files -> prior dataset -> `pretrain train` -> an encoder that `agent.encoder=PATH` loads."""
    from fastrlap.agent.encoder import EncoderSpec, load_encoder, read_encoder_meta
    from tests.unit.test_pretrain_recon import write_recon

    src = tmp_path / "recon_release"
    src.mkdir()
    for k in range(2):
        write_recon(src / f"jackal_2019-08-02-16-23-30_0_r0{k}.hdf5")
    res = cli("pretrain", "import-recon", f"src={src}", f"out={tmp_path / 'prior'}", "agent.frame_size=32")
    assert res.returncode == 0, res.stderr
    assert "wrote 12 RECON frames" in res.stdout
    manifest = read_manifest(tmp_path / "prior")
    assert manifest["source"] == "recon" and manifest["total_frames"] == 12

    out = tmp_path / "enc"
    res = cli(
        "pretrain",
        "train",
        f"data={tmp_path / 'prior'}",
        f"out={out}",
        "steps=6",
        "batch_size=8",
        "log_every=3",
        "goal_min_ticks=1",
        "goal_max_ticks=3",
        "agent.frame_size=32",
        "device=cpu",
    )
    assert res.returncode == 0, res.stderr
    assert "ETA" in res.stdout and "6/6" in res.stdout and f"agent.encoder={out / 'encoder.pt'}" in res.stdout
    meta = read_encoder_meta(out / "encoder.pt")
    assert meta["training"]["steps"] == 6 and meta["training"]["frames"] == 12
    load_encoder(out / "encoder.pt", EncoderSpec(frame_size=32))

    res = cli(
        "pretrain",
        "recycle",
        f"src={out / 'encoder.pt'}",
        f"data={tmp_path / 'prior'}",
        f"out={tmp_path / 'rec'}",
        "agent.frame_size=32",
        "device=cpu",
    )
    assert res.returncode == 0, res.stderr
    assert "last-layer channels dormant on 12 frames" in res.stdout and "agent.encoder=" in res.stdout
    meta = read_encoder_meta(tmp_path / "rec" / "encoder.pt")
    assert meta["training"]["steps"] == 6 and meta["training"]["recycled"]["frames"] == 12
    res = cli(
        "pretrain",
        "recycle",
        f"src={tmp_path / 'missing.pt'}",
        f"data={tmp_path / 'prior'}",
        f"out={tmp_path / 'rec2'}",
        "agent.frame_size=32",
    )
    err = res.stderr.strip().splitlines()
    assert res.returncode == 1 and len(err) == 1 and "missing.pt not found" in err[0]


def test_train_and_import_errors_are_one_line(tmp_path):
    res = cli("pretrain", "train", f"data={tmp_path / 'none'}", f"out={tmp_path / 'o'}")
    err = res.stderr.strip().splitlines()
    assert res.returncode == 1 and len(err) == 1 and "pretrain collect" in err[0]
    res = cli("pretrain", "import-recon", f"out={tmp_path / 'o'}")
    assert res.returncode == 1 and "src=DIR" in res.stderr
    res = cli("pretrain", "import-recon", f"src={tmp_path}", f"out={tmp_path / 'o2'}")
    assert res.returncode == 1 and "no .hdf5 files" in res.stderr and "src=" in res.stderr
