"""A practice or evaluation session over one run directory: wiring, resume, logs and summary.

The CLI builds the `Vehicle` (simulator or car) and hands it here; this module connects the run
directory's demo and checkpoints, the encoder, the learner, the replay buffer and the loop, and
writes laps.csv / events.jsonl / summary.json as the run goes (formats in docs/design.md).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

from fastrlap.actions import rest_action
from fastrlap.agent.encoder import Encoder, EncoderSpec, FrameStack, load_encoder, resolve_device
from fastrlap.agent.features import PROPRIO_DIM, proprio
from fastrlap.agent.replay import ReplayBuffer
from fastrlap.agent.sac import SAC, action_range
from fastrlap.config import Config
from fastrlap.console.live import LiveConsole
from fastrlap.course.checkpoints import Course, CourseSpec, goal_features, load_checkpoints
from fastrlap.course.demo import Demo, load_demo
from fastrlap.course.reward import reward as course_reward
from fastrlap.errors import FastrlapError
from fastrlap.practice.dashboard import Dashboard, WandbLogger
from fastrlap.practice.keys import KeyReader, stdin_fd
from fastrlap.practice.learner import SyncLearner, ThreadedLearner, choose_torch_threads, torch_threads
from fastrlap.practice.live_state import LiveTracker
from fastrlap.practice.loop import LoopState, PracticeLoop
from fastrlap.practice.run import (
    RunDir,
    RunLog,
    RunSummary,
    agent_dir,
    read_laps,
    read_laps_checked,
    replay_dir,
    trajectories_path,
)
from fastrlap.practice.sim_operator import Carriable, SimOperator
from fastrlap.practice.stops import first_hold
from fastrlap.practice.trajectory import TrajectoryRecorder
from fastrlap.remote import car as remote
from fastrlap.storage import StorageError, atomic_write_text
from fastrlap.types import LapRow, Pose, Transition
from fastrlap.vehicle.base import SimClock, Vehicle

ACTION_DIM = 2
LEARNER_FILE = "learner.pt"
STATE_FILE = "loop_state.json"
STATE_VERSION = 1  # loop_state.json's format
# events also printed as a status line when they happen
SHOUTED_EVENTS = ("link", "confirm", "pose_rejected", "learner_link")


def build_encoder(cfg: Config, device: torch.device) -> Encoder:
    """The frozen encoder: `agent.encoder=pretrained` is the shipped asset, `random` a seeded random
    init (the ablation), anything else a path to weights saved by `fastrlap pretrain train`."""
    spec = EncoderSpec(frame_size=cfg.agent.frame_size, frame_stack=cfg.agent.frame_stack)
    if cfg.agent.encoder == "random":
        torch.manual_seed(cfg.seed)
        return Encoder(spec).to(device).freeze()
    return load_encoder(None if cfg.agent.encoder in ("pretrained", "") else cfg.agent.encoder, spec, device=device)


def check_encoder(cfg: Config) -> None:
    """Load `agent.encoder` once on the CPU when it names a weights file, so a wrong path or a
    damaged file is one line before a demo lap is driven for nothing (practice loads it only
    after the demo)."""
    if cfg.agent.encoder not in ("pretrained", "random", ""):
        build_encoder(cfg, torch.device("cpu"))


def practice_device(cfg: Config) -> torch.device:
    """`device=` as a torch device; a CUDA request on a machine without CUDA is one line."""
    try:
        return resolve_device(cfg.device)
    except ValueError as e:  # resolve_device names the setting and the fix
        raise FastrlapError(str(e)) from None


def distance_to_polyline(path: np.ndarray) -> Callable[[float, float], float]:
    """Distance (m) from a point to the demo path: the geofence's measure."""
    a, b = path, np.roll(path, -1, axis=0)
    ab = b - a
    ab2 = np.maximum(np.sum(ab * ab, axis=1), 1e-12)

    def dist(x: float, y: float) -> float:
        p = np.array([x, y])
        t = np.clip(np.sum((p - a) * ab, axis=1) / ab2, 0.0, 1.0)
        q = a + t[:, None] * ab
        return float(np.sqrt(np.min(np.sum((q - p) ** 2, axis=1))))

    return dist


