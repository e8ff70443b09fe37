"""Track loading, validation errors, and projection geometry."""

import math

import numpy as np
import pytest
import yaml

from fastrlap.sim.track import TrackError, builtin_tracks, load_track, parse_track

SQUARE = {"name": "sq", "width": 1.5, "centerline": [[0, 0], [10, 0], [10, 10], [0, 10]]}


def test_builtin_tracks_are_varied_and_sized():
    race, prior = builtin_tracks("race"), builtin_tracks("prior")
    assert len(race) >= 6 and len(prior) >= 3 and not set(race) & set(prior)
    walls = set()
    for name in race:
        track = load_track(name)
        assert 25.0 <= track.length <= 80.0, name
        walls.add((bool(track.wall_left.any()), bool(track.wall_left.all()), bool(track.wall_right.all())))
    assert len(walls) >= 3  # walled, unwalled and mixed courses
    assert any(load_track(n).obstacles for n in race)
    looks = {tuple(sorted(load_track(n).surface.items())) for n in prior}
    assert len(looks) == len(prior)


def test_track_by_path(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(SQUARE))
    track = load_track(str(path))
    assert track.name == "sq" and track.length > 30


@pytest.mark.parametrize(
    "change, field",
    [
        ({"centerline": [[0, 0], [1, 0], [1, 1]]}, "centerline"),
        ({"width": 0}, "width"),
        ({"width": -1.0}, "width"),
        ({"lanes": 2}, "unknown key"),
        ({"walls": "sometimes"}, "walls"),
        ({"centerline": [[0, 0], [10, 0], [0, 10], [10, 10]]}, "intersects itself"),
        ({"width": 16.0}, "edge"),
        ({"obstacles": [{"center": [30, 30], "size": [0.4, 0.4]}]}, "obstacles[0]"),
        ({"obstacles": [{"center": [5, 0], "size": [0.4, 0.4], "colour": "red"}]}, "obstacles[0]"),
        ({"surface": {"track": "lava"}}, "surface.track"),
    ],
)
def test_invalid_tracks_give_one_line_errors_naming_file_and_field(tmp_path, change, field):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**SQUARE, **change}))
    with pytest.raises(TrackError) as err:
        load_track(str(path))
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and field in msg


def test_unknown_name_and_missing_file_are_clear():
    with pytest.raises(TrackError, match="built-in tracks are"):
        load_track("no_such_track")
    with pytest.raises(TrackError, match="not found"):
        load_track("/nonexistent/track.yaml")


def test_projection_inverts_point_at():
    track = load_track("hairpin")
    rng = np.random.default_rng(0)
    for s, n in zip(rng.uniform(0, track.length, 200), rng.uniform(-0.8, 0.8, 200)):
        x, y = track.point_at(s, n)
        pr = track.project(float(x), float(y))
        ds = (pr.s - s + track.length / 2) % track.length - track.length / 2
        assert abs(ds) < 0.02 and abs(pr.n - n) < 0.01


def test_centerline_is_closed_and_smooth():
    track = load_track("technical")
    steps = np.linalg.norm(np.diff(np.vstack([track.xy, track.xy[:1]]), axis=0), axis=1)
    assert steps.max() < 1.5 * track.ds
    turn = np.sum(np.angle(np.exp(1j * np.diff(np.append(track.heading, track.heading[0])))))
    assert abs(abs(turn) - 2 * math.pi) < 1e-6  # one full revolution: a simple closed loop


def test_wall_sections_follow_inner_and_outer():
    track = load_track("figure")
    assert track.wall_left.any() and track.wall_right.any()
    assert not (track.wall_left & track.wall_right).all()
    data = dict(SQUARE, walls="inner")
    inner = parse_track(data)
    assert inner.counter_clockwise and inner.wall_left.all() and not inner.wall_right.any()
