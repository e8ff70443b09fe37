"""The RECON reader on a small synthetic file with the RECON release's HDF5 schema."""

import cv2
import h5py
import numpy as np
import pytest

from fastrlap.config import VehicleConfig
from fastrlap.pretrain.recon import iter_recon, read_recon
from fastrlap.pretrain.shards import PriorDataError

T = 6


def jpeg(rgb: tuple[int, int, int], h=120, w=160) -> bytes:
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = rgb[::-1]  # OpenCV writes BGR
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return buf.tobytes()


def write_recon(path, drop=None, rows=T):
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]
    images = [jpeg(colours[i % 3]) for i in range(rows)]
    with h5py.File(path, "w") as f:
        # The release stores the JPEGs as fixed-length byte strings, one per tick.
        f.create_dataset("images/rgb_left", data=np.array(images, dtype=f"S{max(map(len, images))}"))
        f.create_dataset("images/rgb_right", data=np.array(images, dtype=f"S{max(map(len, images))}"))
        f.create_dataset("jackal/position", data=np.column_stack([np.arange(T) * 0.5, np.ones(T), np.zeros(T)]))
        f.create_dataset("jackal/yaw", data=np.linspace(0.0, 0.5, T))
        f.create_dataset("jackal/linear_velocity", data=np.full(T, 1.2))
        f.create_dataset("jackal/angular_velocity", data=np.full(T, 0.3))
        f.create_dataset("jackal/imu/linear_acceleration", data=np.tile([0.1, 0.0, 9.8], (T, 1)))
        f.create_dataset("commands/linear_velocity", data=np.array([1.5, 1.5, 0.0, 1.0, 1.0, 1.0]))
        f.create_dataset("commands/angular_velocity", data=np.array([0.0, 0.5, 0.5, -1.0, -20.0, 0.0]))
        f.create_dataset("collision/any", data=np.array([0, 0, 0, 1, 0, 0], bool))
        f.create_dataset("collision/close", data=np.zeros(T, bool))
        f.create_dataset("gps/latlong", data=np.tile([37.9, -122.3], (T, 1)))
        if drop:
            del f[drop]


def test_recon_file_maps_onto_a_trajectory(tmp_path):
    path = tmp_path / "jackal_2019-08-02-16-23-30_0_r00.hdf5"
    write_recon(path)
    v = VehicleConfig()
    tr = read_recon(path, episode=4, size=64, hz=3.0)
    assert tr.env == "recon" and tr.episode == 4 and len(tr) == T
    assert tr.frames.shape == (T, 64, 64, 3) and tr.frames.dtype == np.uint8
    red, green = tr.frames[0].reshape(-1, 3).mean(0), tr.frames[1].reshape(-1, 3).mean(0)
    assert red[0] > 150 > red[1] and green[1] > 150 > green[0]  # decoded as RGB, not BGR
    np.testing.assert_allclose(tr.pose[:, 0], np.arange(T) * 0.5)
    np.testing.assert_allclose(tr.pose[:, 2], np.linspace(0, 0.5, T), rtol=1e-6)
    np.testing.assert_allclose(tr.t, np.arange(T) / 3.0, rtol=1e-6)
    np.testing.assert_allclose(tr.velocity, np.tile([1.2, 0.0], (T, 1)), rtol=1e-6)
    np.testing.assert_allclose(tr.yaw_rate, 0.3, rtol=1e-6)
    np.testing.assert_allclose(tr.accel[:, 2], 9.8, rtol=1e-6)
    assert tr.collision.tolist() == [False, False, False, True, False, False]
    # Angular velocity -> the bicycle steering angle that turns at that rate.
    assert tr.command[0].tolist() == [1.5, 0.0]
    assert tr.command[1, 1] == pytest.approx(np.arctan(0.33 * 0.5 / 1.5), rel=1e-5)
    assert tr.command[2, 1] == pytest.approx(np.arctan(0.33 * 0.5 / 0.3), rel=1e-5)  # turning on the spot
    assert np.all(np.abs(tr.action) <= 1.0)
    cmd = v.to_command(tr.action[1])
    assert cmd.speed == pytest.approx(1.5, abs=1e-5) and cmd.steer == pytest.approx(tr.command[1, 1], abs=1e-5)
    assert tr.action[4, 1] == -1.0  # a spin faster than the car can steer saturates


def test_folder_of_recon_files(tmp_path):
    for i in range(2):
        write_recon(tmp_path / f"jackal_{i}.hdf5")
    trajs = list(iter_recon(tmp_path, size=32))
    assert [t.episode for t in trajs] == [0, 1] and all(len(t) == T for t in trajs)
    with pytest.raises(PriorDataError, match="no .hdf5"):
        list(iter_recon(tmp_path / "empty"))


def test_recon_without_imu_gets_zero_accel(tmp_path):
    write_recon(tmp_path / "a.hdf5", drop="jackal/imu/linear_acceleration")
    assert np.all(read_recon(tmp_path / "a.hdf5", size=16).accel == 0)


@pytest.mark.parametrize("drop", ["jackal/yaw", "collision/any", "images/rgb_left"])
def test_missing_field_is_one_line_naming_file_and_field(tmp_path, drop):
    path = tmp_path / "b.hdf5"
    write_recon(path, drop=drop)
    with pytest.raises(PriorDataError) as e:
        read_recon(path)
    msg = str(e.value)
    assert "\n" not in msg and "b.hdf5" in msg and drop in msg


def test_not_hdf5_or_damaged_image_is_one_line(tmp_path):
    bad = tmp_path / "bad.hdf5"
    bad.write_bytes(b"not an hdf5 file at all")
    with pytest.raises(PriorDataError, match="bad.hdf5: not an HDF5 file"):
        read_recon(bad)
    for payload in (b"garbage", b""):
        path = tmp_path / "c.hdf5"
        write_recon(path)
        with h5py.File(path, "a") as f:
            data = f["images/rgb_left"][()]
            data[2] = payload
            del f["images/rgb_left"]
            f.create_dataset("images/rgb_left", data=data)
        with pytest.raises(PriorDataError, match=r"c.hdf5: images/rgb_left\[2\] is not a decodable image"):
            read_recon(path)


def test_recon_trajectories_convert_into_the_shard_format(tmp_path):
    from fastrlap.pretrain.shards import iter_trajectories, read_manifest, write_trajectories

    (tmp_path / "recon").mkdir()
    for i in range(3):
        write_recon(tmp_path / "recon" / f"jackal_{i}.hdf5")
    source = list(iter_recon(tmp_path / "recon", size=32))
    n = write_trajectories(tmp_path / "shards", source, ["recon"], frames_per_shard=4, meta={"source": "recon"})
    assert n == 3 * T and read_manifest(tmp_path / "shards")["source"] == "recon"
    back = list(iter_trajectories(tmp_path / "shards"))
    assert [(t.env, t.episode, len(t)) for t in back] == [("recon", i, T) for i in range(3)]
    for a, b in zip(source, back):
        np.testing.assert_array_equal(a.frames, b.frames)
        np.testing.assert_array_equal(a.action, b.action)
        np.testing.assert_array_equal(a.collision, b.collision)
    with pytest.raises(PriorDataError, match="not one of"):
        write_trajectories(tmp_path / "other", source, ["campus"], frames_per_shard=4)