def demo_transitions(demo: Demo, spec: CourseSpec, encoder: Encoder, cfg: Config) -> list[Transition]:
    """The demo lap as transitions tagged `demo`, built exactly like practice transitions.

    Human actions are not rate limited, so each is clipped into the range the actor would have
    had there (the critic and actor then see the same constraint as for practice data).
    """
    n = len(demo)
    if n < 2:
        return []
    frames = FrameStack(encoder.spec)
    stacks = np.stack([frames.push(demo.frames[k]) for k in range(n)])
    emb = np.concatenate([encoder.embed(stacks[i : i + 256]) for i in range(0, n, 256)])
    course = Course(spec)
    course.reset(float(demo.t[0]), _pose(demo, 0), standing_start=True)
    prev = rest_action(cfg.vehicle)
    targets, props, ranges, actions = [], [], [], []
    for k in range(n):
        step = course.update(float(demo.t[k]), _pose(demo, k), collision=bool(demo.collision[k]))
        lo, hi = action_range(prev, cfg.agent.action_rate_per_tick)
        props.append(
            proprio(
                demo.velocity[k], float(demo.yaw_rate[k]), demo.accel[k], step.goal.direction, step.goal.distance, prev
            )
        )
        targets.append(step.target)
        ranges.append((lo, hi))
        a = np.clip(np.asarray(demo.action[k], dtype=np.float32), lo, hi)
        actions.append(a)
        prev = a
    out = []
    for k in range(n - 1):
        toward = goal_features(_pose(demo, k + 1), spec.checkpoints[targets[k]])
        crash = bool(demo.collision[k + 1]) and not bool(demo.collision[k])
        r = course_reward(demo.velocity[k + 1], toward.direction, cfg.course, crash_started=crash)
        out.append(
            Transition(
                embedding=emb[k],
                proprio=props[k],
                action=actions[k],
                action_lo=ranges[k][0],
                action_hi=ranges[k][1],
                reward=float(r),
                next_embedding=emb[k + 1],
                next_proprio=props[k + 1],
                next_action_lo=ranges[k + 1][0],
                next_action_hi=ranges[k + 1][1],
                done=False,
                mask=1.0,
                source="demo",
            )
        )
    return out


def _pose(demo: Demo, k: int) -> Pose:
    x, y, yaw = demo.pose[k]
    return Pose(float(x), float(y), float(yaw))


def _load_run_inputs(run: RunDir) -> tuple[Demo, CourseSpec]:
    if not run.demo.exists():
        raise FastrlapError(
            f"{run.demo} not found; record the demo lap first with `fastrlap record-demo run_dir={run.path}`"
        )
    if not run.checkpoints.exists():
        raise FastrlapError(
            f"{run.checkpoints} not found; extract them again from the demo with "
            f"`fastrlap checkpoints extract run_dir={run.path}`"
        )
    return load_demo(run.demo), load_checkpoints(run.checkpoints)


def practice(
    run: RunDir,
    vehicle: Vehicle,
    cfg: Config,
    resume: bool = False,
    oracle_lap: float | None = None,
    status: Callable[[str], None] = print,
) -> RunSummary:
    """Practice on `vehicle` for `cfg.practice.minutes` of driving time; returns the summary."""
    demo, spec = _load_run_inputs(run)
    synchronous = isinstance(vehicle.clock, SimClock)
    threads = choose_torch_threads(cfg.practice.torch_threads, threaded=not synchronous)
    device = practice_device(cfg)
    # The field console (a web page with an e-stop; its stop reaches the supervisor like the space
    # key) opens first: a port that is taken stops practice before anything is written to the run.
    # It closes however the session ends, a failed setup included.
    demo_lap = float(demo.lap_time) if math.isfinite(demo.lap_time) else None  # an open demo has none
    with (
        torch_threads(threads),
        LiveConsole.serving(cfg, demo.lap_path(), spec, demo_lap, oracle_lap, status) as console,
    ):
        return _practice(
            run, vehicle, cfg, demo, spec, synchronous, threads, device, console, resume, oracle_lap, status
        )


