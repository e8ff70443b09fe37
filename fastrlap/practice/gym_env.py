"""fastrlap's practice task as a gymnasium environment, so that another learner practises exactly it.

`gymnasium.make("fastrlap/Track-v0", run_dir=RUN)` (practice/track_env.py) builds it on a run
directory holding a demo lap and its checkpoints (what `fastrlap record-demo` writes). Every
control tick runs what `PracticeLoop.tick` runs in the simulator, from the same pieces: the
vehicle practice drives (`make_vehicle`, seeded alike), the `Supervisor` (crash, stuck,
geofence), the `Course` along the demo's checkpoints (laps and lap times), the reward toward the
current checkpoint (course/reward.py), the action window (`ActionLimits`: the rate limit), the
`SafetyFilter`, and the `SimOperator` who carries the car back after a geofence stop. Only the
learner differs: no encoder, no replay, no demo transitions; the caller's agent acts and learns.

Observation: {"image": the camera frame, (H, W, 3) uint8 as `vehicle.sim.camera` renders it;
"state": the 10 numbers fastrlap's actor gets besides the image (agent/features.py: body
velocity, yaw rate, IMU x/y, unit direction and distance to the current checkpoint, previous
action)}. Action: Box([-1, 1]²), clipped into the tick's window before it becomes a command, as
the loop clips its actor's.

An episode is a stretch of policy driving. When the supervisor takes the car, the step that led
there ends the episode the way practice's transition ends: truncated when a crash or being stuck
starts a recovery (the critic still bootstraps; the crash penalty is in that step's reward),
terminated when the car left the geofence. `reset()` then hands the car to the supervisor as the
loop does: the recovery's reversing, or the wait and the operator's carry, run inside it on
practice's clock until the policy may drive again, and it returns that observation. Only the
first reset, or one with a seed, starts a practice session afresh (the car at rest at the demo's
start); `state.practice_time` counts every tick, the supervisor's included.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from fastrlap.actions import all_finite, rest_action
from fastrlap.agent.features import PROPRIO_DIM, proprio
from fastrlap.config import Config
from fastrlap.course.checkpoints import Course, CourseSpec, load_checkpoints
from fastrlap.course.demo import load_demo
from fastrlap.errors import ConfigError, FastrlapError
from fastrlap.practice.limits import ActionLimits
from fastrlap.practice.loop import LapSpeeds, LoopState, count_incidents, record_lap, transition_outcome
from fastrlap.practice.run import load_run_config, open_run_dir
from fastrlap.practice.safety import SafetyFilter
from fastrlap.practice.session import distance_to_polyline
from fastrlap.practice.sim_operator import SimOperator
from fastrlap.practice.supervisor import Event, Mode, Supervisor
from fastrlap.practice.vehicles import course_track, make_vehicle
from fastrlap.sim.env import STATE_LIMIT
from fastrlap.sim.track import Track
from fastrlap.types import NEUTRAL, Command, LapRow, Observation

EventSink = Callable[[float, str, dict], None]  # practice time (s), kind, data: events.jsonl's lines


class PracticeEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self,
        cfg: Config,
        track: Track,
        demo_path: np.ndarray,
        spec: CourseSpec,
        render_mode: str | None = None,
        on_lap: Callable[[LapRow], None] | None = None,
        on_event: EventSink | None = None,
    ) -> None:
        if cfg.vehicle.kind != "sim":
            raise ConfigError(
                f"vehicle={cfg.vehicle.kind}: the gym environment practises in the simulator; use vehicle=sim"
            )
        if cfg.practice.sim_carry_back_s <= 0:
            raise ConfigError(
                f"practice.sim_carry_back_s={cfg.practice.sim_carry_back_s:g}: the gym environment needs the "
                f"simulated operator to carry the car back after a geofence stop; set it > 0 (default 3)"
            )
        self.cfg = cfg
        self.track = track
        self.path = np.asarray(demo_path, dtype=np.float64)
        self.course_spec = spec
        self.render_mode = render_mode
        self.on_lap = on_lap
        self.on_event = on_event
        cam = cfg.vehicle.sim.camera
        self.observation_space = spaces.Dict(
            {
                "image": spaces.Box(0, 255, shape=(cam.height, cam.width, 3), dtype=np.uint8),
                "state": spaces.Box(-STATE_LIMIT, STATE_LIMIT, shape=(PROPRIO_DIM,), dtype=np.float32),
            }
        )
        self.action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.limits = ActionLimits.of(cfg)
        self.distance_to_path = distance_to_polyline(self.path)
        self.rest_action = rest_action(cfg.vehicle)
        self.vehicle = None  # the first reset starts the session
        self.last_obs: Observation | None = None
        self.state = LoopState()
        self.laps: list[LapRow] = []

    @classmethod
    def from_run(
        cls,
        run_dir: str | Path,
        render_mode: str | None = None,
        on_lap: Callable[[LapRow], None] | None = None,
        on_event: EventSink | None = None,
    ) -> PracticeEnv:
        """The task `fastrlap practice run_dir=RUN` practises: the run's config, its own track
        copy, its demo lap (the geofence's path) and its checkpoints."""
        run = open_run_dir(run_dir)
        cfg = load_run_config(run)
        if cfg.vehicle.kind != "sim":
            raise ConfigError(
                f"{run.path} was recorded with vehicle={cfg.vehicle.kind}; the gym environment practises "
                f"in the simulator: record a run with vehicle=sim"
            )
        demo, spec = load_demo(run.demo), load_checkpoints(run.checkpoints)
        return cls(cfg, course_track(cfg), demo.lap_path(), spec, render_mode, on_lap=on_lap, on_event=on_event)

    # ------------------------------------------------------------------ the session
    def _start(self, seed: int) -> None:
        """A fresh practice session, as `fastrlap practice` starts one with `seed=`."""
        cfg = replace(self.cfg, seed=seed)
        if self.vehicle is not None:
            self.vehicle.close()
        self.vehicle = make_vehicle(cfg, self.track)
        hz = self.vehicle.control_hz
        self.supervisor = Supervisor(
            cfg.practice.supervisor, self.distance_to_path, hz, on_event=self._mode_event, seed=seed
        )
        self.course = Course(self.course_spec)
        self.safety = SafetyFilter(cfg.practice.safety, hz)
        self.operator = SimOperator(self.vehicle, self.path, cfg.practice.sim_carry_back_s, on_event=self.on_event)
        self.state = LoopState()
        self.laps = []
        self.lap_speeds = LapSpeeds()
        self.prev_action = self.rest_action.copy()
        self._t_start: float | None = None
        self._tick()

    def _mode_event(self, ev: Event) -> None:
        if self.on_event is not None:
            self.on_event(ev.t - self._t_start, "mode", {"old": ev.old.value, "new": ev.new.value, "reason": ev.reason})

    def _tick(self) -> Observation:
        """A control tick's first half, as in the loop: observe, let the supervisor decide who
        drives, follow the course, count collisions and laps."""
        obs = self.vehicle.observe()
        if self._t_start is None:
            self._t_start = obs.t
            self.course.reset(obs.t, obs.pose, standing_start=True)
        self.last_obs = obs
        decision = self.supervisor.tick(obs)
        mode = decision.mode
        step = self.course.update(obs.t, obs.pose, collision=decision.crash_started, recovering=mode == Mode.RECOVERY)
        st = self.state
        st.practice_time = obs.t - self._t_start
        count_incidents(st, decision)
        self.lap_speeds.add(float(math.hypot(*obs.velocity)))
        if step.lap is not None:
            row = record_lap(st, step.lap, self.lap_speeds)
            self.lap_speeds = LapSpeeds()
            self.laps.append(row)
            if self.on_lap is not None:
                self.on_lap(row)
        self.decision, self.course_step = decision, step
        return obs

    def _drive(self, command: Command) -> None:
        """A control tick's second half: the safety filter, one control period, the operator."""
        command, _ = self.safety(command)  # finite by construction: `step` refuses a non-finite action
        self.vehicle.act(command)
        self.state.ticks += 1
        self.operator(self)

    def _observation(self, obs: Observation) -> dict:
        goal = self.course_step.goal
        p = proprio(obs.velocity, obs.yaw_rate, obs.imu.accel, goal.direction, goal.distance, self.prev_action)
        return {"image": obs.frame, "state": np.clip(p, -STATE_LIMIT, STATE_LIMIT)}

    def _info(self) -> dict:
        st = self.state
        return {
            "practice_time_s": st.practice_time,
            "mode": self.decision.mode.value,
            "laps": st.laps,
            "collisions": st.collisions,
        }

    # ------------------------------------------------------------------ gymnasium
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None or self.vehicle is None:
            self._start(self.cfg.seed if seed is None else int(seed))
        obs = self.last_obs
        while self.decision.mode != Mode.LEARNING:  # the supervisor drives: recovery, or the wait to be carried
            self.prev_action = self.rest_action.copy()
            self._drive(self.decision.override or NEUTRAL)
            obs = self._tick()
        self.window = self.limits.window(self.prev_action, self.state.transitions)
        return self._observation(obs), self._info()

    def step(self, action):
        if self.vehicle is None or self.decision.mode != Mode.LEARNING:
            raise FastrlapError("step() while the supervisor holds the car: call reset() first")
        a = np.asarray(action, dtype=np.float32).reshape(2)
        if not all_finite(a):
            raise ValueError(f"non-finite action {a.tolist()}: the car takes only finite actions")
        lo, hi = self.window
        a = np.clip(a, lo, hi)
        target = self.course_step.target  # the checkpoint this step's reward is measured toward
        self.prev_action = a
        self._drive(self.cfg.vehicle.to_command(a))
        obs = self._tick()
        d = self.decision
        self.window = self.limits.window(self.prev_action, self.state.transitions)
        r, terminated = transition_outcome(
            obs, self.course_spec.checkpoints[target], d, self.supervisor, self.cfg.course
        )
        self.state.transitions += 1
        truncated = d.mode != Mode.LEARNING and not terminated
        return self._observation(obs), float(r), terminated, truncated, self._info()

    def render(self):
        if self.render_mode == "rgb_array" and self.last_obs is not None:
            return self.last_obs.frame.copy()
        return None

    def close(self) -> None:
        if self.vehicle is not None:
            self.vehicle.close()
