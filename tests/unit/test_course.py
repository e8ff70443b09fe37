"""Checkpoint extraction, the Course (advancing, laps) and the one LapTimer, on hand-made paths."""

import math

import numpy as np
import pytest

from fastrlap.course.checkpoints import (
    CheckpointsFileError,
    Course,
    extract_checkpoints,
    load_checkpoints,
    save_checkpoints,
)
from fastrlap.types import Pose


def circle_drive(radius, speed, hz, seconds, phase=0.3, noise=0.0, seed=0):
    """Counter-clockwise circle at constant speed, sampled at `hz`; returns t (N,), poses (N, 3)."""
    t = np.arange(0.0, seconds, 1.0 / hz)
    th = phase + speed * t / radius - math.pi / 2  # start at the bottom, heading +x
    rng = np.random.default_rng(seed)
    x = radius * np.cos(th) + rng.normal(0, noise, len(t))
    y = radius * np.sin(th) + radius + rng.normal(0, noise, len(t))
    return t, np.stack([x, y, th + math.pi / 2], axis=1)


def one_lap(radius, speed, hz, noise=0.0):
    """The demo path of exactly one lap (start and end on the same point, as record-demo cuts it)."""
    t, poses = circle_drive(radius, speed, hz, 2 * math.pi * radius / speed, phase=0.0, noise=noise)
    return np.vstack([poses[:, :2], poses[:1, :2]])


def run(course, t, poses, collisions=None, standing_start=False):
    steps = []
    course.reset(t[0], Pose(*poses[0]), standing_start=standing_start)
    for i in range(1, len(t)):
        hit = bool(collisions[i]) if collisions is not None else False
        steps.append(course.update(t[i], Pose(*poses[i]), collision=hit))
    return steps


@pytest.mark.parametrize("radius,speed,hz", [(4.0, 2.0, 10.0), (6.0, 5.5, 10.0), (3.0, 1.0, 20.0)])
def test_lap_time_on_a_constant_speed_circle(radius, speed, hz):
    spec = extract_checkpoints(one_lap(radius, speed, hz), spacing=3.0, goal_radius=1.0, gate_half_width=2.0)
    course = Course(spec)
    period = 2 * math.pi * radius / speed
    # Start a third of a tick off the checkpoint grid so crossings fall between ticks.
    t, poses = circle_drive(radius, speed, hz, 4.5 * period, phase=0.37 * speed / hz / radius)
    run(course, t, poses)
    assert len(course.laps) >= 3
    for lap in course.laps:
        assert lap.time == pytest.approx(period, rel=0.01)
    # Sub-tick: the interpolated crossings beat tick rounding by far on a steady circle.
    assert max(abs(lap.time - period) for lap in course.laps) < 0.1 / hz


def test_checkpoints_are_in_order_and_evenly_spaced():
    radius = 5.0
    spec = extract_checkpoints(
        one_lap(radius, 1.5, 10.0, noise=0.02), spacing=3.0, goal_radius=1.0, gate_half_width=2.0
    )
    length = 2 * math.pi * radius
    assert spec.course_length == pytest.approx(length, rel=0.02)
    assert len(spec.checkpoints) == round(length / 3.0)
    xy = np.array([[c.x, c.y] for c in spec.checkpoints])
    angles = np.unwrap(np.arctan2(xy[:, 1] - radius, xy[:, 0]))
    assert np.all(np.diff(angles) > 0)  # counter-clockwise, the way the demo drove
    assert xy[0] == pytest.approx([0.0, 0.0], abs=0.05)  # checkpoint 0 is the start/finish
    gaps = np.linalg.norm(np.diff(np.vstack([xy, xy[:1]]), axis=0), axis=1)
    chord = 2 * radius * math.sin(spec.spacing / radius / 2)
    assert gaps == pytest.approx(chord, abs=0.08)
    for c, (x, y) in zip(spec.checkpoints, xy):  # tangent headings on a CCW circle
        tangent = math.atan2(y - radius, x) + math.pi / 2
        assert math.remainder(c.heading - tangent, 2 * math.pi) == pytest.approx(0.0, abs=0.05)


def test_standing_still_at_the_start_adds_no_length():
    lap = one_lap(5.0, 1.5, 10.0)
    rng = np.random.default_rng(1)
    parked = lap[:1] + rng.normal(0, 0.02, (50, 2))  # 5 s at rest with 2 cm pose noise
    a = extract_checkpoints(lap, 3.0, 1.0, 2.0)
    b = extract_checkpoints(np.vstack([parked, lap]), 3.0, 1.0, 2.0)
    assert b.course_length == pytest.approx(a.course_length, abs=0.1)