def _practice(
    run: RunDir,
    vehicle: Vehicle,
    cfg: Config,
    demo: Demo,
    spec: CourseSpec,
    synchronous: bool,
    threads: int,
    device: torch.device,
    console: LiveConsole | None,
    resume: bool,
    oracle_lap: float | None,
    status: Callable[[str], None],
) -> dict:
    encoder = build_encoder(cfg, device)
    # With a learner on another machine (learner=tcp://...) this process holds neither the agent
    # nor the replay buffer: the link stands in for both (fastrlap/remote/car.py).
    try:
        link = (
            remote.connect(cfg, run, (encoder.spec.embedding_dim, PROPRIO_DIM, ACTION_DIM), synchronous, status)
            if remote.is_remote(cfg)
            else None
        )
    except BaseException:
        if console is not None:
            console.close()
        raise
    agent = (
        None
        if link
        else SAC(encoder.spec.embedding_dim, PROPRIO_DIM, ACTION_DIM, cfg.agent, device=device, seed=cfg.seed)
    )
    replay = (
        None
        if link
        else ReplayBuffer(
            encoder.spec.embedding_dim,
            PROPRIO_DIM,
            ACTION_DIM,
            cfg.agent.replay_capacity,
            directory=replay_dir(run),
            flush_every=cfg.agent.replay_flush_every,
            seed=cfg.seed,
        )
    )
    log = RunLog(run)
    trajectory = TrajectoryRecorder(trajectories_path(run))
    state = LoopState()
    adir = agent_dir(run)
    adir.mkdir(exist_ok=True)
    t_wall = time.monotonic()
    if resume:
        state = _resume(run, agent, replay, log, status, device=str(device), torch_threads=threads, learner=cfg.learner)
    else:
        if (
            (adir / LEARNER_FILE).exists()
            or (adir / STATE_FILE).exists()
            or read_laps(run)
            or any(replay_dir(run).glob("chunk_*"))
        ):
            if link:
                link.close()
            raise FastrlapError(
                f"{run.path} already holds a practice session; continue it with "
                f"`fastrlap practice resume={run.path}` or start a new run directory"
            )
        demo_set = demo_transitions(demo, spec, encoder, cfg)
        for tr in demo_set:
            (link or replay).insert(tr)
        # A first checkpoint before driving: from here on, resume always finds a learner and the demo.
        (link.checkpoint if link else lambda job: job())(_checkpoint_job(run, agent, replay, state, trajectory.cut()))
        log.event(
            0.0,
            "start",
            demo_transitions=len(demo_set),
            encoder=cfg.agent.encoder,
            device=str(device),
            torch_threads=threads,
            learner=cfg.learner,
        )
    for torn in log.torn:
        log.event(state.practice_time, "repaired", file=torn.path.name, dropped=torn.text)
        status(torn.describe())
    learner = link or (
        SyncLearner(agent, replay, cfg.practice.start_training)
        if synchronous
        else ThreadedLearner(agent, replay, cfg.practice.start_training, cfg.practice.actor_sync_seconds)
    )

    wandb = WandbLogger(cfg.wandb, run.path, OmegaConf.to_container(OmegaConf.structured(cfg)), run.path.name)
    # The keyboard e-stop reads stdin only when it is a terminal in the foreground (keys.py).
    keys = KeyReader(stdin_fd() if cfg.practice.estop_key else None, on_change=lambda stopped, message: status(message))
    dashboard = Dashboard(keys=keys) if cfg.practice.dashboard else None
    # One set of live figures per tick for both displays (none to compute when neither is shown).
    live = LiveTracker(cfg.practice.minutes * 60.0) if dashboard is not None or console is not None else None
    stops = [s for s in (keys if keys.enabled else None, console.remote if console else None) if s is not None]

    def on_lap(row: LapRow) -> None:
        log.lap(row)
        if console is not None:
            console.feed.lap(row)
        wandb.lap(row)
        status(
            f"lap {row.lap:3d}  {row.lap_time_s:6.2f} s  at {row.practice_time_s / 60:5.2f} min  "
            f"collisions {row.collisions}  mean {row.mean_speed_mps:.2f} m/s"
        )

    def on_event(t: float, kind: str, data: dict) -> None:
        log.event(t, kind, **data)
        if console is not None:
            console.feed.event(t, kind, data)
        if kind in SHOUTED_EVENTS:
            status(data["detail"])  # the operator must act or know now, not at the next dashboard refresh

    loop = PracticeLoop(
        vehicle,
        Course(spec),
        encoder,
        learner,
        cfg,
        distance_to_polyline(demo.lap_path()),
        state=state,
        on_lap=on_lap,
        on_event=on_event,
        operator_stop=first_hold(*stops) if stops else None,
        continue_presses=keys.continue_presses if keys.enabled else None,
    )

    # Simulator only: nobody is there to carry a car back from outside the geofence (sim_operator.py).
    carry_back = (
        SimOperator(
            vehicle, demo.lap_path(), cfg.practice.sim_carry_back_s, on_event=lambda t, kind, d: log.event(t, kind, **d)
        )
        if isinstance(vehicle, Carriable) and cfg.practice.sim_carry_back_s > 0
        else None
    )

    def summary() -> RunSummary:
        return _summary(loop.state, demo, learner.updates, len(learner.replay), oracle_lap, time.monotonic() - t_wall)

    saved = {"checkpoint": time.monotonic(), "flush": time.monotonic()}  # wall time of the last writes
    watch = remote.LinkWatch(link, on_event) if link else None

    def periodic(lp: PracticeLoop) -> None:
        st = lp.state
        if carry_back is not None:
            carry_back(lp)
        if live is not None:
            now_state = live.update(lp)
            if dashboard is not None:
                dashboard.update(now_state)
            if console is not None:
                console.update(now_state)
        obs = lp.last_obs
        if watch is not None:
            watch(st.practice_time)
        trajectory.add(st.practice_time, obs.pose.x, obs.pose.y, math.hypot(*obs.velocity), lp.mode, st.laps + 1)
        now = time.monotonic()
        if (
            st.ticks % cfg.practice.checkpoint_every == 0
            or now - saved["checkpoint"] >= cfg.practice.checkpoint_seconds
        ):
            learner.checkpoint(_checkpoint_job(run, agent, replay, st, trajectory.cut()))
            saved["checkpoint"] = saved["flush"] = now
        elif replay is not None and now - saved["flush"] >= cfg.agent.replay_flush_seconds:
            learner.checkpoint(replay.flush)  # in the writer's order: after every queued transition
            saved["flush"] = now
        if st.ticks % cfg.practice.summary_every == 0:
            log.summary(summary())
            wandb.metrics(learner.last_metrics, st.practice_time)

    remaining = cfg.practice.minutes * 60.0 - state.practice_time
    try:
        keys.start()
        if keys.enabled:
            status("space = e-stop (the car stops and waits; c continues, Ctrl-C ends practice)")
        loop.run(max(0.0, remaining), max_ticks=cfg.practice.max_ticks, on_tick=periodic)
    except KeyboardInterrupt:
        log.event(loop.state.practice_time, "interrupted", detail="Ctrl-C")
        status(f"interrupted; continue with `fastrlap practice resume={run.path}`")
    finally:
        keys.close()  # the terminal as it was, whatever ended the run
        learner.close()  # the writer stores every queued transition and runs every queued checkpoint
        if dashboard is not None:
            dashboard.close()
        wandb.close()
        final = _finish(run, agent, replay, loop.state, trajectory, log, learner.error, summary)
    return final


