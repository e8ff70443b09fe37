"""The prior dataset on disk: shards of per-tick records plus a manifest, so a crash loses one shard at most.

Layout of a dataset folder::

    manifest.json        written last, atomically; lists the shards a reader may trust
    shard-00000.npz      np.savez_compressed, N rows per array (N = frames_per_shard, the last
    shard-00001.npz      shard may be shorter); written to a temporary name, fsync'd, renamed
    ...

Arrays in a shard (row i is one control tick; the frame is what the camera saw *before* the
action of that row was applied, so (frames[i], action[i]) -> frames[i + 1] within an episode):

    format_version  ()            int, FORMAT_VERSION
    frames          (N, H, W, 3)  uint8 RGB (128x128 by default), lossless
    t               (N,)          float32, s since the start of the episode
    pose            (N, 3)        float32, x, y (m, world) and yaw (rad) of the car
    velocity        (N, 2)        float32, body-frame vx, vy (m/s)
    yaw_rate        (N,)          float32, rad/s
    accel           (N, 3)        float32, IMU acceleration in the body frame incl. gravity (m/s²)
    command         (N, 2)        float32, commanded wheel speed (m/s, negative = reverse) and
                                  steering angle (rad)
    action          (N, 2)        float32, the command as a policy action in [-1, 1]²
                                  (`fastrlap.actions.to_action`, clipped: reversing
                                  is outside the policy's range and reads as a0 = -1)
    collision       (N,)          bool, a contact happened during the tick
    episode         (N,)          int64, episode id, unique within the dataset
    episode_start   (N,)          bool, first tick of its episode
    env             (N,)          uint8, index into `env_names`
    camera          (N,)          uint8, index into the manifest's `cameras` (the episode's mount)
    env_names       (E,)          str, the environment names (same list as the manifest's)

Frames are stored without sensor noise (noise makes them ~5x larger compressed: ~25 kB instead
of ~4.6 kB a frame); each camera mount's `noise_std` is in the manifest, and the loader adds
fresh Gaussian noise with `sensor_noise` (a new draw every epoch is also the better augmentation).

An episode may continue in the next shard; `iter_trajectories` stitches it back together.

`manifest.json`: `format_version`, `fastrlap_version`, `created`, `seed`, `environments`,
`frames_per_shard`, `frame_shape`, `control_hz`, `cameras` (`[{mount_height, pitch_deg, noise_std}]`), `vehicle` (speed_bias, speed_scale, max_steer:
the action mapping), `total_frames`, `total_episodes`, `source` ("sim" or "recon"), for simulated
data `look` (the camera look, "realistic" or "clean"), `episode_notes` (`[{episode, ...}]`, what
the collector recorded about each episode: its light's mean `level`, and in the realistic look its
`azimuth_deg` and `elevation_deg`) and `shards`: `[{file, frames, episodes}]` in order. A shard that is not listed (a crash while writing it) is
ignored, so a kill -9 loses at most the shard being written.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from fastrlap import __version__
from fastrlap.errors import FastrlapError
from fastrlap.storage import atomic_write

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PER_TICK = {  # name -> (dtype, trailing shape); frames are checked separately
    "t": (np.float32, ()),
    "pose": (np.float32, (3,)),
    "velocity": (np.float32, (2,)),
    "yaw_rate": (np.float32, ()),
    "accel": (np.float32, (3,)),
    "command": (np.float32, (2,)),
    "action": (np.float32, (2,)),
    "collision": (np.bool_, ()),
    "episode": (np.int64, ()),
    "episode_start": (np.bool_, ()),
    "env": (np.uint8, ()),
    "camera": (np.uint8, ()),
}


class PriorDataError(FastrlapError, ValueError):
    """A dataset folder, shard or manifest that cannot be read; the message names the file."""


@dataclass
class Trajectory:
    """One episode: consecutive ticks of one car in one environment (shapes as in a shard)."""

    env: str
    episode: int
    frames: np.ndarray  # (T, H, W, 3) uint8
    t: np.ndarray  # (T,) s
    pose: np.ndarray  # (T, 3) x, y m, yaw rad
    velocity: np.ndarray  # (T, 2) m/s, body frame
    yaw_rate: np.ndarray  # (T,) rad/s
    accel: np.ndarray  # (T, 3) m/s²
    command: np.ndarray  # (T, 2) m/s, rad
    action: np.ndarray  # (T, 2) in [-1, 1]
    collision: np.ndarray  # (T,) bool
    camera: int = 0  # index into the manifest's cameras (the mount this episode was seen through)

    def __len__(self) -> int:
        return len(self.t)


def sensor_noise(frames: np.ndarray, std: float, rng: np.random.Generator) -> np.ndarray:
    """Frames (uint8, any shape) plus Gaussian pixel noise of `std` (0-255 units), clipped."""
    if std <= 0:
        return frames
    noisy = frames.astype(np.float32) + rng.normal(0.0, std, frames.shape).astype(np.float32)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


@dataclass
class ShardWriter:
    """Buffers ticks and writes full shards, then the manifest that lists them.

    `add` takes one tick; `close` writes the last partial shard. The manifest is rewritten after
    every shard, so the folder is always a readable dataset of the shards written so far.
    """

    out: Path
    environments: list[str]
    frames_per_shard: int
    meta: dict = field(default_factory=dict)  # seed, control_hz, vehicle, source, ... (JSON)

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        if (self.out / MANIFEST).exists():
            raise PriorDataError(f"{self.out / MANIFEST} already exists: choose a new out= folder or delete this one")
        if self.frames_per_shard < 1:
            raise PriorDataError(f"frames_per_shard={self.frames_per_shard}: must be at least 1")
        self.out.mkdir(parents=True, exist_ok=True)
        self.shards: list[dict] = []
        self.episode_notes: list[dict] = []
        self.total_frames = 0
        self._episodes: set[int] = set()
        self._rows: dict[str, list] = {k: [] for k in ("frames", *PER_TICK)}

    def add(
        self,
        frame: np.ndarray,
        *,
        t: float,
        pose,
        velocity,
        yaw_rate: float,
        accel,
        command,
        action,
        collision: bool,
        episode: int,
        episode_start: bool,
        env: str,
        camera: int = 0,
    ) -> None:
        rows = self._rows
        rows["frames"].append(frame)
        for name, value in (
            ("t", t),
            ("pose", pose),
            ("velocity", velocity),
            ("yaw_rate", yaw_rate),
            ("accel", accel),
            ("command", command),
            ("action", action),
            ("collision", collision),
            ("episode", episode),
            ("episode_start", episode_start),
            ("env", self.environments.index(env)),
            ("camera", camera),
        ):
            rows[name].append(value)
        if len(rows["frames"]) >= self.frames_per_shard:
            self.flush()

    def note_episode(self, note: dict) -> None:
        """Record facts about an episode (JSON values, with its `episode` id) for the manifest."""
        self.episode_notes.append(note)

    def flush(self) -> None:
        """Write the buffered ticks as the next shard (nothing if empty), then the manifest."""
        rows = self._rows
        n = len(rows["frames"])
        if n == 0:
            return
        arrays = {
            "format_version": np.int64(FORMAT_VERSION),
            "frames": np.stack(rows["frames"]).astype(np.uint8),
            "env_names": np.array(self.environments, dtype=str),
        }
        for name, (dtype, _) in PER_TICK.items():
            arrays[name] = np.asarray(rows[name], dtype=dtype)
        name = f"shard-{len(self.shards):05d}.npz"
        atomic_write(self.out / name, lambda f: np.savez_compressed(f, **arrays))
        episodes = np.unique(arrays["episode"])
        self._episodes.update(int(e) for e in episodes)
        self.shards.append({"file": name, "frames": n, "episodes": int(len(episodes))})
        self.total_frames += n
        self._rows = {k: [] for k in rows}
        self.write_manifest(frame_shape=list(arrays["frames"].shape[1:]))

    def write_manifest(self, frame_shape: list[int]) -> None:
        manifest = {
            "format_version": FORMAT_VERSION,
            "fastrlap_version": __version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "environments": list(self.environments),
            "frames_per_shard": self.frames_per_shard,
            "frame_shape": frame_shape,
            "total_frames": self.total_frames,
            "total_episodes": len(self._episodes),
            **self.meta,
            "episode_notes": self.episode_notes,
            "shards": self.shards,
        }
        text = json.dumps(manifest, indent=2).encode()
        atomic_write(self.out / MANIFEST, lambda f: f.write(text))

    def close(self) -> None:
        self.flush()


def write_trajectories(
    out: str | Path, trajectories, environments: list[str], frames_per_shard: int, meta: dict | None = None
) -> int:
    """Write `Trajectory` records (e.g. from `recon.iter_recon`) as a dataset; returns the frame count.

    Episode ids are renumbered 0, 1, ... in the order given, so ids from different sources cannot clash.
    """
    writer = ShardWriter(Path(out), list(environments), frames_per_shard, meta=dict(meta or {}))
    for episode, tr in enumerate(trajectories):
        if tr.env not in writer.environments:
            raise PriorDataError(
                f"trajectory {tr.episode} is from {tr.env!r}, not one of {writer.environments}; list it in environments"
            )
        for k in range(len(tr)):
            writer.add(
                tr.frames[k],
                t=tr.t[k],
                pose=tr.pose[k],
                velocity=tr.velocity[k],
                yaw_rate=tr.yaw_rate[k],
                accel=tr.accel[k],
                command=tr.command[k],
                action=tr.action[k],
                collision=tr.collision[k],
                episode=episode,
                episode_start=k == 0,
                env=tr.env,
                camera=tr.camera,
            )
    writer.close()
    return writer.total_frames


# ---------------------------------------------------------------------- reading
def read_manifest(folder: str | Path) -> dict:
    """The manifest of a dataset folder, validated; any problem is one `PriorDataError` line."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise PriorDataError(
            f"{path} not found: {folder} is not a prior dataset; run `fastrlap pretrain collect out={folder}` first"
        )
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PriorDataError(
            f"{path}: not valid JSON ({str(e).splitlines()[0]}); the dataset is damaged, collect it again"
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        version = manifest.get("format_version") if isinstance(manifest, dict) else None
        raise PriorDataError(
            f"{path}: format_version {version!r}, this fastrlap reads {FORMAT_VERSION}; collect the "
            f"dataset again with this version"
        )
    shards = manifest.get("shards")
    envs = manifest.get("environments")
    if (
        not isinstance(shards, list)
        or not isinstance(envs, list)
        or not all(
            isinstance(s, dict) and isinstance(s.get("file"), str) and isinstance(s.get("frames"), int) for s in shards
        )
    ):
        raise PriorDataError(
            f"{path}: missing or malformed 'shards'/'environments'; the dataset is damaged, collect it again"
        )
    return manifest


def load_shard(path: str | Path, frames_expected: int | None = None) -> dict[str, np.ndarray]:
    """All arrays of one shard, checked for version, dtypes and consistent lengths."""
    path = Path(path)
    fix = "delete the dataset folder and collect it again"
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise PriorDataError(f"{path}: listed in the manifest but missing; {fix}") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise PriorDataError(
            f"{path}: unreadable shard ({str(e).splitlines()[0] if str(e) else type(e).__name__}); {fix}"
        ) from None
    if "format_version" not in data or int(data["format_version"]) != FORMAT_VERSION:
        raise PriorDataError(f"{path}: not a format-{FORMAT_VERSION} shard; {fix}")
    missing = [k for k in ("frames", "env_names", *PER_TICK) if k not in data]
    if missing:
        raise PriorDataError(f"{path}: missing array(s) {missing}; {fix}")
    frames = data["frames"]
    n = len(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise PriorDataError(f"{path}: frames must be (N, H, W, 3) uint8, got {frames.shape} {frames.dtype}; {fix}")
    for name, (dtype, shape) in PER_TICK.items():
        a = data[name]
        if a.shape != (n, *shape) or a.dtype != dtype:
            raise PriorDataError(
                f"{path}: {name} is {a.shape} {a.dtype}, expected {(n, *shape)} {np.dtype(dtype)}; {fix}"
            )
    if frames_expected is not None and n != frames_expected:
        raise PriorDataError(f"{path}: {n} frames but the manifest says {frames_expected}; {fix}")
    if len(data["env_names"]) and int(data["env"].max(initial=0)) >= len(data["env_names"]):
        raise PriorDataError(f"{path}: env index beyond env_names; {fix}")
    return data


def iter_shards(folder: str | Path) -> Iterator[dict[str, np.ndarray]]:
    """The shards the manifest lists, in order (files it does not list are ignored)."""
    folder = Path(folder)
    for entry in read_manifest(folder)["shards"]:
        yield load_shard(folder / entry["file"], entry["frames"])


def _trajectory(env: str, episode: int, parts: list[dict[str, np.ndarray]]) -> Trajectory:
    cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return Trajectory(
        env=env,
        episode=episode,
        frames=cat["frames"],
        t=cat["t"],
        pose=cat["pose"],
        velocity=cat["velocity"],
        yaw_rate=cat["yaw_rate"],
        accel=cat["accel"],
        command=cat["command"],
        action=cat["action"],
        collision=cat["collision"],
        camera=int(cat["camera"][0]),
    )


def iter_trajectories(folder: str | Path) -> Iterator[Trajectory]:
    """Episodes in recording order, stitched across shard boundaries (for hindsight relabelling:
    every future tick of a trajectory belongs to the same episode)."""
    keys = ("frames", "t", "pose", "velocity", "yaw_rate", "accel", "command", "action", "collision", "camera")
    pending: list[dict[str, np.ndarray]] = []
    current: tuple[str, int] | None = None
    for data in iter_shards(folder):
        names = [str(x) for x in data["env_names"]]
        ep = data["episode"]
        # Runs of equal episode ids; a new run (or an episode_start flag) closes the previous one.
        cut = np.flatnonzero((ep[1:] != ep[:-1]) | data["episode_start"][1:]) + 1
        for lo, hi in zip(np.concatenate([[0], cut]), np.concatenate([cut, [len(ep)]])):
            key = (names[int(data["env"][lo])], int(ep[lo]))
            part = {k: data[k][lo:hi] for k in keys}
            if current is not None and (key != current or data["episode_start"][lo]):
                yield _trajectory(*current, pending)
                pending = []
            current = key
            pending.append(part)
    if current is not None and pending:
        yield _trajectory(*current, pending)
