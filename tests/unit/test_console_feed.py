"""The console's live figures: what one loop tick puts on the page (laps, where recoveries
began, the trail, the camera as a downscaled JPEG) and the event log's lines."""

from types import SimpleNamespace

import cv2
import numpy as np

from fastrlap.console import feed as feed_mod
from fastrlap.console.feed import ConsoleFeed, TrackMap, event_text
from fastrlap.console.remote import STOPPED_HELP
from fastrlap.practice.live_state import LiveTracker
from fastrlap.practice.loop import LoopState
from fastrlap.practice.pace import LearnerPace
from fastrlap.practice.stops import Hold
from fastrlap.practice.supervisor import Mode
from fastrlap.types import LapRow, Pose
from fastrlap.vehicle.pose_auth import PoseRejections


def fake_loop(x: float, mode: Mode, laps: list[float], updates: int = 0):
    obs = SimpleNamespace(
        pose=Pose(x, 1.0, 0.5),
        velocity=np.array([3.0, 4.0]),
        t=10.0,
        frame_t=9.9,
        frame=np.full((96, 128, 3), 200, dtype=np.uint8),
    )
    state = LoopState(laps=len(laps), lap_times=list(laps), best_lap=min(laps) if laps else None, practice_time=12.0)
    return SimpleNamespace(
        last_obs=obs,
        mode=mode,
        state=state,
        learner=SimpleNamespace(updates=updates, replay=[None] * 7),
        link_message="",
        operator_hold=None,
        pose_rejections=PoseRejections(),
        supervisor=SimpleNamespace(stop_reason=""),
        pace=LearnerPace(control_hz=10.0, utd_ratio=8),
    )


def test_a_tick_puts_laps_position_recoveries_and_camera_on_the_page(monkeypatch):
    monkeypatch.setattr(feed_mod, "SNAPSHOT_HZ", 1e9)  # every tick refreshes the figures
    feed = ConsoleFeed(
        TrackMap.from_arrays(np.zeros((0, 2)), []), demo_lap=20.0, oracle_lap=None, camera_fps=5.0, camera_width=64
    )
    live = LiveTracker(total_time=60.0)
    assert feed.camera_jpeg() is None
    feed.update(live.update(fake_loop(0.0, Mode.LEARNING, [])))
    feed.update(live.update(fake_loop(1.0, Mode.RECOVERY, [])))  # a pseudo-reset begins here
    feed.update(live.update(fake_loop(1.5, Mode.RECOVERY, [])))  # ... and goes on: still one
    feed.lap(
        LapRow(
            lap=1,
            practice_time_s=11.5,
            lap_time_s=11.5,
            collisions=0,
            recoveries=0,
            mean_speed_mps=5.0,
            max_speed_mps=6.0,
        )
    )
    feed.event(11.5, "mode", {"old": "LEARNING", "new": "RECOVERY", "reason": "crash"})
    feed.update(live.update(fake_loop(2.0, Mode.LEARNING, [11.5])))
    fig = feed.snapshot()
    assert fig["laps"] == 1 and fig["lap_times"] == [11.5] and fig["lap_ends"] == [11.5] and fig["best_lap"] == 11.5
    assert fig["speed"] == 5.0 and fig["car"] == (2.0, 1.0, 0.5) and fig["buffer"] == 7 and fig["total_time"] == 60.0
    assert fig["recoveries"] == [(1.0, 1.0)]
    assert fig["trail"] == [(0.0, 1.0), (1.0, 1.0), (1.5, 1.0), (2.0, 1.0)]  # every tick
    assert fig["events"][-1]["text"] == "LEARNING -> RECOVERY: crash"
    assert fig["camera_age"] == 0.1 and fig["frame"] >= 1
    jpeg = feed.camera_jpeg()
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert img.shape == (48, 64, 3)  # downscaled to camera_width, aspect kept
    assert feed.camera_jpeg() is jpeg  # encoded once per frame


def test_event_lines_are_short_and_readable():
    assert event_text("estop", {"source": "console", "active": True}) == "source console, active True"


def test_a_stop_reaches_the_page_at_once_other_figures_wait_for_the_next_snapshot(monkeypatch):
    monkeypatch.setattr(feed_mod, "SNAPSHOT_HZ", 1e-6)  # after the first, no snapshot for a very long time
    feed = ConsoleFeed(
        TrackMap.from_arrays(np.zeros((0, 2)), []), demo_lap=None, oracle_lap=None, camera_fps=5.0, camera_width=64
    )
    live = LiveTracker(total_time=60.0)
    feed.update(live.update(fake_loop(0.0, Mode.LEARNING, [])))
    feed.update(live.update(fake_loop(1.0, Mode.LEARNING, [12.0])))
    assert feed.snapshot()["laps"] == 0  # throttled
    held = fake_loop(2.0, Mode.STOPPED, [12.0])
    held.operator_hold = Hold("console", STOPPED_HELP)
    feed.update(live.update(held))
    fig = feed.snapshot()
    assert (fig["estop"], fig["estop_source"], fig["mode"], fig["laps"]) == (STOPPED_HELP, "console", "STOPPED", 1)


def test_a_learner_on_another_machine_puts_its_link_state_on_the_page(monkeypatch):
    monkeypatch.setattr(feed_mod, "SNAPSHOT_HZ", 1e9)
    feed = ConsoleFeed(
        TrackMap.from_arrays(np.zeros((0, 2)), []), demo_lap=20.0, oracle_lap=None, camera_fps=5.0, camera_width=64
    )
    live = LiveTracker(total_time=60.0)
    loop = fake_loop(0.0, Mode.LEARNING, [])
    feed.update(live.update(loop))
    assert feed.snapshot()["learner_link"] == ""  # the learner in this process
    loop.learner.link_state = "lost 2.0 s, weights v40, 12 unacked"
    feed.update(live.update(loop))
    assert feed.snapshot()["learner_link"] == "lost 2.0 s, weights v40, 12 unacked"
    assert feed.snapshot()["learner_pace"] == ""
    loop.pace.check(70)  # 7 s of driving whose updates are still owed
    feed.update(live.update(loop))
    assert feed.snapshot()["learner_pace"].startswith("learner 7 s behind")