def _finish(
    run: RunDir,
    agent: SAC | None,
    replay: ReplayBuffer | None,
    state: LoopState,
    trajectory: TrajectoryRecorder,
    log: RunLog,
    learner_error: BaseException | None,
    summary: Callable[[], RunSummary],
) -> RunSummary:
    """The last checkpoint, summary and `end` event of a session, whatever ended it.

    A failed write (disk full, read-only) does not stop the rest: each part is attempted, the logs
    record what could not be saved, and the first failure is raised as one line that says how
    many transitions of this session are lost. With a remote learner (no agent, no replay here)
    every transition is in the spool before the link sends it, so none is counted as unsaved."""
    failures: list[FastrlapError] = []

    def attempt(write: Callable[[], object]) -> None:
        try:
            write()
        except FastrlapError as e:
            failures.append(e)

    if learner_error is not None:
        if isinstance(learner_error, FastrlapError):
            failures.append(learner_error)
        attempt(lambda: log.event(state.practice_time, "fault", what="learner", detail=repr(learner_error)))
    attempt(_checkpoint_job(run, agent, replay, state, trajectory.cut()))
    final = summary()
    attempt(lambda: log.summary(final))
    unsaved = replay.unsaved if replay is not None else 0
    attempt(
        lambda: log.event(state.practice_time, "end", ticks=state.ticks, laps=state.laps, unsaved_transitions=unsaved)
    )
    log.close()
    if failures:
        lost = (
            f"{unsaved} transitions driven since the last completed flush could not be saved"
            if unsaved
            else "every transition is saved"
        )
        raise StorageError(f"{failures[0]} ({lost}; resume with `fastrlap practice resume={run.path}`)")
    return final


