"""Reader for the public RECON dataset's HDF5 trajectories, as prior-data `Trajectory` records.

RECON (Shah et al., "Rapid Exploration for Open-World Navigation with Latent Goal Models",
arXiv 2104.05859; release at https://sites.google.com/view/recon-robot) is what the FastRLAP
paper pretrained its encoder on: a Clearpath Jackal exploring outdoors toward random goals.
The release is one `jackal_<date>_<session>_r<NN>.hdf5` file per trajectory, T ticks each.

Where the schema comes from (no official schema document ships with the release; these sources
agree on it):
* the Jackal recording code the dataset came from, gkahn13/badgr (`badgr/jackal/...`:
  `JackalEnvSpec.observation_names` and the ROS subscriber's topic list): `images/rgb_left`,
  `jackal/position`, `jackal/yaw`, `jackal/linear_velocity`, `jackal/angular_velocity`,
  `jackal/imu/linear_acceleration`, `commands/linear_velocity`, `commands/angular_velocity`,
  `collision/any` (also `/close`, `/physical`, `/stuck`, `/flipped`), `gps/latlong`, ...;
* robodhruv/visualnav-transformer `train/process_recon.py` (GNM/ViNT's RECON converter):
  position = `jackal/position[:, :2]`, yaw = `jackal/yaw`, frames = JPEG bytes in
  `images/rgb_left[i]`.

Fields used (T rows each) and how they map onto a prior-data `Trajectory`:

    images/rgb_left                  (T,) JPEG bytes    -> frames: decoded, centre-cropped square,
                                                           resized to `size` x `size` RGB uint8
    jackal/position                  (T, 3) m, odometry -> pose[:, :2]
    jackal/yaw                       (T,) rad           -> pose[:, 2]
    jackal/linear_velocity           (T,) m/s           -> velocity[:, 0] (a Jackal does not slide: vy = 0)
    jackal/angular_velocity          (T,) rad/s         -> yaw_rate
    jackal/imu/linear_acceleration   (T, 3) m/s²        -> accel (zeros where the file lacks it)
    commands/linear_velocity         (T,) m/s           -> command[:, 0]
    commands/angular_velocity        (T,) rad/s         -> command[:, 1] as the bicycle steering
                                                           angle that turns at that rate:
                                                           atan(wheelbase·ω / max(|v|, 0.3 m/s))
    collision/any                    (T,) bool          -> collision

`gps/latlong` is not used: the odometry pose is smooth within a trajectory, which is what
hindsight goals need. RECON stores no per-tick time stamps; `t` is the tick index / `hz`
(the Open X-Embodiment catalogue lists berkeley_gnm_recon at 3 Hz, hence the default).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from fastrlap.actions import ActionUnits, to_action
from fastrlap.config import VehicleConfig
from fastrlap.pretrain.shards import PriorDataError, Trajectory

FIELDS = {  # RECON dataset path -> required (optional fields get a neutral default)
    "images/rgb_left": True,
    "jackal/position": True,
    "jackal/yaw": True,
    "jackal/linear_velocity": True,
    "jackal/angular_velocity": True,
    "jackal/imu/linear_acceleration": False,
    "commands/linear_velocity": True,
    "commands/angular_velocity": True,
    "collision/any": True,
}
MIN_TURN_SPEED = 0.3  # m/s: below this the steering equivalent of a yaw rate is taken at this speed


def _decode(jpeg: bytes, size: int, source: str, i: int) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR) if jpeg else None
    if img is None:
        raise PriorDataError(
            f"{source}: images/rgb_left[{i}] is not a decodable image; the file is damaged, "
            f"download it again or leave it out"
        )
    h, w = img.shape[:2]
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2
    img = cv2.resize(img[y0 : y0 + side, x0 : x0 + side], (size, size), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_recon(
    path: str | Path,
    episode: int = 0,
    size: int = 128,
    hz: float = 3.0,
    wheelbase: float = 0.33,
    units: ActionUnits | None = None,
) -> Trajectory:
    """One RECON HDF5 file as a `Trajectory` (env "recon"); actions use the car's action mapping
    (`units`, the simulator's `VehicleConfig` when not given)."""
    import h5py

    path = Path(path)
    src = str(path)
    try:
        f = h5py.File(path, "r")
    except FileNotFoundError:
        raise PriorDataError(f"{src}: not found; give the path of a RECON .hdf5 file or folder") from None
    except OSError as e:
        raise PriorDataError(f"{src}: not an HDF5 file ({str(e).splitlines()[0]}); download it again") from None
    with f:
        missing = [k for k, required in FIELDS.items() if required and k not in f]
        if missing:
            raise PriorDataError(
                f"{src}: missing RECON field(s) {', '.join(missing)}; is this a RECON (recon_release) trajectory?"
            )
        jpegs = f["images/rgb_left"]
        n = len(jpegs)
        arrays = {k: np.asarray(f[k][()]) for k in FIELDS if k != "images/rgb_left" and k in f}
        for k, a in arrays.items():
            if len(a) != n:
                raise PriorDataError(
                    f"{src}: {k} has {len(a)} rows but images/rgb_left has {n}; the file is damaged, download it again"
                )
        frames = (
            np.stack([_decode(bytes(jpegs[i]), size, src, i) for i in range(n)])
            if n
            else np.zeros((0, size, size, 3), np.uint8)
        )
    pos = arrays["jackal/position"].reshape(n, -1)
    v_cmd = arrays["commands/linear_velocity"].reshape(n).astype(np.float64)
    w_cmd = arrays["commands/angular_velocity"].reshape(n).astype(np.float64)
    steer = np.arctan(wheelbase * w_cmd / np.maximum(np.abs(v_cmd), MIN_TURN_SPEED))
    accel = arrays.get("jackal/imu/linear_acceleration")
    accel = np.zeros((n, 3), np.float32) if accel is None else accel.reshape(n, 3).astype(np.float32)
    velocity = np.zeros((n, 2), np.float32)
    velocity[:, 0] = arrays["jackal/linear_velocity"].reshape(n)
    return Trajectory(
        env="recon",
        episode=episode,
        frames=frames,
        t=(np.arange(n) / hz).astype(np.float32),
        pose=np.column_stack([pos[:, 0], pos[:, 1], arrays["jackal/yaw"].reshape(n)]).astype(np.float32),
        velocity=velocity,
        yaw_rate=arrays["jackal/angular_velocity"].reshape(n).astype(np.float32),
        accel=accel,
        command=np.column_stack([v_cmd, steer]).astype(np.float32),
        action=to_action(v_cmd, steer, units or VehicleConfig()).astype(np.float32),
        collision=arrays["collision/any"].reshape(n).astype(bool),
    )


def iter_recon(folder: str | Path, **kwargs) -> Iterator[Trajectory]:
    """Every `*.hdf5` under `folder` (sorted; a single file also works), one trajectory each."""
    folder = Path(folder)
    files = [folder] if folder.is_file() else sorted(folder.rglob("*.hdf5"))
    if not files:
        raise PriorDataError(f"{folder}: no .hdf5 files; point src= at the recon_release folder")
    for i, path in enumerate(files):
        yield read_recon(path, episode=i, **kwargs)
