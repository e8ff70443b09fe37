"""The practice loop against the simulator: state machine, episodes, safety, learner wiring."""

import math
import shutil

import numpy as np
import pytest

from fastrlap.agent.encoder import Encoder, EncoderSpec
from fastrlap.course.checkpoints import Course, load_checkpoints
from fastrlap.course.demo import load_demo
from fastrlap.practice.loop import PracticeLoop
from fastrlap.practice.run import open_run_dir, read_laps
from fastrlap.practice.session import distance_to_polyline, practice
from fastrlap.practice.sim_operator import SimOperator
from fastrlap.practice.stops import Hold
from fastrlap.practice.supervisor import Mode
from fastrlap.sim.drivers import OracleDriver
from fastrlap.sim.track import load_track
from fastrlap.types import Pose
from fastrlap.vehicle.sim import SimVehicle


class ScriptedLearner:
    """Stands in for the learner: returns a fixed or scripted action, stores what it is given."""

    def __init__(self, action_fn):
        self.action_fn = action_fn
        self.transitions = []
        self.updates = 0
        self.last_metrics = {}
        self.lag = 0

    def act(self, obs, deterministic):
        return np.asarray(self.action_fn(obs), dtype=np.float32)

    def insert(self, tr):
        self.transitions.append(tr)

    def on_transition(self):
        self.updates += 1


def make_loop(demo_run, action_fn, cfg, s=None, heading=0.0, track="oval"):
    car = SimVehicle(load_track(track), cfg.vehicle, seed=0)
    if s is not None:
        car.reset(s=s, heading=heading)
    spec = load_checkpoints(demo_run.checkpoints)
    demo = load_demo(demo_run.demo)
    learner = ScriptedLearner(action_fn)
    events = []
    loop = PracticeLoop(
        car,
        Course(spec),
        Encoder(EncoderSpec()).freeze(),
        learner,
        cfg,
        distance_to_polyline(demo.lap_path()),
        on_event=lambda t, k, d: events.append((t, k, d)),
    )
    return loop, learner, events, car


def modes(events):
    return [d["new"] for _, k, d in events if k == "mode"]


def test_driving_into_a_wall_triggers_recovery_and_the_car_backs_out(demo_run, tiny):
    def crash_run(*extra):
        loop, learner, events, car = make_loop(
            demo_run, lambda obs: [1.0, 0.0], tiny("oval", *extra), s=5.0, heading=math.pi / 2
        )
        for _ in range(12):
            if loop.tick() == Mode.RECOVERY:
                break
        return loop, learner, events, car

    free = crash_run("course.collision_penalty=0", "course.collision_penalty_per_mps=0")[1]
    loop, learner, events, car = crash_run()
    assert modes(events) == ["LEARNING", "RECOVERY"] and "crash" in events[-1][2]["reason"]
    # The same drive without a penalty differs only on the transition where the crash began.
    diff = [a.reward - b.reward for a, b in zip(learner.transitions, free.transitions)]
    assert len(diff) == len(learner.transitions) >= 2
    assert all(d == 0.0 for d in diff[:-1]) and diff[-1] <= -1.0
    assert learner.transitions[-1].mask == 1.0 and not learner.transitions[-1].done  # truncation: bootstrap
    # During recovery the car reverses away from the wall.
    track = load_track("oval")
    n_hit = abs(track.project(car.last_reading.state.x, car.last_reading.state.y).n)
    for _ in range(8):
        loop.tick()
    n_after = abs(track.project(car.last_reading.state.x, car.last_reading.state.y).n)
    assert n_after < n_hit - 0.1 or loop.mode == Mode.LEARNING


def test_the_loop_never_sends_an_action_outside_the_widening_speed_box(demo_run, tiny):
    cfg = tiny(
        "oval",
        "agent.action_limit_schedule=40",
        "agent.action_limit_start_min_speed=1",
        "agent.action_limit_start_max_speed=3",
    )
    rng = np.random.default_rng(0)
    # A policy that ignores its range: the loop must still keep every action inside the window.
    loop, learner, _, _ = make_loop(demo_run, lambda obs: rng.uniform(-1.5, 1.5, 2), cfg)
    checked = 0
    for _ in range(90):
        prev, n = loop.prev_action.copy(), loop.state.transitions
        loop.tick()
        if loop.pending is None:  # no action chosen by the policy this tick (recovery)
            continue
        a = loop.pending.action
        box_lo, box_hi = loop.limits.box(n)
        assert a[0] <= box_hi[0] + 1e-6
        assert a[0] >= min(box_lo[0], prev[0]) - 1e-6  # below the floor only while speeding up from rest
        assert np.all(np.abs(a - prev) <= 0.2 + 1e-6)
        assert loop.last_command.speed == pytest.approx(3.0 + 3.0 * float(a[0]), abs=1e-4)
        checked += 1
    assert checked > 60 and loop.state.transitions > 40
    # Stored transitions carry the range actually used, and the next one's range is the next tick's.
    chained = 0
    for k, tr in enumerate(learner.transitions):
        assert np.all(tr.action_lo <= tr.action) and np.all(tr.action <= tr.action_hi)
        box_lo, box_hi = loop.limits.box(k)
        assert tr.action_hi[0] <= box_hi[0] + 1e-6
        following = learner.transitions[k + 1] if k + 1 < len(learner.transitions) else None
        if following is not None and np.array_equal(tr.next_proprio, following.proprio):  # same episode
            chained += 1
            np.testing.assert_array_equal(tr.next_action_lo, learner.transitions[k + 1].action_lo)
            np.testing.assert_array_equal(tr.next_action_hi, learner.transitions[k + 1].action_hi)
    assert chained > 40