def _checkpoint_job(
    run: RunDir,
    agent: SAC | None,
    replay: ReplayBuffer | None,
    state: LoopState,
    write_trajectory: Callable[[], object],
) -> Callable[[], None]:
    """The replay flush first (the driving data cannot be recreated; the weights can, from it),
    then the trajectory chunk, the counters and the learner weights — each written atomically.
    Every part is attempted even when an earlier one fails (a learner write that hits a full disk
    must not skip the replay), and the first failure is raised after. The counters are copied
    now; the writing may happen later, in the threaded learner's writer thread (the car's
    control loop never waits for the disk). Without an agent and a replay (the learner is on
    another machine, which keeps those) only the trajectory and the counters are written."""
    counters = json.dumps({"version": STATE_VERSION, **asdict(state)})
    parts = (write_trajectory, lambda: atomic_write_text(agent_dir(run) / STATE_FILE, counters))
    if agent is not None and replay is not None:
        parts = (replay.flush, *parts, lambda: agent.save(agent_dir(run) / LEARNER_FILE))

    def job() -> None:
        failures = []
        for part in parts:
            try:
                part()
            except FastrlapError as e:
                failures.append(e)
        if failures:
            raise failures[0]

    return job


def _resume(
    run: RunDir, agent: SAC | None, replay: ReplayBuffer | None, log: RunLog, status: Callable[[str], None], **context
) -> LoopState:
    """Replay, learner and counters back from the run directory; what had to be dropped or
    rebuilt is reported in the `resume` event and on `status`. Without an agent and a replay
    (the learner is on another machine) only the counters come back."""
    if agent is None or replay is None:
        notes = ["the learner and its replay are on the learner's machine"]
        if not (agent_dir(run) / STATE_FILE).exists():
            raise FastrlapError(
                f"{agent_dir(run) / STATE_FILE} not found: nothing to resume in {run.path}; "
                f"start practice without resume="
            )
        return _restore_counters(run, notes, log, status, critic_updates=None, **context)
    report = replay.load()
    notes = [report.summary()]
    learner_path = agent_dir(run) / LEARNER_FILE
    if learner_path.exists():
        agent.load(learner_path)
    elif len(replay):
        notes.append(
            f"no {LEARNER_FILE} (killed before its first checkpoint, or deleted): the learner starts "
            f"afresh from the stored transitions"
        )
    else:
        raise FastrlapError(
            f"{learner_path} not found and {replay_dir(run)} holds no transitions: nothing to "
            f"resume in {run.path}; start practice without resume="
        )
    return _restore_counters(run, notes, log, status, critic_updates=agent.critic_updates, **context)


def _restore_counters(
    run: RunDir, notes: list[str], log: RunLog, status: Callable[[str], None], **context
) -> LoopState:
    """The loop's counters from loop_state.json, brought level with laps.csv; logs the resume."""
    state, note = _read_state(agent_dir(run) / STATE_FILE)
    if note:
        notes.append(note)
    # laps.csv is appended (and fsync'd) lap by lap, so it is ahead of the last checkpoint after
    # a kill -9: continue numbering and the practice clock from it.
    laps, unreadable = read_laps_checked(run)
    if unreadable:
        notes.append(f"skipped {unreadable} unreadable rows of laps.csv")
    if laps:
        state.laps = max(state.laps, laps[-1].lap)
        state.practice_time = max(state.practice_time, laps[-1].practice_time_s)
        state.lap_times = [r.lap_time_s for r in laps]
        state.best_lap = min(state.lap_times)
        state.first_lap_time = laps[0].practice_time_s
    msg = "; ".join(notes)
    log.event(state.practice_time, "resume", replay=msg, laps=state.laps, **context)
    status(
        f"resumed {run.path}: {state.laps} laps so far, {state.practice_time / 60:.2f} min practised; {msg} "
        f"(demo and practice transitions: the replay buffer the dashboard shows)"
    )
    return state


def _read_state(path: Path) -> tuple[LoopState, str]:
    """The counters of the last checkpoint, or fresh ones and a note saying why (laps.csv then
    restores the lap count and practice clock)."""
    if not path.exists():
        return LoopState(), f"no {path.name}: counters restart from laps.csv"
    try:
        data = json.loads(path.read_text())
        version = data.pop("version", STATE_VERSION)
        if version == STATE_VERSION:
            return LoopState(**data), ""
        problem = f"format version {version}, this fastrlap reads {STATE_VERSION}"
    except (OSError, ValueError, TypeError, AttributeError) as e:
        problem = f"unreadable ({type(e).__name__})"
    return LoopState(), f"{path.name} {problem}: ignored, counters restart from laps.csv"


