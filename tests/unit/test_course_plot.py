"""Course maps: every map draws the track's walls and obstacles, and is sized to the track."""

import numpy as np
import pytest
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgba
from matplotlib.patches import Polygon

from fastrlap.course.checkpoints import extract_checkpoints
from fastrlap.course.plot import OBSTACLE_COLOR, WALL_COLOR, checkpoints_figure, draw_track, load_outline
from fastrlap.sim.track import load_track


def obstacle_boxes(ax):
    return [p for p in ax.patches if isinstance(p, Polygon) and p.get_facecolor() == to_rgba(OBSTACLE_COLOR)]


def wall_segments(ax):
    walls = [c for c in ax.collections if isinstance(c, LineCollection) and c.get_label() == "wall"]
    return np.concatenate([c.get_segments() for c in walls]) if walls else np.zeros((0, 2, 2))


def assert_map_shows(ax, track_name):
    """`ax` holds every obstacle box of the track at its true corners and every walled segment."""
    track = load_track(track_name)
    boxes = obstacle_boxes(ax)
    assert len(boxes) == len(track.obstacles)
    for box, ob in zip(boxes, track.obstacles):
        np.testing.assert_allclose(box.get_xy()[:4], ob.corners, atol=1e-9)
    markers = [line for line in ax.lines if line.get_label() == "obstacle"]
    if track.obstacles:
        centres = np.array([ob.center for ob in track.obstacles])
        np.testing.assert_allclose(np.c_[markers[0].get_xdata(), markers[0].get_ydata()], centres, atol=1e-9)
    walls = wall_segments(ax)
    assert len(walls) == int(
        (track.wall_left & np.roll(track.wall_left, -1)).sum()
        + (track.wall_right & np.roll(track.wall_right, -1)).sum()
    )
    assert all(
        c.get_colors()[0].tolist() == list(to_rgba(WALL_COLOR)) for c in ax.collections if c.get_label() == "wall"
    )


def course_of(track_name):
    track = load_track(track_name)
    path = np.vstack([track.xy, track.xy[:1]])
    return extract_checkpoints(path, spacing=3.0, goal_radius=1.0, gate_half_width=1.0, track=track_name), path


@pytest.mark.parametrize("track_name", ["chicane", "figure"])
def test_checkpoints_map_draws_walls_and_obstacles(track_name):
    spec, path = course_of(track_name)
    fig = checkpoints_figure(spec, demo_path=path, outline=load_outline(track_name))
    ax = fig.axes[0]
    assert_map_shows(ax, track_name)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "wall" in legend and "track edge" in legend and "demo path" in legend
    assert ("obstacle" in legend) == bool(load_track(track_name).obstacles)


def test_obstacles_are_drawn_in_their_colour_where_they_stand():
    """In the PNG itself: the pixel at each obstacle's centre has the obstacle colour."""
    spec, _ = course_of("chicane")
    fig = checkpoints_figure(spec, outline=load_outline("chicane"))
    fig.canvas.draw()
    img = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)
    want = np.array(to_rgba(OBSTACLE_COLOR)[:3]) * 255
    ax = fig.axes[0]
    for ob in load_track("chicane").obstacles:
        x, y = ax.transData.transform(ob.center)
        pixel = img[img.shape[0] - int(round(y)), int(round(x))]
        assert np.abs(pixel - want).max() < 20, (ob.center, pixel)


def test_a_wide_track_gets_a_wide_figure():
    spec, _ = course_of("chicane")  # 28 m by 13 m
    w, h = checkpoints_figure(spec, outline=load_outline("chicane")).get_size_inches()
    assert h < 0.75 * w


def test_draw_track_labels_only_what_the_track_has():
    from matplotlib.figure import Figure

    ax = Figure().add_subplot()
    draw_track(ax, load_outline("sweeper"))  # no walls, no obstacles
    assert not obstacle_boxes(ax) and not len(wall_segments(ax))
    assert [h.get_label() for h in ax.get_legend_handles_labels()[0]] == ["track edge"]