def test_a_car_held_still_triggers_stuck_recovery(demo_run, tiny):
    loop, learner, events, _ = make_loop(demo_run, lambda obs: [-1.0, 0.0], tiny())  # target speed 0
    for _ in range(29):
        loop.tick()
    assert "RECOVERY" not in modes(events)
    for _ in range(3):
        loop.tick()
    assert modes(events)[-1] == "RECOVERY"
    assert any("stuck" in d["reason"] for _, k, d in events if k == "mode")


def test_leaving_the_geofence_stops_the_car_and_terminates(demo_run, tiny):
    cfg = tiny("oval", "practice.supervisor.geofence=0.3")
    loop, learner, events, car = make_loop(demo_run, lambda obs: [-0.5, 0.4], cfg=cfg)  # curve off the path
    for _ in range(60):
        loop.tick()
        if loop.mode == Mode.STOPPED:
            break
    assert loop.mode == Mode.STOPPED
    assert learner.transitions[-1].done and learner.transitions[-1].mask == 0.0
    speed_before = car.last_reading.state.vx
    for _ in range(20):
        loop.tick()
    assert loop.mode == Mode.STOPPED and abs(car.last_reading.state.vx) < max(0.05, abs(speed_before))
    assert loop.last_command.speed == 0.0


def test_the_simulated_operator_carries_a_car_back_from_outside_the_geofence(demo_run, tiny):
    cfg = tiny("oval", "practice.supervisor.geofence=0.3")
    loop, learner, events, car = make_loop(demo_run, lambda obs: [-0.5, 0.4], cfg=cfg)  # curve off the path
    path = load_demo(demo_run.demo).lap_path()
    carried = []
    operator = SimOperator(car, path, wait_s=1.0, on_event=lambda t, k, d: carried.append((t, k, d)))
    stopped_at = None
    for i in range(80):
        loop.tick()
        operator(loop)
        if loop.mode == Mode.STOPPED and stopped_at is None:
            stopped_at = i
        if carried:
            break
    assert stopped_at is not None and learner.transitions[-1].done  # the excursion stays terminal
    assert carried and carried[0][1] == "operator" and "geofence" in carried[0][2]["reason"]
    assert i - stopped_at == 10  # 1 s at 10 Hz, not earlier
    st = car.last_reading.state
    assert distance_to_polyline(path)(st.x, st.y) < 0.3 and st.vx == 0.0
    loop.tick()
    operator(loop)
    assert modes(events)[-2:] == ["STARTING", "LEARNING"] and "cleared: geofence" in events[-2][2]["reason"]
    assert operator.carries == 1


def test_nan_action_sends_neutral_and_errors(demo_run, tiny):
    loop, learner, events, _ = make_loop(demo_run, lambda obs: [float("nan"), 0.0], tiny())
    loop.tick()
    assert loop.mode == Mode.ERRORED
    assert loop.last_command.speed == 0.0 and loop.last_command.steer == 0.0
    assert any(k == "fault" for _, k, _ in events) and modes(events)[-1] == "ERRORED"


def test_each_operator_stop_is_logged_and_reasoned_by_its_own_source(demo_run, tiny):
    """The space key stops the car, the console stops it too, the key is released: the car stays
    stopped, and from then on the console is named as what holds it."""
    script = {
        3: Hold("space key", "E-STOP (space)"),
        6: Hold("space key", "E-STOP (space)"),
        9: Hold("console", "E-STOP (console)"),
        12: None,
    }
    held = [None]
    loop, _, events, _ = make_loop(demo_run, lambda obs: [0.5, 0.0], tiny("oval"))
    loop.operator_stop = lambda: held[0]
    reasons = []
    for tick in range(15):
        held[0] = script.get(tick, held[0])
        loop.tick()
        reasons.append(loop.supervisor.stop_reason)
    assert [(d["source"], d["active"]) for _, k, d in events if k == "estop"] == [
        ("space key", True),
        ("space key", False),
        ("console", True),
        ("console", False),
    ]
    assert [d["reason"] for _, k, d in events if k == "mode" and d["new"] == "STOPPED"] == ["e-stop (space key)"]
    assert reasons[3] == "e-stop (space key)" and reasons[9] == "e-stop (console)"
    assert modes(events)[-2:] == ["STARTING", "LEARNING"]


