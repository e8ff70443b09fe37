"""One snapshot of the run per tick, read by the terminal dashboard and by the console's page:
both show the same figures, so neither may compute its own."""

from types import SimpleNamespace

import numpy as np
import pytest

from fastrlap.console import feed as feed_mod
from fastrlap.console.feed import ConsoleFeed, TrackMap
from fastrlap.console.remote import STOPPED_HELP
from fastrlap.practice.dashboard import Dashboard
from fastrlap.practice.live_state import LiveTracker
from fastrlap.practice.loop import LoopState
from fastrlap.practice.pace import LearnerPace
from fastrlap.practice.stops import Hold
from fastrlap.practice.supervisor import Mode
from fastrlap.types import Pose
from fastrlap.vehicle.pose_auth import PoseRejections


class Clock:
    """Wall time the test sets."""

    t = 100.0

    def __call__(self) -> float:
        return self.t


def loop_with(updates: int, pace: LearnerPace | None = None):
    """A loop stopped from the console after two laps; the wheels spin faster than the car moves
    (7 m/s against 5 m/s over the ground), as on a slippery floor."""
    obs = SimpleNamespace(
        pose=Pose(1.0, 2.0, 0.3),
        velocity=np.array([3.0, 4.0]),
        wheel_speed=7.0,
        t=50.0,
        frame_t=49.8,
        frame=np.zeros((8, 8, 3), dtype=np.uint8),
    )
    state = LoopState(laps=2, lap_times=[14.0, 12.5], best_lap=12.5, collisions=3, practice_time=90.0)
    return SimpleNamespace(
        last_obs=obs,
        mode=Mode.STOPPED,
        state=state,
        learner=SimpleNamespace(updates=updates, replay=[None] * 130),
        link_message="serial link back on /dev/ttyUSB0: the car waits",
        operator_hold=Hold("console", STOPPED_HELP),
        pose_rejections=PoseRejections(unauthenticated=3, replayed=1),
        supervisor=SimpleNamespace(stop_reason="e-stop (console)"),
        pace=pace or LearnerPace(control_hz=10.0, utd_ratio=8),
    )


def test_the_dashboard_and_the_console_show_the_same_figures(monkeypatch, capsys):
    monkeypatch.setattr(feed_mod, "SNAPSHOT_HZ", 1e9)  # the page takes every tick's figures
    clock = Clock()
    live = LiveTracker(total_time=600.0, clock=clock)
    updates = 0
    behind = LearnerPace(control_hz=10.0, utd_ratio=8)
    behind.check(90)  # 9 s of driving owed: the learner cannot keep up
    for rate in [80.0] * 10 + [20.0] * 10:  # the learner slows down: 80, then 20 updates/s
        clock.t += 0.5
        updates += int(rate * 0.5)
        state = live.update(loop_with(updates, behind))
    assert state.updates_per_s == pytest.approx(20.0)  # measured over the last seconds, not since start
    assert state.speed == 5.0 and state.camera_age == pytest.approx(0.2)
    assert state.estop_source == "console" and state.poses_rejected == "3 unauthenticated, 1 replayed"

    dash = Dashboard(live=False, every_s=0.0)
    dash.update(state)
    line = capsys.readouterr().out
    feed = ConsoleFeed(
        TrackMap.from_arrays(np.zeros((0, 2)), []), demo_lap=20.0, oracle_lap=None, camera_fps=5.0, camera_width=64
    )
    feed.update(state)
    page = feed.snapshot()
    for shown in (
        f"mode {page['mode']}",
        f"laps {page['laps']}",
        f"last lap {page['lap_times'][-1]:.2f} s",
        f"best lap {page['best_lap']:.2f} s",
        f"speed {page['speed']:.1f} m/s",
        f"updates/s {page['updates_per_s']:.0f}",
        f"buffer {page['buffer']}",
        f"practice {page['practice_time'] / 60:.2f} / {page['total_time'] / 60:.1f} min",
        f"e-stop {page['estop']}",
        f"link {page['link']}",
        f"learner pace {page['learner_pace']}",
    ):
        assert shown in line
    assert (page["speed"], page["updates_per_s"], page["estop_source"]) == (5.0, 20.0, "console")
    assert page["stop_reason"] == "e-stop (console)" and "poses rejected 3 unauthenticated, 1 replayed" in line
    dash.close()
