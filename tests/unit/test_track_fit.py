"""A track that cannot hold a lap for the car and the course settings is refused at load."""

import pytest

from fastrlap.cli import main
from fastrlap.config import CourseConfig
from fastrlap.course.track_fit import check_track_fits
from fastrlap.sim.dynamics import CarParams
from fastrlap.sim.track import TrackError, builtin_tracks, load_track, parse_track

SQUARE = {"name": "sq", "width": 1.5, "centerline": [[0, 0], [10, 0], [10, 10], [0, 10]]}


@pytest.mark.parametrize("track", builtin_tracks())
def test_every_built_in_track_holds_a_lap(track):
    check_track_fits(load_track(track), CarParams(), CourseConfig())


@pytest.mark.parametrize(
    "change, course, words",
    [
        ({"centerline": [[0, 0], [1.2, 0], [1.2, 1.2], [0, 1.2]], "width": 0.6}, {}, "shorter than a demo lap"),
        ({"width": 0.4}, {}, "narrower than the car"),
        ({"obstacles": [{"center": [0.2, 0.0], "size": [0.4, 0.4]}]}, {}, "stands on the starting spot"),
        ({}, {"lap_close_radius": 8.0}, "could never close"),
        ({}, {"checkpoint_spacing": 0.5, "goal_radius": 1.0}, "within their course.goal_radius"),
    ],
)
def test_a_track_that_cannot_hold_a_lap_is_one_line_naming_file_and_problem(change, course, words):
    track = parse_track({**SQUARE, **change}, source="tracks/mine.yaml")
    with pytest.raises(TrackError) as err:
        check_track_fits(track, CarParams(), CourseConfig(**course))
    message = str(err.value)
    assert message.startswith("tracks/mine.yaml: ") and words in message and "\n" not in message


def test_record_demo_on_a_tiny_square_is_refused_before_driving(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.yaml").write_text(
        "name: tiny\nwidth: 0.6\ncenterline: [[0, 0], [1.2, 0], [1.2, 1.2], [0, 1.2]]\n"
    )
    assert main(["record-demo", "track=tiny.yaml"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "tiny.yaml: the loop is" in err[0] and "course.min_demo_length" in err[0]
    assert not (tmp_path / "runs").exists()