def straight_course():
    """A 12 m square course with checkpoints every 3 m, driven counter-clockwise."""
    side = np.linspace(0, 12, 121)[:-1]
    xy = np.concatenate(
        [
            np.stack([side, 0 * side], 1),
            np.stack([12 + 0 * side, side], 1),
            np.stack([12 - side, 12 + 0 * side], 1),
            np.stack([0 * side, 12 - side], 1),
            [[0, 0]],
        ]
    )
    return extract_checkpoints(xy, spacing=3.0, goal_radius=1.0, gate_half_width=2.0)


def test_passing_just_outside_the_goal_radius_still_advances():
    spec = straight_course()
    cp1 = spec.checkpoints[1]
    assert (cp1.x, cp1.y) == pytest.approx((3.0, 0.0), abs=0.05)
    course = Course(spec)
    course.reset(0.0, Pose(0.0, 0.0, 0.0))
    assert course.target == 1
    # 1.3 m to the side of checkpoint 1 (radius 1 m), at 6 m/s: never inside, but the gate is crossed.
    xs = np.arange(0.5, 6.0, 0.6)
    reached = [course.update(0.1 * i, Pose(x, 1.3, 0.0)).reached for i, x in enumerate(xs, 1)]
    assert (1,) in reached
    assert course.target == 2


def test_no_advance_outside_the_gate_or_backwards():
    spec = straight_course()
    course = Course(spec)
    course.reset(0.0, Pose(0.0, 0.0, 0.0))
    for i, x in enumerate(np.arange(0.5, 6.0, 0.6), 1):  # 2.5 m to the side: beyond the gate's half width
        course.update(0.1 * i, Pose(x, -2.5, 0.0))
    assert course.target == 1
    course.reset(0.0, Pose(6.0, 1.5, math.pi))  # past checkpoint 2 (x=6) on its left
    assert course.target == 3
    for i, x in enumerate(np.arange(6.0, 1.0, -0.5), 1):  # reversing down the straight crosses gates backwards
        course.update(0.1 * i, Pose(x, 1.5, math.pi))
    assert course.target == 3 and not course.laps


def test_goal_features_are_in_the_body_frame():
    spec = straight_course()
    course = Course(spec)
    g = course.reset(0.0, Pose(0.0, 0.0, math.pi / 2))  # facing +y; checkpoint 1 is at (3, 0): to the right
    assert g.distance == pytest.approx(3.0, abs=0.05)
    assert g.direction == pytest.approx([0.0, -1.0], abs=0.02)


def lap_of_square(t0=0.0, speed=3.0, hz=10.0):
    path = straight_course()
    pts = np.array([[c.x, c.y] for c in path.checkpoints] + [[0.0, 0.0]])
    seg = np.concatenate(
        [
            np.linspace(a, b, int(np.linalg.norm(b - a) / (speed / hz)), endpoint=False)
            for a, b in zip(pts[:-1], pts[1:])
        ]
    )
    return seg


def test_a_lap_needs_every_checkpoint_in_order():
    spec = straight_course()
    course = Course(spec)
    # Back and forth across the start line: crossings, but never round the course.
    xs = [-1.0, 1.0, -1.0, 1.0, -1.0, 1.0]
    course.reset(0.0, Pose(-3.0, 0.0, 0.0))
    for i, x in enumerate(xs, 1):
        course.update(float(i), Pose(x, 0.0, 0.0))
    assert course.laps == []


def test_laps_and_per_lap_collisions():
    spec = straight_course()
    course = Course(spec)
    lap = lap_of_square()
    path = np.vstack([lap, lap, lap[:5]])
    t = np.arange(len(path)) * 0.1
    yaw = np.zeros(len(path))
    collisions = np.zeros(len(path), bool)
    collisions[30:33] = True  # one collision lasting three ticks in lap 1
    collisions[len(lap) + 10] = collisions[len(lap) + 50] = True  # two in lap 2
    run(course, t, np.column_stack([path, yaw]), collisions, standing_start=True)
    assert [lap_.lap for lap_ in course.laps] == [1, 2]
    assert [lap_.collisions for lap_ in course.laps] == [1, 2]
    assert course.laps[0].time == pytest.approx(len(lap) * 0.1, abs=1e-6)  # standing start at t=0


def test_checkpoints_file_round_trip_and_errors(tmp_path):
    spec = straight_course()
    path = tmp_path / "checkpoints.json"
    save_checkpoints(spec, path)
    assert load_checkpoints(path) == spec
    path.write_text(path.read_text().replace('"format_version": 1', '"format_version": 7'))
    with pytest.raises(CheckpointsFileError, match="version 7"):
        load_checkpoints(path)
    path.write_text("{ not json")
    with pytest.raises(CheckpointsFileError, match="checkpoints.json"):
        load_checkpoints(path)
