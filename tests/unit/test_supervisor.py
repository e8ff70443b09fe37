"""The practice state machine on synthetic observations: teleop, stops, illegal transitions."""

import numpy as np
import pytest

from fastrlap.config import SupervisorConfig
from fastrlap.errors import FastrlapError
from fastrlap.practice.supervisor import TRANSITIONS, IllegalTransition, Mode, StopReason, Supervisor
from fastrlap.types import Command, ImuReading, Observation, Pose


def obs(t, x=0.0, teleop=None, estop=False, frame_age=0.0, accel=(0.0, 0.0), link_lost=""):
    return Observation(
        t=t,
        frame=np.zeros((4, 4, 3), np.uint8),
        imu=ImuReading(accel=np.array([accel[0], accel[1], 9.81]), gyro=np.zeros(3)),
        wheel_speed=0.0,
        pose=Pose(x, 0.0, 0.0),
        velocity=np.zeros(2),
        yaw_rate=0.0,
        teleop=teleop,
        estop=estop,
        link_lost=link_lost,
        frame_t=t - frame_age,
    )


def make(events=None, **kw):
    return Supervisor(
        SupervisorConfig(**kw),
        distance_to_path=lambda x, y: abs(x),
        control_hz=10.0,
        on_event=(events.append if events is not None else None),
    )


def test_teleop_takes_over_and_hands_back_after_release():
    events = []
    sup = make(events)
    assert sup.tick(obs(0.0)).mode == Mode.LEARNING
    human = Command(speed=1.0, steer=0.1)
    tick = sup.tick(obs(0.1, teleop=human))
    assert tick.mode == Mode.TELEOP and tick.override == human
    assert sup.tick(obs(0.3)).mode == Mode.TELEOP  # released 0.2 s ago: still the human's
    assert sup.tick(obs(0.7)).mode == Mode.LEARNING
    assert [e.new for e in events] == [Mode.LEARNING, Mode.TELEOP, Mode.LEARNING]


def test_estop_stale_camera_and_geofence_stop_until_cleared():
    sup = make(geofence=2.0, stale_after=0.5)
    sup.tick(obs(0.0))
    for stop in (obs(0.1, estop=True), obs(0.1, frame_age=0.8), obs(0.1, x=3.0)):
        tick = sup.tick(stop)
        assert tick.mode == Mode.STOPPED and tick.override == Command(0.0, 0.0)
        assert sup.tick(stop).mode == Mode.STOPPED  # waits while the condition holds
        assert sup.tick(obs(0.2)).mode == Mode.LEARNING  # cleared -> STARTING -> LEARNING
    assert "geofence" in sup.stop_reason


def test_each_stop_has_a_typed_reason_and_the_text_runs_have_always_logged():
    events = []
    sup = make(events, geofence=2.0, stale_after=0.5)
    sup.tick(obs(0.0))
    stops = [
        (obs(0.1, estop=True), StopReason.ESTOP, "e-stop"),
        (obs(0.1, frame_age=0.8), StopReason.STALE_CAMERA, "stale camera (0.80 s old)"),
        (obs(0.1, x=3.0), StopReason.GEOFENCE, "geofence (3.0 m from the demo path)"),
    ]
    for stop, reason, text in stops:
        sup.tick(stop)
        assert sup.stopped_for is reason and sup.stop_reason == text
        assert events[-1].reason == text  # what events.jsonl holds, word for word as in older runs
        sup.tick(obs(0.2))
    sup.tick(obs(0.3), operator_stop="e-stop (space key)")
    assert sup.stopped_for is StopReason.ESTOP and sup.stop_reason == "e-stop (space key)"


def test_an_illegal_transition_ends_a_command_with_one_line():
    with pytest.raises(FastrlapError) as err:
        make().transition(0.0, Mode.RECOVERY, "not from STARTING")
    assert isinstance(err.value, IllegalTransition) and "\n" not in str(err.value)


def test_a_human_may_drive_back_from_outside_the_geofence():
    sup = make(geofence=2.0)
    sup.tick(obs(0.0, x=3.0))
    assert sup.mode == Mode.STOPPED
    assert sup.tick(obs(0.1, x=3.0, teleop=Command(-0.5, 0.0))).mode == Mode.TELEOP
    assert sup.tick(obs(0.2, x=2.5, teleop=Command(-0.5, 0.0))).mode == Mode.TELEOP


def test_crash_starts_a_timed_recovery_with_reverse():
    sup = make(crash_accel=15.0, recovery_seconds=1.0)
    sup.tick(obs(0.0))
    tick = sup.tick(obs(0.1, accel=(-30.0, 0.0)))
    assert tick.mode == Mode.RECOVERY and tick.crash_started and tick.impact == pytest.approx(3.0)
    assert tick.override.speed < 0
    assert sup.tick(obs(0.6)).mode == Mode.RECOVERY
    assert sup.tick(obs(1.1)).mode == Mode.LEARNING


