"""Dashboard lines and wandb logging (offline files in the run directory)."""

from dataclasses import replace

import pytest

from fastrlap.config import WandbConfig
from fastrlap.errors import FastrlapError
from fastrlap.practice.dashboard import Dashboard, WandbLogger
from fastrlap.practice.live_state import LiveState
from fastrlap.practice.supervisor import Mode
from fastrlap.types import LapRow

STATE = LiveState(
    mode=Mode.LEARNING,
    stop_reason="",
    estop="",
    estop_source="",
    speed=2.0,
    laps=2,
    lap_times=(14.0, 12.5),
    best_lap=12.5,
    collisions=3,
    practice_time=90.0,
    total_time=600.0,
    updates_per_s=41.0,
    buffer=130,  # 90 demo transitions and the 40 of practice
    link="",
    learner_link="",
    learner_pace="",
    poses_rejected="",
    car=None,
    camera_age=None,
)


def test_plain_dashboard_line_has_the_fields(capsys):
    dash = Dashboard(live=False, every_s=0.0)
    dash.update(STATE)
    line = capsys.readouterr().out.strip()
    for part in (
        "mode LEARNING",
        "laps 2",
        "last lap 12.50 s",
        "best lap 12.50 s",
        "collisions 3",
        "buffer 130",
        "practice 1.50 / 10.0 min",
        "updates/s 41",
        "speed 2.0 m/s",
    ):
        assert part in line
    dash.update(STATE)  # throttled: at most one line per every_s
    dash.close()


def test_wandb_disabled_is_a_no_op_and_bad_mode_is_one_line(tmp_path):
    off = WandbLogger(WandbConfig(mode="disabled"), tmp_path, {}, "x")
    off.lap(
        LapRow(
            lap=1,
            practice_time_s=30.0,
            lap_time_s=12.0,
            collisions=0,
            recoveries=0,
            mean_speed_mps=1.0,
            max_speed_mps=2.0,
        )
    )
    off.close()
    assert not any(tmp_path.iterdir())
    with pytest.raises(FastrlapError, match="wandb.mode"):
        WandbLogger(WandbConfig(mode="sometimes"), tmp_path, {}, "x")


def test_wandb_offline_writes_into_the_run_directory(tmp_path):
    log = WandbLogger(WandbConfig(mode="offline"), tmp_path, {"track": "oval"}, "run-1")
    log.lap(
        LapRow(
            lap=1,
            practice_time_s=30.0,
            lap_time_s=12.0,
            collisions=0,
            recoveries=0,
            mean_speed_mps=1.0,
            max_speed_mps=2.0,
        )
    )
    log.metrics({"critic_loss": 0.5}, practice_time=60.0)
    log.close()
    assert list((tmp_path / "wandb").glob("offline-run-*"))


def test_the_estop_line_shows_at_once_and_says_how_to_continue(capsys):
    from fastrlap.practice.keys import HELP, STOPPED_HELP

    class Keys:  # a KeyReader reading a terminal
        enabled = True

    dash = Dashboard(live=False, every_s=1e9, keys=Keys())
    dash.update(STATE)
    assert f"keys {HELP}" in capsys.readouterr().out
    dash.update(STATE)
    assert capsys.readouterr().out == ""  # throttled
    dash.update(replace(STATE, estop=STOPPED_HELP, estop_source="space key"))  # the throttle does not delay it
    assert f"e-stop {STOPPED_HELP}" in capsys.readouterr().out
    dash.update(STATE)
    assert "e-stop" not in capsys.readouterr().out.replace(HELP, "")
    dash.close()


def test_a_lost_link_shows_at_once_and_refused_poses_are_counted(capsys):
    dash = Dashboard(live=False, every_s=1e9)
    dash.update(STATE)
    assert "link" not in (out := capsys.readouterr().out) and "rejected" not in out
    dash.update(
        replace(
            STATE,
            mode=Mode.LINK_LOST,
            link="serial link lost: /dev/ttyUSB0",
            poses_rejected="3 unauthenticated, 1 replayed",
        )
    )  # not held back by the throttle
    out = capsys.readouterr().out
    assert "mode LINK_LOST" in out and "link serial link lost: /dev/ttyUSB0" in out
    assert "poses rejected 3 unauthenticated, 1 replayed" in out
    dash.close()


def test_a_remote_learner_shows_its_link_state_in_the_line(capsys):
    dash = Dashboard(live=False, every_s=0.0)
    dash.update(replace(STATE, learner_link="lost 1.2 s, weights v800, 31 unacked"))  # a learner on another machine
    assert "learner lost 1.2 s, weights v800, 31 unacked" in capsys.readouterr().out
    dash.close()


def test_a_learner_that_cannot_keep_up_says_so_in_the_line(capsys):
    dash = Dashboard(live=False, every_s=0.0)
    dash.update(STATE)
    assert "learner pace" not in capsys.readouterr().out
    dash.update(replace(STATE, learner_pace="learner 7 s behind: this computer cannot run UTD 8 in real time"))
    assert "learner pace learner 7 s behind: this computer cannot run UTD 8" in capsys.readouterr().out
    dash.close()
