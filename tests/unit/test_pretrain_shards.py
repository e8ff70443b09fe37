"""Prior-data shards and manifest: round trip, stitching across shards, damage, crash safety."""

import json
import os

import numpy as np
import pytest

from fastrlap.pretrain import shards
from fastrlap.pretrain.shards import (
    PriorDataError,
    ShardWriter,
    iter_shards,
    iter_trajectories,
    read_manifest,
    sensor_noise,
)


def write(folder, lengths=(7, 5, 9), per_shard=6, envs=("campus", "trail")):
    """Episodes of the given lengths; returns the per-episode records written."""
    rng = np.random.default_rng(0)
    writer = ShardWriter(folder, list(envs), per_shard, meta={"source": "sim", "seed": 1})
    written = []
    for ep, n in enumerate(lengths):
        env = envs[ep % len(envs)]
        rec = {
            "frames": rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8),
            "pose": rng.normal(size=(n, 3)),
            "collision": rng.random(n) < 0.3,
            "action": rng.uniform(-1, 1, (n, 2)),
        }
        for k in range(n):
            writer.add(
                rec["frames"][k],
                t=0.1 * k,
                pose=rec["pose"][k],
                velocity=(1.0, 0.0),
                yaw_rate=0.1,
                accel=(0.0, 0.0, 9.81),
                command=(1.0, 0.1),
                action=rec["action"][k],
                collision=bool(rec["collision"][k]),
                episode=ep,
                episode_start=k == 0,
                env=env,
                camera=ep % 2,
            )
        written.append((env, rec))
    writer.close()
    return written


def test_round_trip_and_episodes_stitched_across_shards(tmp_path):
    written = write(tmp_path)
    manifest = read_manifest(tmp_path)
    assert [s["frames"] for s in manifest["shards"]] == [6, 6, 6, 3]
    assert manifest["total_frames"] == 21 and manifest["total_episodes"] == 3
    assert manifest["format_version"] == shards.FORMAT_VERSION and manifest["frame_shape"] == [8, 8, 3]
    trajs = list(iter_trajectories(tmp_path))
    assert [(t.env, t.episode, len(t)) for t in trajs] == [("campus", 0, 7), ("trail", 1, 5), ("campus", 2, 9)]
    for tr, (_env, rec) in zip(trajs, written):
        np.testing.assert_array_equal(tr.frames, rec["frames"])
        np.testing.assert_allclose(tr.pose, rec["pose"], rtol=1e-6)
        np.testing.assert_array_equal(tr.collision, rec["collision"])
        np.testing.assert_allclose(tr.action, rec["action"], rtol=1e-6)
        np.testing.assert_allclose(tr.t, 0.1 * np.arange(len(tr)), rtol=1e-6)
        assert tr.camera == tr.episode % 2


def test_writer_refuses_an_existing_dataset(tmp_path):
    write(tmp_path)
    with pytest.raises(PriorDataError, match="already exists"):
        ShardWriter(tmp_path, ["campus"], 10)


def one_line(excinfo, name):
    msg = str(excinfo.value)
    assert "\n" not in msg and name in msg
    return msg


def test_corrupt_or_missing_shard_is_one_line_naming_the_file(tmp_path):
    write(tmp_path)
    shard = tmp_path / "shard-00001.npz"
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2])
    with pytest.raises(PriorDataError) as e:
        list(iter_trajectories(tmp_path))
    assert "collect it again" in one_line(e, "shard-00001.npz")
    shard.unlink()
    with pytest.raises(PriorDataError) as e:
        list(iter_shards(tmp_path))
    assert "missing" in one_line(e, "shard-00001.npz")


def test_shard_with_inconsistent_arrays_is_refused(tmp_path):
    write(tmp_path)
    path = tmp_path / "shard-00000.npz"
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["pose"] = arrays["pose"][:-1]
    np.savez_compressed(path, **arrays)
    with pytest.raises(PriorDataError) as e:
        list(iter_shards(tmp_path))
    assert "pose" in one_line(e, "shard-00000.npz")


@pytest.mark.parametrize("text", ["{not json", '{"format_version": 99, "shards": []}', '{"format_version": 1}'])
def test_bad_manifest_is_one_line_naming_it(tmp_path, text):
    write(tmp_path)
    (tmp_path / "manifest.json").write_text(text)
    with pytest.raises(PriorDataError) as e:
        list(iter_trajectories(tmp_path))
    one_line(e, "manifest.json")
    with pytest.raises(PriorDataError) as e:
        read_manifest(tmp_path / "nothing-here")
    assert "pretrain collect" in one_line(e, "manifest.json")


def test_crash_while_writing_a_shard_or_the_manifest_keeps_the_previous_dataset(tmp_path, monkeypatch):
    writer = ShardWriter(tmp_path, ["campus"], 4)

    def tick(k):
        writer.add(
            np.full((4, 4, 3), k, np.uint8),
            t=0.1 * k,
            pose=(k, 0, 0),
            velocity=(0, 0),
            yaw_rate=0.0,
            accel=(0, 0, 9.81),
            command=(1.0, 0.0),
            action=(-0.6, 0.0),
            collision=False,
            episode=0,
            episode_start=k == 0,
            env="campus",
        )

    for k in range(8):
        tick(k)
    before = (tmp_path / "manifest.json").read_text()

    real_savez = np.savez_compressed

    def dies_half_way(f, **arrays):  # the process dies with half a shard in the temporary file
        real_savez(f, **arrays)
        f.truncate(f.tell() // 2)
        raise KeyboardInterrupt

    monkeypatch.setattr(shards.np, "savez_compressed", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        for k in range(8, 12):
            tick(k)
    monkeypatch.undo()
    assert (tmp_path / "manifest.json").read_text() == before
    assert not (tmp_path / "shard-00002.npz").exists()
    assert [len(t) for t in iter_trajectories(tmp_path)] == [8]

    # Now the shard lands but the manifest rename dies: the new shard is not listed, so not read.
    real_replace = os.replace

    def no_manifest(src, dst):
        if str(dst).endswith("manifest.json"):
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", no_manifest)
    with pytest.raises(KeyboardInterrupt):
        writer.flush()
    monkeypatch.undo()
    assert (tmp_path / "shard-00002.npz").exists()
    assert json.loads((tmp_path / "manifest.json").read_text())["total_frames"] == 8
    assert [len(t) for t in iter_trajectories(tmp_path)] == [8]


def test_sensor_noise_has_the_asked_std_and_stays_uint8():
    frames = np.full((4, 32, 32, 3), 128, np.uint8)
    noisy = sensor_noise(frames, 5.0, np.random.default_rng(0))
    assert noisy.dtype == np.uint8 and noisy.shape == frames.shape
    assert 4.5 < float(noisy.astype(float).std()) < 5.5
    assert sensor_noise(frames, 0.0, np.random.default_rng(0)) is frames