def test_the_table_is_enforced_and_errored_is_terminal():
    sup = make()
    with pytest.raises(IllegalTransition):
        sup.transition(0.0, Mode.RECOVERY, "not from STARTING")
    sup.error(0.0, "boom")
    assert sup.mode == Mode.ERRORED and not TRANSITIONS[Mode.ERRORED]
    assert sup.tick(obs(0.1, teleop=Command(1.0, 0.0))).mode == Mode.ERRORED


def test_an_estop_holds_against_human_input_until_released():
    events = []
    sup = make(events)
    sup.tick(obs(0.0))
    tick = sup.tick(obs(0.1), operator_stop="e-stop (space key)")
    assert tick.mode == Mode.STOPPED and tick.override == Command(0.0, 0.0)
    assert sup.stop_reason == "e-stop (space key)"
    # A human input while the operator's e-stop holds does not move the car, nor flip the mode.
    for t in (0.2, 0.3, 0.4):
        tick = sup.tick(obs(t, teleop=Command(1.0, 0.0)), operator_stop="e-stop (space key)")
        assert tick.mode == Mode.STOPPED and tick.override == Command(0.0, 0.0)
    assert sup.tick(obs(0.5, teleop=Command(1.0, 0.0), estop=True)).mode == Mode.STOPPED  # the firmware's too
    assert sup.tick(obs(0.6)).mode == Mode.LEARNING  # released: STARTING -> LEARNING
    assert [e.new for e in events] == [Mode.LEARNING, Mode.STOPPED, Mode.STARTING, Mode.LEARNING]


NEUTRAL = Command(0.0, 0.0)


def test_a_lost_link_stops_and_only_a_human_confirmation_lets_the_car_drive_again():
    events = []
    sup = make(events)
    sup.tick(obs(0.0))
    lost = sup.tick(obs(0.1, link_lost="/dev/ttyUSB0", estop=True))  # a real car reports both
    assert lost.mode == Mode.LINK_LOST and lost.override == NEUTRAL and sup.lost_port == "/dev/ttyUSB0"
    # a key pressed while the link is down, and the link's return itself, confirm nothing
    assert sup.tick(obs(0.2, link_lost="/dev/ttyUSB0"), confirm="c key").mode == Mode.LINK_LOST
    back = sup.tick(obs(0.3), confirm="c key")
    assert back.mode == Mode.AWAITING_CONFIRM and back.override == NEUTRAL
    for t in (0.4, 5.0, 60.0):  # the link is fine: still nobody said go
        assert sup.tick(obs(t)).override == NEUTRAL and sup.mode == Mode.AWAITING_CONFIRM
    # an e-stop held at the same time keeps it waiting, confirmation or not
    assert sup.tick(obs(60.1), operator_stop="e-stop (space key)", confirm="c key").mode == Mode.AWAITING_CONFIRM
    go = sup.tick(obs(60.2), confirm="c key")
    assert go.mode == Mode.LEARNING and go.override is None
    assert [(e.old, e.new) for e in events] == [
        (Mode.STARTING, Mode.LEARNING),
        (Mode.LEARNING, Mode.LINK_LOST),
        (Mode.LINK_LOST, Mode.AWAITING_CONFIRM),
        (Mode.AWAITING_CONFIRM, Mode.STARTING),
        (Mode.STARTING, Mode.LEARNING),
    ]
    assert events[1].reason == "serial link lost: /dev/ttyUSB0"
    assert "/dev/ttyUSB0" in events[2].reason and events[3].reason == "confirmed by the operator (c key)"


def test_the_transmitter_confirms_a_returned_link_and_a_second_loss_waits_again():
    events = []
    sup = make(events)
    sup.tick(obs(0.0))
    sup.tick(obs(0.1, link_lost="/dev/ttyACM0"))
    sup.tick(obs(0.2))
    assert sup.mode == Mode.AWAITING_CONFIRM
    assert sup.tick(obs(0.3, link_lost="/dev/ttyACM0")).mode == Mode.LINK_LOST  # lost again while waiting
    assert sup.tick(obs(0.4)).mode == Mode.AWAITING_CONFIRM
    human = Command(speed=0.5, steer=0.0)
    tick = sup.tick(obs(0.5, teleop=human))
    assert tick.mode == Mode.TELEOP and tick.override == human
    assert events[-1].reason == "confirmed by the transmitter (human input)"
    assert sup.tick(obs(1.2)).mode == Mode.LEARNING  # released, as after any takeover
    # a link lost while a human drives, or while stopped for another reason, is LINK_LOST too
    sup.tick(obs(1.3, teleop=human))
    assert sup.tick(obs(1.4, link_lost="/dev/ttyACM0")).mode == Mode.LINK_LOST
    sup2 = make(geofence=2.0)
    sup2.tick(obs(0.0, x=3.0))
    assert sup2.mode == Mode.STOPPED
    assert sup2.tick(obs(0.1, x=3.0, link_lost="/dev/ttyACM0")).mode == Mode.LINK_LOST
    sup2.tick(obs(0.2, x=3.0))
    # confirmed while outside the geofence: the usual stop applies at once
    assert sup2.tick(obs(0.3, x=3.0), confirm="c key").mode == Mode.STOPPED
