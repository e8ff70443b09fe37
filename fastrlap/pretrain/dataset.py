"""The prior dataset in memory, and hindsight-relabelled goal-reaching batches drawn from it.

`PriorData.load` reads one or more dataset folders (`fastrlap pretrain collect` or
`import-recon` output) into flat tensors on the training device: every tick's preprocessed
frame (channels first, `frame_size`²), pose, velocity, yaw rate, action and collision flag,
plus for each tick the first and last tick of its trajectory. Keeping all of it on the GPU
(100k frames at 128² are 4.9 GB) makes a training step a handful of gathers instead of a data
loader; on a CPU the same code runs, just slower.

`sample` draws the offline RL tuple of goal-conditioned IQL (FastRLAP §IV-B trains its encoder
this way on RECON):

* a tick i whose successor i+1 is in the same trajectory, its frame stack (ticks i-2..i,
  repeating the first frame at a trajectory's start, as `FrameStack.reset` does) and the next
  stack;
* a goal: the pose of a *future tick of the same trajectory*, `goal_min_ticks`..`goal_max_ticks`
  ahead (hindsight relabelling: wherever the car went is a goal it reached);
* the reward of the practice loop, transplanted: speed toward the goal (m/s, `progress_reward`
  with the state after the action) minus the collision penalty when a contact begins;
* done when the next pose is within `goal_radius` of the goal (the goal is reached);
* for simulated data, the free distance along each of `geometry.RAY_ANGLES` at tick i (labels of
  the auxiliary geometry loss, computed from the pose and the prior environment's map at load
  time); RECON data has no map, its rows are NaN and the loss skips them.

Goals enter the networks as the practice loop's goal features do: the unit direction to the goal
in the body frame and the distance, next to the car's own speed and yaw rate.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fastrlap.agent.encoder import EncoderSpec, preprocess_frame
from fastrlap.agent.features import DISTANCE_SCALE, SPEED_SCALE, YAW_RATE_SCALE
from fastrlap.pretrain.geometry import RAY_ANGLES, ray_labels
from fastrlap.pretrain.shards import MANIFEST, PriorDataError, load_shard, read_manifest
from fastrlap.sim.track import Track, load_track

STATE_DIM = 6  # goal direction (2), goal distance, body velocity (2), yaw rate


def dataset_folders(root: str | Path) -> list[Path]:
    """`root` if it is a dataset, else the datasets directly inside it (sorted), else an error."""
    root = Path(root)
    if (root / MANIFEST).is_file():
        return [root]
    if root.is_dir():
        found = sorted(p for p in root.iterdir() if (p / MANIFEST).is_file())
        if found:
            return found
    raise PriorDataError(
        f"data={root}: no {MANIFEST} in it or in its sub-folders; collect one with `fastrlap "
        f"pretrain collect out={root}` (or import RECON with `fastrlap pretrain import-recon`)"
    )


@dataclass
class Batch:
    """One goal-reaching sample set (B rows), all on the training device."""

    stack: torch.Tensor  # (B, 3K, S, S) uint8, frames up to tick i
    next_stack: torch.Tensor  # (B, 3K, S, S) uint8, frames up to tick i+1
    state: torch.Tensor  # (B, STATE_DIM) goal features and motion at tick i
    next_state: torch.Tensor  # (B, STATE_DIM) the same at tick i+1, toward the same goal
    action: torch.Tensor  # (B, 2) in [-1, 1], what the driver did at tick i
    reward: torch.Tensor  # (B,) m/s toward the goal after the action, minus a collision penalty
    done: torch.Tensor  # (B,) 1.0 where tick i+1 reaches the goal
    rays: torch.Tensor  # (B, len(RAY_ANGLES)) m free along each ray at tick i; NaN where unknown (RECON)


class PriorData:
    """All ticks of the prior data as tensors on `device`, and the relabelled batches drawn from them."""

    def __init__(
        self,
        frames: torch.Tensor,
        pose: torch.Tensor,
        velocity: torch.Tensor,
        yaw_rate: torch.Tensor,
        action: torch.Tensor,
        collision: torch.Tensor,
        noise_std: torch.Tensor,
        start: torch.Tensor,
        end: torch.Tensor,
        spec: EncoderSpec,
        sources: list[str],
        rays: torch.Tensor | None = None,
    ):
        self.frames, self.pose, self.velocity, self.yaw_rate = frames, pose, velocity, yaw_rate
        self.action, self.collision, self.noise_std = action, collision, noise_std
        # Free distance along RAY_ANGLES per tick (geometry.py); NaN where the world is unknown.
        self.rays = (
            rays if rays is not None else torch.full((len(pose), len(RAY_ANGLES)), float("nan"), device=pose.device)
        )
        self.start, self.end = start, end  # (N,) first and last tick index of each tick's trajectory
        self.spec = spec
        self.sources = sources
        # Ticks with a successor in the same trajectory can start a transition.
        self.valid = torch.nonzero(torch.arange(len(end), device=end.device) < end).squeeze(1)
        if len(self.valid) == 0:
            raise PriorDataError(f"{', '.join(sources)}: no trajectory has two ticks; collect more data")
        # A contact that begins at tick i (none at i-1 in the same trajectory) is a crash.
        prev = torch.cat([torch.zeros_like(collision[:1]), collision[:-1]])
        first = torch.arange(len(start), device=start.device) == start
        self.crash = collision & (first | ~prev)
        # Decided once here: asking the GPU per batch would stall the training loop on a sync.
        self.noisy = bool((noise_std > 0).any())

    def __len__(self) -> int:
        return len(self.pose)

    @property
    def device(self) -> torch.device:
        return self.pose.device

    @classmethod
    def load(
        cls,
        root: str | Path,
        spec: EncoderSpec = EncoderSpec(),
        device: str | torch.device = "cpu",
        max_frames: int = 0,
        threads: int = 8,
    ) -> PriorData:
        """Every shard of every dataset under `root` (see `dataset_folders`), at most `max_frames` ticks (0 = all)."""
        folders = dataset_folders(root)
        jobs: list[tuple[Path, int, int]] = []  # shard path, frames, index of its dataset
        noise_tables: list[list[float]] = []
        worlds: dict[str, Track] = {}  # simulated prior environments, for the ray labels
        for k, folder in enumerate(folders):
            manifest = read_manifest(folder)
            noise_tables.append([float(c.get("noise_std", 0.0)) for c in manifest.get("cameras", [{}])] or [0.0])
            if manifest.get("source") == "sim":
                for name in manifest.get("environments", []):
                    if name not in worlds:
                        worlds[name] = load_track(name)
                        _ = worlds[name].raster  # built here, once, not raced for by the reader threads
            jobs += [(folder / s["file"], s["frames"], k) for s in manifest["shards"]]
        if max_frames > 0:
            kept, total = [], 0
            for job in jobs:
                if total >= max_frames:
                    break
                kept.append(job)
                total += job[1]
            jobs = kept
        if not jobs:
            raise PriorDataError(f"data={root}: the manifest lists no shards; the dataset is empty, collect it again")

        def read(job: tuple[Path, int, int]) -> dict[str, np.ndarray]:
            path, n, k = job
            data = load_shard(path, n)
            frames = data["frames"]
            if frames.shape[1:3] != (spec.frame_size, spec.frame_size):
                frames = np.stack([preprocess_frame(f, spec.frame_size) for f in frames])
            else:
                frames = np.ascontiguousarray(frames.transpose(0, 3, 1, 2))
            cams = data["camera"].astype(np.int64)
            table = np.asarray(noise_tables[k], dtype=np.float32)
            noise = table[np.minimum(cams, len(table) - 1)]
            rays = np.full((len(data["pose"]), len(RAY_ANGLES)), np.nan, np.float32)
            names = [str(e) for e in data["env_names"]]
            for e, name in enumerate(names):
                rows = data["env"] == e
                if name in worlds and rows.any():
                    rays[rows] = ray_labels(worlds[name], data["pose"][rows])
            # Trajectory ids unique across datasets: (dataset, episode).
            return {
                "frames": frames,
                "rays": rays,
                "pose": data["pose"],
                "velocity": data["velocity"],
                "yaw_rate": data["yaw_rate"],
                "action": data["action"],
                "collision": data["collision"],
                "noise": noise,
                "episode": data["episode"] * len(folders) + k,
                "episode_start": data["episode_start"],
            }

        with ThreadPoolExecutor(max(1, threads)) as pool:  # zlib releases the GIL: shards decode in parallel
            parts = list(pool.map(read, jobs))
        cat = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
        if max_frames > 0:
            cat = {key: v[:max_frames] for key, v in cat.items()}
        start, end = trajectory_bounds(cat["episode"], cat["episode_start"])
        dev = torch.device(device)

        def t(a: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(a)).to(device=dev, dtype=dtype)

        return cls(
            frames=t(cat["frames"], torch.uint8),
            pose=t(cat["pose"], torch.float32),
            velocity=t(cat["velocity"], torch.float32),
            yaw_rate=t(cat["yaw_rate"], torch.float32),
            action=t(cat["action"], torch.float32),
            collision=t(cat["collision"], torch.bool),
            noise_std=t(cat["noise"], torch.float32),
            start=t(start, torch.int64),
            end=t(end, torch.int64),
            spec=spec,
            sources=[str(f) for f in folders],
            rays=t(cat["rays"], torch.float32),
        )

    # ------------------------------------------------------------------ sampling
    def stacks(self, idx: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, 3K, S, S) uint8 frame stacks ending at ticks `idx`, with each camera's sensor noise added."""
        k = self.spec.frame_stack
        offsets = torch.arange(-(k - 1), 1, device=idx.device)
        ticks = torch.maximum(idx[:, None] + offsets, self.start[idx][:, None])  # (B, K), clamped to the start
        frames = self.frames[ticks]  # (B, K, 3, S, S)
        if self.noisy:
            std = self.noise_std[idx]
            noise = (
                torch.randn(frames.shape, generator=generator, device=frames.device) * std[:, None, None, None, None]
            )
            frames = (frames.to(torch.float32) + noise).round_().clamp_(0, 255).to(torch.uint8)
        return frames.flatten(1, 2)

    def goal_state(self, idx: torch.Tensor, goal_xy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, STATE_DIM) network input at ticks `idx` toward `goal_xy` (B, 2), and the distance (B,) in m."""
        pose = self.pose[idx]
        d = goal_xy - pose[:, :2]
        dist = torch.linalg.vector_norm(d, dim=1)
        c, s = torch.cos(pose[:, 2]), torch.sin(pose[:, 2])
        body = torch.stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1]], dim=1)
        # On top of the goal the direction is undefined: point straight ahead (as goal_features does, roughly).
        ahead = torch.tensor([1.0, 0.0], device=body.device).expand_as(body)
        direction = torch.where(dist[:, None] > 1e-6, body / dist.clamp_min(1e-6)[:, None], ahead)
        state = torch.cat(
            [
                direction,
                (dist.clamp(max=4 * DISTANCE_SCALE) / DISTANCE_SCALE)[:, None],
                self.velocity[idx] / SPEED_SCALE,
                (self.yaw_rate[idx] / YAW_RATE_SCALE)[:, None],
            ],
            dim=1,
        )
        return state, dist

    def sample(
        self,
        batch_size: int,
        goal_min_ticks: int,
        goal_max_ticks: int,
        goal_radius: float,
        crash_penalty: float,
        generator: torch.Generator | None = None,
    ) -> Batch:
        """A relabelled batch; see the module docstring for what each part means."""
        dev = self.device
        pick = torch.randint(len(self.valid), (batch_size,), generator=generator, device=dev)
        i = self.valid[pick]
        nxt = i + 1
        ahead = torch.randint(goal_min_ticks, goal_max_ticks + 1, (batch_size,), generator=generator, device=dev)
        j = torch.minimum(i + ahead, self.end[i])  # same trajectory only: never past its last tick
        goal = self.pose[j, :2]
        state, _ = self.goal_state(i, goal)
        next_state, next_dist = self.goal_state(nxt, goal)
        # Practice's reward after the action: the new body velocity projected on the new goal direction.
        speed_toward = (self.velocity[nxt] * next_state[:, 0:2]).sum(dim=1)
        reward = speed_toward - crash_penalty * self.crash[i].to(torch.float32)
        done = (next_dist < goal_radius).to(torch.float32)
        return Batch(
            stack=self.stacks(i, generator),
            next_stack=self.stacks(nxt, generator),
            state=state,
            next_state=next_state,
            action=self.action[i],
            reward=reward,
            done=done,
            rays=self.rays[i],
        )


def trajectory_bounds(episode: np.ndarray, episode_start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every tick, the index of the first and of the last tick of its trajectory.

    A trajectory is a run of equal episode ids; an `episode_start` flag also begins a new one.
    """
    n = len(episode)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    new = np.ones(n, dtype=bool)
    new[1:] = (episode[1:] != episode[:-1]) | episode_start[1:]
    starts = np.flatnonzero(new)
    lengths = np.diff(np.append(starts, n))
    start = np.repeat(starts, lengths)
    end = np.repeat(starts + lengths - 1, lengths)
    return start.astype(np.int64), end.astype(np.int64)


def describe(data: PriorData) -> str:
    """One line: ticks, trajectories, crash ticks, hours of driving at the collection rate."""
    n = len(data)
    trajectories = int((data.start == torch.arange(n, device=data.device)).sum())
    return (
        f"{n} frames in {trajectories} trajectories from {len(data.sources)} dataset(s), "
        f"{int(data.crash.sum())} crashes, {data.frames.numel() / 2**30:.2f} GiB of frames on {data.device}"
    )
