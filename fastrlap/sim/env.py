"""`gymnasium.Env` over the simulator, for third-party RL libraries.

Registered as `fastrlap/Track-v0` by `import fastrlap` (fastrlap.registration):
`gymnasium.make("fastrlap/Track-v0", track="oval")`.
Observation: {"image": (H, W, 3) uint8 camera frame, "state": float32 vector — body velocity
(vx, vy), yaw rate, IMU (ax, ay), wheel speed, steering angle, lateral offset from the centerline,
heading error to the centerline (sin, cos)}. Action: Box([-1, 1]²) mapped like the car's
(target speed = bias + scale·a0, steering = a1·max_steer). Reward: speed along the track
(progress per second) minus a penalty proportional to collision impacts. fastrlap's own practice
loop does not use this class; it drives a `Vehicle` with checkpoints from a demo lap.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from fastrlap.config import VehicleConfig
from fastrlap.sim.camera import SimCamera
from fastrlap.sim.dynamics import car_params
from fastrlap.sim.track import Projection, Track, load_track
from fastrlap.sim.world import World
from fastrlap.types import GRAVITY

STATE_SIZE = 10
STATE_LIMIT = 1000.0  # state entries are clipped here (an impact spike stays far below it)
COLLISION_PENALTY = 1.0  # reward per m/s of impact velocity change
OFF_MAP = 5.0  # m beyond the track edge: the episode ends (the car has left the course)


class TrackEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self, track: str | Track = "oval", vehicle: VehicleConfig | None = None, render_mode: str | None = None
    ):
        self.track = load_track(track) if isinstance(track, str) else track
        self.vcfg = vehicle or VehicleConfig()
        self.params = car_params(self.vcfg)
        self.render_mode = render_mode
        cam = self.vcfg.sim.camera
        self.observation_space = spaces.Dict(
            {
                "image": spaces.Box(0, 255, shape=(cam.height, cam.width, 3), dtype=np.uint8),
                "state": spaces.Box(-STATE_LIMIT, STATE_LIMIT, shape=(STATE_SIZE,), dtype=np.float32),
            }
        )
        self.action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.camera = SimCamera(self.track, cam)
        self.world = World(self.track, self.params, self.vcfg.sim, self.vcfg.control_hz)
        self._frame = np.zeros((cam.height, cam.width, 3), np.uint8)

    def _observe(self, pr: Projection, reading_accel: np.ndarray, reading_gyro: np.ndarray, wheel: float) -> dict:
        st = self.world.state
        err = st.yaw - self.track.heading_at(pr.s)
        self._frame = self.camera.frame(
            st.x, st.y, st.yaw, t=self.world.t, speed=st.vx, yaw_rate=st.yaw_rate, rng=self.np_random
        )
        state = np.array(
            [
                st.vx,
                st.vy,
                reading_gyro[2],
                reading_accel[0],
                reading_accel[1],
                wheel,
                st.steer,
                pr.n,
                math.sin(err),
                math.cos(err),
            ],
            dtype=np.float32,
        )
        return {"image": self._frame, "state": np.clip(state, -STATE_LIMIT, STATE_LIMIT)}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.world.rng = np.random.default_rng(int(self.np_random.integers(2**31)))
        s = float(self.np_random.uniform(0.0, self.track.length))
        self.world.reset(s=s, n=float(self.np_random.uniform(-0.2, 0.2)) * self.track.width / 2)
        self.camera.new_episode(self.np_random)
        pr = self.track.project(self.world.state.x, self.world.state.y)
        self._s = pr.s
        return self._observe(pr, np.array([0.0, 0.0, GRAVITY]), np.zeros(3), 0.0), {}

    def step(self, action):
        reading = self.world.step(self.vcfg.to_command(action))
        st = reading.state
        pr = self.track.project(st.x, st.y)
        ds = (pr.s - self._s + self.track.length / 2) % self.track.length - self.track.length / 2
        self._s = pr.s
        reward = ds * self.vcfg.control_hz - COLLISION_PENALTY * reading.impact
        terminated = abs(pr.n) > self.track.width / 2 + OFF_MAP
        obs = self._observe(pr, reading.accel, reading.gyro, reading.wheel_speed)
        info = {"collision": reading.collision, "on_track": reading.on_track, "progress_m": ds}
        return obs, float(reward), bool(terminated), False, info

    def render(self):
        if self.render_mode == "rgb_array":
            return self._frame.copy()
        return None