def test_oracle_driven_loop_completes_laps_and_logs_speeds(demo_run, tiny):
    track = load_track("oval")
    cfg = tiny()
    holder = {}

    def oracle_action(obs):
        car = holder["car"]
        st = car.last_reading.state
        cmd = holder["driver"](Pose(st.x, st.y, st.yaw), st.vx)
        return [(cmd.speed - cfg.vehicle.speed_bias) / cfg.vehicle.speed_scale, cmd.steer / cfg.vehicle.max_steer]

    def drive():
        loop, learner, events, car = make_loop(demo_run, oracle_action, cfg=cfg)
        holder.update(car=car, driver=OracleDriver(track, car.params))
        laps = []
        loop.on_lap = laps.append
        loop.run(seconds=30.0)
        return laps, learner

    laps, learner = drive()
    assert len(laps) >= 2
    assert laps[-1].lap_time_s < 0.5 * load_demo(demo_run.demo).lap_time
    assert laps[-1].max_speed_mps > laps[-1].mean_speed_mps > 2.0
    assert drive()[0] == laps  # same seed, same laps to the last digit
    # Policy actions respect the per-step range (rate limit) they were sampled in.
    for tr in learner.transitions:
        assert np.all(tr.action >= tr.action_lo - 1e-6) and np.all(tr.action <= tr.action_hi + 1e-6)


def test_a_learner_that_falls_behind_is_reported_once_and_again_when_it_catches_up(demo_run, tiny):
    cfg = tiny()
    loop, learner, events, _ = make_loop(demo_run, lambda obs: [0.0, 0.0], cfg)
    owed = [0] * 20 + list(range(0, 80, 2)) + [45, 52, 48] + [0] * 10  # blocks owed after each transition
    backlog = iter(owed)

    def on_transition():
        learner.lag = next(backlog, 0)

    learner.on_transition = on_transition
    while loop.state.transitions < len(owed):
        loop.tick()
    pace = [(k, d) for _, k, d in events if k.startswith("learner_")]
    hz = loop.vehicle.control_hz
    assert [k for k, _ in pace] == ["learner_behind", "learner_caught_up"]  # 45-52 owed: still behind, once
    assert pace[0][1]["lag_s"] >= 5.0 and pace[0][1]["utd_ratio"] == cfg.agent.utd_ratio
    assert pace[1][1]["lag_s"] < 1.0 and not loop.pace.message
    learner.lag = int(6 * hz)
    loop.pace.check(learner.lag)
    assert loop.pace.message.startswith("learner 6 s behind: this computer cannot run UTD")


def test_practice_session_same_seed_same_run_and_resume(tmp_path, demo_run, tiny):
    runs = []
    for name in ("a", "b"):
        path = tmp_path / name
        shutil.copytree(demo_run.path, path)
        run = open_run_dir(path)
        cfg = tiny("oval", "practice.max_ticks=120")
        car = SimVehicle(load_track("oval"), cfg.vehicle, seed=0)
        summary = practice(run, car, cfg, status=lambda s: None)
        runs.append((run, summary))
    (ra, sa), (rb, sb) = runs
    assert (ra.path / "events.jsonl").read_text() == (rb.path / "events.jsonl").read_text()
    assert (ra.path / "laps.csv").read_text() == (rb.path / "laps.csv").read_text()
    assert sa.critic_updates == sb.critic_updates > 0 and sa.ticks == 120
    # Resume continues the clock, the counters and the replay buffer.
    cfg = tiny("oval", "practice.max_ticks=30")
    car = SimVehicle(load_track("oval"), cfg.vehicle, seed=0)
    messages = []
    again = practice(ra, car, cfg, resume=True, status=messages.append)
    assert again.ticks == 150 and again.practice_min > sa.practice_min
    assert again.replay_size > sa.replay_size
    assert any("resumed" in m for m in messages)
    assert len(read_laps(ra)) == again.laps >= sa.laps


def test_on_a_wall_clock_the_loop_holds_its_period_and_reports_jitter(demo_run, tiny):
    import dataclasses
    import time

    from fastrlap.vehicle.base import WallClock

    class WallPaced:
        """The simulator behind a wall clock, as a real car would be."""

        def __init__(self, car):
            self.car, self.clock, self.control_hz = car, WallClock(), car.control_hz

        def observe(self):
            t = self.clock.now()
            return dataclasses.replace(self.car.observe(), t=t, frame_t=t)

        def act(self, command):
            self.car.act(command)

        def stop(self):
            self.car.stop()

        def close(self):
            self.car.close()

    cfg = tiny("oval", "vehicle.control_hz=50")
    loop, learner, events, car = make_loop(demo_run, lambda obs: [-0.5, 0.0], cfg=cfg)
    loop.vehicle = WallPaced(car)
    t0 = time.monotonic()
    loop.run(seconds=1e9, max_ticks=105)
    assert time.monotonic() - t0 >= 104 / 50  # it waited for the period instead of running flat out
    timing = [d for _, k, d in events if k == "timing"]
    assert len(timing) == 1 and timing[0]["ticks"] == 100 and timing[0]["jitter_max_ms"] > 0.0
