"""SimVehicle: the built-in simulator behind the same `Vehicle` protocol as the real car.

`act` advances the world by one control period, and the `SimClock` moves with it, so the
control loop never sleeps and practice runs faster than real time. Everything is drawn from one
seeded generator: the same seed and the same commands give the same observations.
"""

from __future__ import annotations

import numpy as np

from fastrlap.config import VehicleConfig
from fastrlap.sim.camera import SimCamera
from fastrlap.sim.dynamics import car_params
from fastrlap.sim.track import Track
from fastrlap.sim.world import World, WorldReading
from fastrlap.types import GRAVITY, NEUTRAL, Command, ImuReading, Observation, Pose
from fastrlap.vehicle.base import SimClock


class SimVehicle:
    def __init__(self, track: Track, cfg: VehicleConfig, seed: int = 0) -> None:
        self.track = track
        self.cfg = cfg
        self.control_hz = cfg.control_hz
        self.clock = SimClock()
        self.params = car_params(cfg)
        self.world = World(track, self.params, cfg.sim, cfg.control_hz, seed=seed)
        self.camera = SimCamera(track, cfg.sim.camera)
        self.rng = np.random.default_rng(seed + 1_000_003)
        self.reset()

    def reset(self, s: float | None = None, n: float = 0.0, heading: float = 0.0) -> None:
        """Put the car back on the track (tests and benchmarks; practice moves it only with `place`).

        The clock keeps running: simulated time stays monotonic across resets like wall time.
        """
        state = self.world.reset(s=s, n=n, heading=heading)
        jitter = self.cfg.sim.camera.brightness_jitter
        self.brightness = 1.0 + float(self.rng.uniform(-jitter, jitter)) if jitter > 0 else 1.0
        self.camera.new_episode(self.rng)
        self._settle(state)

    def place(self, x: float, y: float) -> Pose:
        """Carry the car to the track point nearest (x, y), at rest, facing along the track.

        What a person does when the car has left the course: pick it up and set it down on the
        track (`practice.sim_carry_back_s`). The look of the scene (brightness) stays as it was,
        and the clock keeps running. Returns where the car now stands.
        """
        at = self.track.project(x, y)
        self._settle(self.world.reset(s=at.s, n=at.n))
        st = self._reading.state
        return Pose(st.x, st.y, st.yaw)

    def _settle(self, state) -> None:
        """The reading of a car standing still at `state` (no motion, gravity only)."""
        pose = Pose(state.x, state.y, state.yaw)
        self._reading = WorldReading(
            t=self.world.t,
            state=state,
            accel=np.array([0.0, 0.0, GRAVITY]),
            gyro=np.zeros(3),
            wheel_speed=0.0,
            pose_estimate=pose,
            collision=False,
            impact=0.0,
            on_track=True,
        )

    def observe(self) -> Observation:
        r = self._reading
        st = r.state
        frame = self.camera.frame(
            st.x,
            st.y,
            st.yaw,
            t=self.world.t,
            speed=st.vx,
            yaw_rate=st.yaw_rate,
            rng=self.rng,
            brightness=self.brightness,
        )
        noise = self.cfg.sim.wheel_speed_noise
        velocity = np.array([st.vx, st.vy]) + self.rng.normal(0.0, noise, 2)
        return Observation(
            t=self.clock.now(),
            frame=frame,
            imu=ImuReading(accel=r.accel, gyro=r.gyro),
            wheel_speed=r.wheel_speed,
            pose=r.pose_estimate,
            velocity=velocity,
            yaw_rate=float(r.gyro[2]),
            collision=r.collision,
            true_pose=Pose(st.x, st.y, st.yaw),
            frame_t=self.clock.now(),
        )

    @property
    def last_reading(self) -> WorldReading:
        """Ground truth of the last tick (the simulator's privilege: oracle checks, benchmarks)."""
        return self._reading

    def act(self, command: Command) -> None:
        before = self.world.t
        self._reading = self.world.step(command)
        self.clock.advance(self.world.t - before)

    def stop(self) -> None:
        """Neutral for one tick: the simulated car rolls to a stop under braking like a real one."""
        self.act(NEUTRAL)

    def close(self) -> None:
        """Nothing to release in the simulator."""