def _summary(
    state: LoopState, demo: Demo, updates: int, buffer: int, oracle_lap: float | None, wall: float
) -> RunSummary:
    return RunSummary(
        demo_lap_s=float(demo.lap_time),
        first_lap_practice_min=None if state.first_lap_time is None else state.first_lap_time / 60.0,
        best_lap_s=state.best_lap,
        laps=state.laps,
        collisions=state.collisions,
        recoveries=state.recoveries,
        practice_min=state.practice_time / 60.0,
        ticks=state.ticks,
        critic_updates=updates,
        replay_size=buffer,
        wall_s_this_session=wall,
        oracle_lap_s=oracle_lap,
    )


def evaluate(
    run: RunDir, vehicle: Vehicle, cfg: Config, laps: int, status: Callable[[str], None] = print
) -> list[float]:
    """Drive `laps` timed laps with the deterministic policy, no learning; writes evaluation.csv.

    Laps are timed by the run's checkpoints exactly as in practice, and the same supervisor and
    safety filter drive the car: on a car the RC transmitter still takes over, a crash or a stuck
    car still gets its recovery, the firmware's e-stop and the space key still stop it. Nothing is
    learned and nothing enters the replay buffer. `cfg.practice.max_ticks` (when > 0) bounds the
    drive in control ticks; Ctrl-C ends it early and the laps so far are still written."""
    demo, spec = _load_run_inputs(run)
    learner_path = agent_dir(run) / LEARNER_FILE
    if not learner_path.exists():
        raise FastrlapError(f"{learner_path} not found; practise first with `fastrlap practice run_dir={run.path}`")
    device = practice_device(cfg)
    encoder = build_encoder(cfg, device)
    agent = SAC(encoder.spec.embedding_dim, PROPRIO_DIM, ACTION_DIM, cfg.agent, device=device, seed=cfg.seed)
    agent.load(learner_path)
    times: list[float] = []
    rows: list[LapRow] = []

    def on_lap(row: LapRow) -> None:
        times.append(row.lap_time_s)
        rows.append(row)
        status(f"evaluation lap {len(times)}: {row.lap_time_s:.2f} s, collisions {row.collisions}")

    def on_event(t: float, kind: str, data: dict) -> None:
        if kind == "mode" and data["new"] != "LEARNING":
            status(f"  {t:6.1f} s  {data['old']} -> {data['new']} ({data['reason']})")

    replay = ReplayBuffer(encoder.spec.embedding_dim, PROPRIO_DIM, ACTION_DIM, 1)
    learner = SyncLearner(agent, replay, start_training=math.inf)
    keys = KeyReader(stdin_fd() if cfg.practice.estop_key else None, on_change=lambda stopped, message: status(message))
    loop = PracticeLoop(
        vehicle,
        Course(spec),
        encoder,
        learner,
        cfg,
        distance_to_polyline(demo.lap_path()),
        on_lap=on_lap,
        on_event=on_event,
        learn=False,
        deterministic=True,
        operator_stop=first_hold(keys) if keys.enabled else None,
    )
    # One lap to reach the start line plus the timed laps, with a generous time limit.
    budget = (laps + 1) * max(60.0, 3.0 * float(demo.lap_time))
    try:
        keys.start()
        loop.run(budget, max_ticks=cfg.practice.max_ticks, should_stop=lambda: len(times) >= laps)
    except KeyboardInterrupt:
        status(f"interrupted after {len(times)} of {laps} laps")
    finally:
        keys.close()
    lines = ["lap,lap_time_s,collisions,recoveries,mean_speed_mps,max_speed_mps"]
    lines += [
        f"{i},{r.lap_time_s:.4f},{r.collisions},{r.recoveries},{r.mean_speed_mps:.4f},{r.max_speed_mps:.4f}"
        for i, r in enumerate(rows, 1)
    ]
    atomic_write_text(Path(run.path) / "evaluation.csv", "\n".join(lines) + "\n")
    if len(times) < laps:
        status(
            f"{len(times)} of {laps} laps completed in {loop.state.ticks} ticks "
            f"({loop.state.practice_time:.0f} s of driving); evaluation.csv holds those"
        )
    return times
