"""Low-speed exploration of the prior environments: the simulated analogue of RECON, the paper's prior data.

RECON (the paper's prior data) is a Jackal driving slowly toward random goals in places the race
car never sees, bumping into things now and then. `ExplorationDriver` does the same on the
simulator's prior environments (`builtin_tracks("prior")`: campus, gym, office, parking, trail,
warehouse, yard):

* a goal is a random arc length 2-8 m ahead along the course (in the episode's driving
  direction) at a random lateral offset; on a side without a barrier it may lie up to
  `offtrack_reach` m beyond the edge (`offtrack_prob`);
* with probability `bump_prob` the goal lies behind a barrier or on a box instead, so the car
  drives into it;
* the car follows the goal with pure pursuit toward a carrot ~1.2 m ahead on the line from its
  own arc length and offset to the goal's, at a speed drawn per goal in [min_speed, max_speed],
  with Ornstein-Uhlenbeck noise on steering and speed;
* each episode draws a camera mount (height, pitch, sensor noise level; `camera_variants`) and a
  brightness factor; in the realistic camera look (`PretrainConfig.look`, the default) also its
  light: the venue's sun or lamps turned and raised or lowered at random (`episode_scene`), and
  the light's level, colour and clouds or flicker (`SimCamera.new_episode`), so the prior data
  sees more kinds of light than any one venue shows;
* after a bump (a contact that changes its velocity by more than BUMP_IMPACT; scraping along a
  wall is not one), or when it has not moved for 2 s, it backs out for 1-2 s with a random
  steering angle, then picks a new goal.

`collect` drives episodes (a random environment, start, direction, camera mount and light each)
and hands every tick to a `ShardWriter`. Everything random comes from one seed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from fastrlap.actions import to_action
from fastrlap.config import CAMERA_LOOKS, CameraConfig, PretrainConfig, SimConfig, VehicleConfig
from fastrlap.pretrain.shards import PriorDataError, ShardWriter
from fastrlap.sim.camera import SimCamera
from fastrlap.sim.dynamics import CarParams, car_params
from fastrlap.sim.scene import ELEVATION_RANGE, SceneSpec
from fastrlap.sim.track import Track, builtin_tracks, load_track
from fastrlap.sim.world import World
from fastrlap.types import Command

GOAL_AHEAD = (2.0, 8.0)  # m of arc length from the car to a new goal
CARROT = 1.2  # m, pure-pursuit lookahead along the way to the goal
GOAL_RADIUS = 0.6  # m: a goal this close counts as reached
GOAL_TIMEOUT = 20.0  # s: give a goal up after this long
STUCK_SECONDS = 2.0  # s without moving STUCK_DISTANCE while driving forward means stuck
STUCK_DISTANCE = 0.15  # m
BACKOUT_SECONDS = (1.0, 2.0)  # s of reversing after a bump
BACKOUT_SPEED = (0.5, 1.0)  # m/s, reverse
BUMP_IMPACT = 0.25  # m/s of velocity change in a contact that counts as a bump (less is a scrape)
LOST_OFFSET = 4.5  # m beyond the edge: the car is lost (the renderer's scenery ends), end the episode


def check_prior_envs(envs: list[str]) -> list[str]:
    """The names, or a `PriorDataError` naming the allowed prior environments (never race tracks)."""
    allowed = builtin_tracks("prior")
    if not envs:
        raise PriorDataError(f"envs=[]: name at least one prior environment ({', '.join(allowed)})")
    bad = [e for e in envs if e not in allowed]
    if bad:
        race = [e for e in bad if e in builtin_tracks("race")]
        why = "is a race track, kept out of the prior data" if race else "is not a prior environment"
        raise PriorDataError(f"envs: {', '.join(bad)} {why}; the prior environments are: {', '.join(allowed)}")
    return list(envs)


@dataclass
class _Goal:
    s: float  # m, arc length of the goal
    n: float  # m, lateral offset of the goal
    speed: float  # m/s to drive toward it
    started: float  # s, episode time the goal was picked


class ExplorationDriver:
    """Picks random reachable goals on a track and drives to them slowly, noisily, bumping sometimes."""

    def __init__(
        self, track: Track, params: CarParams, cfg: PretrainConfig, rng: np.random.Generator, direction: int = 1
    ) -> None:
        self.track, self.params, self.cfg, self.rng = track, params, cfg, rng
        self.direction = 1 if direction >= 0 else -1
        self.goal: _Goal | None = None
        self._steer_noise = 0.0
        self._speed_noise = 0.0
        self._backout_until = -1.0
        self._backout = Command(speed=0.0, steer=0.0)
        self._anchor = (0.0, 0.0, 0.0)  # (t, x, y) where the stuck watch last saw the car move
        self.bumps = 0  # bumps that started a back-out (or ended one), count

    # ------------------------------------------------------------------ goals
    def _arc_ahead(self, s_from: float, s_to: float) -> float:
        """Arc length from s_from to s_to in the driving direction, in [0, L)."""
        return ((s_to - s_from) * self.direction) % self.track.length

    def _new_goal(self, s_car: float, t: float) -> _Goal:
        tr, cfg, rng = self.track, self.cfg, self.rng
        ahead = float(rng.uniform(*GOAL_AHEAD))
        s = float(tr.wrap(s_car + self.direction * ahead))
        half = tr.width / 2
        idx = int(round(s / tr.ds)) % len(tr.s)
        speed = float(rng.uniform(cfg.min_speed, cfg.max_speed))
        if rng.random() < cfg.bump_prob:
            sides = [sign for sign, walls in ((1.0, tr.wall_left), (-1.0, tr.wall_right)) if walls[idx]]
            if tr.obstacles and (not sides or rng.random() < 0.5):
                ob = tr.obstacles[int(rng.integers(len(tr.obstacles)))]
                pr = tr.project(*ob.center)
                return _Goal(s=pr.s, n=pr.n, speed=speed, started=t)
            if sides:
                sign = sides[int(rng.integers(len(sides)))]
                return _Goal(s=s, n=sign * (half + 0.6), speed=speed, started=t)
        free = [sign for sign, walls in ((1.0, tr.wall_left), (-1.0, tr.wall_right)) if not walls[idx]]
        if free and rng.random() < cfg.offtrack_prob:
            sign = free[int(rng.integers(len(free)))]
            n = sign * (half + float(rng.uniform(0.3, cfg.offtrack_reach)))
        else:
            n = float(rng.uniform(-0.8, 0.8) * (half - 0.35))
        return _Goal(s=s, n=n, speed=speed, started=t)

    # ------------------------------------------------------------------ driving
    def __call__(self, t: float, x: float, y: float, yaw: float, impact: float) -> Command:
        """The command for this tick; `impact` (m/s) is the velocity change contacts caused last tick."""
        tr, p, rng, cfg = self.track, self.params, self.rng, self.cfg
        collided = impact > BUMP_IMPACT  # scraping along a wall is not a bump: keep driving
        backing = t < self._backout_until
        if backing and not collided:
            return self._backout
        pr = tr.project(x, y)
        if backing:  # backed into something: stop reversing, drive forward to a fresh goal
            self._backout_until = t
            self.goal = None
            collided = False
            self.bumps += 1
        if self.goal is None:
            self.goal = self._new_goal(pr.s, t)
            self._anchor = (t, x, y)
        if math.hypot(x - self._anchor[1], y - self._anchor[2]) > STUCK_DISTANCE:
            self._anchor = (t, x, y)
        stuck = t - self._anchor[0] > STUCK_SECONDS
        if collided or stuck:
            self.bumps += int(collided)
            self._backout_until = t + float(rng.uniform(*BACKOUT_SECONDS))
            self._backout = Command(
                speed=-float(rng.uniform(*BACKOUT_SPEED)), steer=float(rng.uniform(-p.max_steer, p.max_steer))
            )
            self.goal = None
            self._anchor = (self._backout_until, x, y)
            return self._backout
        g = self.goal
        remaining = self._arc_ahead(pr.s, g.s)
        if remaining > tr.length / 2:  # the goal is behind (passed or reversed away from it)
            remaining = 0.0
        gx, gy = tr.point_at(g.s, g.n)
        if math.hypot(gx - x, gy - y) < GOAL_RADIUS or remaining < 0.3 or t - g.started > GOAL_TIMEOUT:
            g = self.goal = self._new_goal(pr.s, t)
            remaining = self._arc_ahead(pr.s, g.s)
        # Carrot: CARROT metres along the way from (s_car, n_car) to (s_goal, n_goal).
        frac = min(1.0, CARROT / max(remaining, 1e-6))
        cs = pr.s + self.direction * frac * remaining
        cn = pr.n + frac * (g.n - pr.n)
        cx, cy = tr.point_at(cs, cn)
        dx, dy = float(cx) - x, float(cy) - y
        alpha = math.atan2(dy, dx) - yaw
        steer = math.atan2(2.0 * p.wheelbase * math.sin(alpha), max(math.hypot(dx, dy), 0.5))
        # Ornstein-Uhlenbeck noise: a wandering hand on the wheel and the throttle.
        self._steer_noise = 0.85 * self._steer_noise + float(rng.normal(0.0, cfg.steer_noise))
        self._speed_noise = 0.9 * self._speed_noise + float(rng.normal(0.0, cfg.speed_noise))
        steer = max(-p.max_steer, min(p.max_steer, steer + self._steer_noise))
        target = min(cfg.max_speed, max(cfg.min_speed * 0.5, g.speed + self._speed_noise))
        return Command(speed=target, steer=steer)


# ---------------------------------------------------------------------- collection
@dataclass
class CollectStats:
    frames: int
    episodes: int
    collisions: int  # ticks with a contact (bumps and scrapes)
    bumps: int  # contacts hard enough to make the driver back out (or stop backing out)
    seconds: float  # wall time

    @property
    def frames_per_second(self) -> float:
        return self.frames / max(self.seconds, 1e-9)


def camera_variants(base: CameraConfig, cfg: PretrainConfig) -> list[CameraConfig]:
    """A fixed set of camera mounts (height, pitch, sensor noise) episodes draw from.

    A small fixed set rather than a fresh mount per episode: each mount's renderer tables cost
    about a second to build, and keeping one renderer per (environment, mount) reuses them.
    """
    rng = np.random.default_rng(cfg.camera_seed)
    out = [replace(base, noise_std=cfg.noise_std_max / 2, brightness_jitter=0.0)]
    for _ in range(cfg.camera_variants - 1):
        out.append(
            replace(
                base,
                mount_height=float(np.clip(base.mount_height + rng.uniform(-1, 1) * cfg.height_jitter, 0.08, 0.24)),
                pitch_deg=float(base.pitch_deg + rng.uniform(-1, 1) * cfg.pitch_jitter_deg),
                noise_std=float(rng.uniform(0.0, cfg.noise_std_max)),
                brightness_jitter=0.0,
            )
        )
    return out


def episode_scene(venue: SceneSpec, cfg: PretrainConfig, rng: np.random.Generator) -> SceneSpec:
    """The venue under an episode's light: turned by up to `light_azimuth_jitter_deg` and raised
    or lowered by up to `light_elevation_jitter_deg` (kept within the elevations a venue allows),
    each uniformly. The realistic look bakes the light's shadows into the ground, so each episode
    builds its own renderer tables (about a second)."""
    azimuth = venue.light_azimuth_deg + float(rng.uniform(-1, 1)) * cfg.light_azimuth_jitter_deg
    elevation = venue.light_elevation_deg + float(rng.uniform(-1, 1)) * cfg.light_elevation_jitter_deg
    return replace(
        venue,
        light_azimuth_deg=azimuth % 360.0,
        light_elevation_deg=min(max(elevation, ELEVATION_RANGE[0]), ELEVATION_RANGE[1]),
    )


class _EpisodeCameras:
    """The camera of each episode. The realistic look bakes the light's shadows into the
    renderer's tables, so each episode gets a fresh camera under its own light; the clean look
    ignores the light, so one camera per (environment, mount) serves every episode.

    Frames are stored without sensor noise (noisy frames compress 5x worse): each mount's
    noise_std is in the manifest and the training loader adds fresh noise (shards.sensor_noise).
    """

    def __init__(self, cfg: PretrainConfig, mounts: list[CameraConfig]) -> None:
        self.cfg = cfg
        self.mounts = [replace(m, noise_std=0.0, look=cfg.look) for m in mounts]
        self._clean: dict[tuple[str, int], SimCamera] = {}

    def get(self, track: Track, mount: int, rng: np.random.Generator) -> SimCamera:
        """The camera for an episode on `track` through mount number `mount`, its light drawn from rng."""
        if self.cfg.look == "realistic":
            camera = SimCamera(track, self.mounts[mount], episode_scene(track.scene, self.cfg, rng))
        else:
            camera = self._clean.get((track.name, mount))
            if camera is None:
                camera = self._clean[(track.name, mount)] = SimCamera(track, self.mounts[mount])
        camera.new_episode(rng)
        return camera

    def note(self, episode: int, camera: SimCamera, brightness: float) -> dict:
        """What the manifest records of an episode's light: its mean level and, in the realistic
        look, where it stands."""
        note = {"episode": episode, "level": round(brightness * camera.lighting.base, 4)}
        if self.cfg.look == "realistic":
            scene = camera.renderer.scene
            note.update(
                azimuth_deg=round(scene.light_azimuth_deg, 2), elevation_deg=round(scene.light_elevation_deg, 2)
            )
        return note


def collect(
    cfg: PretrainConfig,
    vehicle: VehicleConfig,
    seed: int,
    out: str | Path,
    progress: Callable[[CollectStats], None] | None = None,
    progress_every: int = 1000,
) -> CollectStats:
    """Drive `cfg.steps` ticks of exploration over `cfg.envs` and write them as a dataset in `out`."""
    envs = check_prior_envs(list(cfg.envs))
    if cfg.steps < 1:
        raise PriorDataError(f"steps={cfg.steps}: collect at least one frame")
    if not 0.0 < cfg.min_speed <= cfg.max_speed:
        raise PriorDataError(
            f"pretrain.min_speed={cfg.min_speed}, pretrain.max_speed={cfg.max_speed}: need "
            f"0 < min_speed <= max_speed (m/s)"
        )
    if cfg.episode_seconds <= 0 or cfg.camera_variants < 1:
        raise PriorDataError(
            f"pretrain.episode_seconds={cfg.episode_seconds}, pretrain.camera_variants="
            f"{cfg.camera_variants}: both must be positive"
        )
    if cfg.look not in CAMERA_LOOKS:
        raise PriorDataError(f"pretrain.look={cfg.look!r}: use one of {', '.join(CAMERA_LOOKS)}")
    root = np.random.SeedSequence(seed)
    episode_seq, world_seq = root.spawn(2)
    rng = np.random.default_rng(episode_seq)
    world_rng = np.random.default_rng(world_seq)
    params = car_params(vehicle)
    sim: SimConfig = vehicle.sim
    tracks = {name: load_track(name) for name in envs}
    cameras = camera_variants(sim.camera, cfg)
    episode_cameras = _EpisodeCameras(cfg, cameras)
    writer = ShardWriter(
        Path(out),
        envs,
        cfg.frames_per_shard,
        meta={
            "source": "sim",
            "seed": seed,
            "look": cfg.look,
            "control_hz": vehicle.control_hz,
            "vehicle": {
                "speed_bias": vehicle.speed_bias,
                "speed_scale": vehicle.speed_scale,
                "max_steer": vehicle.max_steer,
            },
            "cameras": [
                {"mount_height": c.mount_height, "pitch_deg": c.pitch_deg, "noise_std": c.noise_std} for c in cameras
            ],
        },
    )
    ticks_per_episode = max(1, int(round(cfg.episode_seconds * vehicle.control_hz)))
    frames = episodes = collisions = bumps = 0
    start = time.perf_counter()
    next_report = progress_every
    while frames < cfg.steps:
        env = envs[int(rng.integers(len(envs)))]
        track = tracks[env]
        cam_i = int(rng.integers(len(cameras)))
        brightness = 1.0 + float(rng.uniform(-1, 1)) * cfg.brightness_jitter
        camera = episode_cameras.get(track, cam_i, rng)
        writer.note_episode(episode_cameras.note(episodes, camera, brightness))
        direction = 1 if rng.random() < 0.5 else -1
        world = World(track, params, sim, vehicle.control_hz, seed=int(world_rng.integers(2**31)))
        s0 = float(rng.uniform(0.0, track.length))
        n0 = float(rng.uniform(-0.3, 0.3) * track.width / 2)
        heading = (0.0 if direction > 0 else math.pi) + float(rng.normal(0.0, 0.2))
        state = world.reset(s=s0, n=n0, heading=heading)
        driver = ExplorationDriver(track, params, cfg, rng, direction=direction)
        impact, t = 0.0, 0.0
        for k in range(min(ticks_per_episode, cfg.steps - frames)):
            frame = camera.frame(
                state.x, state.y, state.yaw, t=t, speed=state.vx, yaw_rate=state.yaw_rate, brightness=brightness
            )
            cmd = driver(t, state.x, state.y, state.yaw, impact)
            reading = world.step(cmd)
            writer.add(
                frame,
                t=t,
                pose=(state.x, state.y, state.yaw),
                velocity=(state.vx, state.vy),
                yaw_rate=state.yaw_rate,
                accel=reading.accel,
                command=(cmd.speed, cmd.steer),
                action=to_action(cmd.speed, cmd.steer, vehicle).astype(np.float32),
                collision=reading.collision,
                episode=episodes,
                episode_start=(k == 0),
                env=env,
                camera=cam_i,
            )
            # The IMU reading belongs to the tick it measured: stored with the frame seen before it.
            state, t, impact = reading.state, reading.t, reading.impact
            frames += 1
            collisions += int(reading.collision)
            if frames >= next_report and progress is not None:
                progress(
                    CollectStats(frames, episodes + 1, collisions, bumps + driver.bumps, time.perf_counter() - start)
                )
                next_report += progress_every
            if abs(track.project(state.x, state.y).n) > track.width / 2 + LOST_OFFSET:
                break
        episodes += 1
        bumps += driver.bumps
    writer.close()
    return CollectStats(frames, episodes, collisions, bumps, time.perf_counter() - start)
