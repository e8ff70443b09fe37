"""First-person camera: geometry (walls left/right, sky on top, ground ahead), shapes, determinism,
noise and brightness, the top-down map."""

import dataclasses

import numpy as np
import pytest
import yaml

from fastrlap.config import CameraConfig
from fastrlap.sim import render
from fastrlap.sim.render import Renderer, top_down
from fastrlap.sim.textures import Grid, Painter, paint_surface
from fastrlap.sim.track import SURFACES, load_track, parse_track, resolve_track_path

CAM = CameraConfig(look="clean")  # the renderer's geometry is easiest to check on flat shading


def oval_with(walls, surface=None):
    """The built-in oval with other walls (and surfaces): geometry we know, one thing changed."""
    data = yaml.safe_load(resolve_track_path("oval").read_text())
    data["walls"] = walls
    if surface:
        data["surface"] = surface
    return parse_track(data, source=f"oval-walls-{walls}")


def straight_pose(track, s=-4.0, n=0.0):
    """A pose on the oval's bottom straight (x from -8 to 8 at y=-4.5), looking along it."""
    p = track.point_at(s % track.length, n)
    return float(p[0]), float(p[1]), track.heading_at(s % track.length)


@pytest.fixture(scope="module")
def bare():
    return Renderer(oval_with("none"), CAM)


@pytest.fixture(scope="module")
def oval():
    return Renderer(load_track("oval"), CAM)


def wall_pixels(walled: Renderer, bare: Renderer, pose) -> np.ndarray:
    """(H, W) bool: pixels that change when barriers are added to the same track."""
    return np.any(walled.render(*pose) != bare.render(*pose), axis=-1)


@pytest.mark.parametrize("side", ["left", "right"])
def test_a_wall_appears_on_its_own_side_of_the_image(bare, side):
    walled = Renderer(oval_with([{"side": side}]), CAM)
    pose = straight_pose(walled.track, s=-2.0)
    wall = wall_pixels(walled, bare, pose)
    half = CAM.width // 2
    left_count, right_count = wall[:, :half].sum(), wall[:, half:].sum()
    assert wall.sum() > 150  # a barrier 1 m to the side is plainly visible
    own, other = (left_count, right_count) if side == "left" else (right_count, left_count)
    # The far end of the straight curves away, so a little of the barrier there may cross over.
    assert own > 5 * max(other, 1)


def test_walls_are_drawn_between_ground_and_their_top(oval, bare):
    # Beside a wall at 1 m the barrier (0.25 m) rises above the horizon: the camera is at 0.16 m.
    pose = straight_pose(oval.track, s=-2.0)
    wall = wall_pixels(oval, bare, pose)
    horizon = int(
        np.ceil(
            CAM.height / 2 - (CAM.width / 2) / np.tan(np.radians(CAM.fov_deg / 2)) * np.tan(np.radians(-CAM.pitch_deg))
        )
    )
    rows = np.flatnonzero(wall.any(axis=1))
    assert rows.min() < horizon - 1 < horizon + 1 < rows.max()
    assert not wall[: horizon - 20].any()  # nothing in the upper sky


def test_sky_is_at_the_top_and_does_not_move(oval):
    a = oval.render(*straight_pose(oval.track, s=-4.0))
    b = oval.render(*straight_pose(oval.track, s=20.0))
    top = a[:20].reshape(-1, 3).astype(int)
    assert np.all(top[:, 2] > top[:, 0] + 40)  # outdoor sky: blue
    np.testing.assert_array_equal(a[:20], b[:20])
    bottom = a[-20:].reshape(-1, 3).astype(int)
    assert np.mean(bottom[:, 2] > bottom[:, 0] + 40) < 0.05  # the ground is not sky


def test_the_image_changes_with_pose(oval):
    x, y, yaw = straight_pose(oval.track, s=-4.0)
    base = oval.render(x, y, yaw).astype(int)
    for pose in [(x + 0.3, y, yaw), (x, y + 0.3, yaw), (x, y, yaw + 0.2)]:
        diff = np.abs(oval.render(*pose).astype(int) - base).sum(axis=-1) > 0
        assert diff.mean() > 0.3, pose


def mean_colour(track, name):
    grid = Grid(-5.0, -5.0, 0.025, (400, 400))
    return paint_surface(Painter(track.name), name, grid, 0.025).reshape(-1, 3).mean(axis=0)


@pytest.mark.parametrize("lateral,expect", [(0.0, "track"), (4.0, "offtrack")])
def test_ground_straight_ahead_shows_the_surface_under_it(lateral, expect):
    track = load_track("sweeper")  # asphalt on grass, no walls
    r = Renderer(track, CAM)
    p = track.point_at(2.0, lateral)
    frame = r.render(float(p[0]), float(p[1]), track.heading_at(2.0))
    patch = frame[-30:, CAM.width // 2 - 15 : CAM.width // 2 + 15].reshape(-1, 3).mean(axis=0)
    want = mean_colour(track, track.surface[expect])
    other = mean_colour(track, track.surface["offtrack" if expect == "track" else "track"])
    assert np.linalg.norm(patch - want) < 0.5 * np.linalg.norm(patch - other)


@pytest.mark.parametrize("height,width", [(128, 128), (64, 96)])
def test_shape_and_dtype_follow_the_camera_config(height, width):
    cam = dataclasses.replace(CAM, height=height, width=width)
    r = Renderer(load_track("chicane"), cam)
    frame = r.render(*straight_pose(r.track))
    assert frame.shape == (height, width, 3) and frame.dtype == np.uint8
    assert frame.flags.c_contiguous


def test_frames_are_deterministic_and_fresh_arrays(oval):
    pose = straight_pose(oval.track, s=3.0, n=0.4)
    a = oval.render(*pose)
    render._TABLES.clear()  # paint everything again from scratch
    rebuilt = Renderer(load_track("oval"), CAM)
    np.testing.assert_array_equal(rebuilt.render(*pose), a)
    b = oval.render(*pose)
    assert a is not b and not np.shares_memory(a, b)


def test_renderers_sharing_tables_do_not_disturb_each_other():
    oval, twin = Renderer(load_track("oval"), CAM), Renderer(load_track("oval"), CAM)
    assert twin._atlas is oval._atlas and twin._u is not oval._u
    p, q = straight_pose(oval.track, s=3.0), straight_pose(oval.track, s=30.0)
    alone_p, alone_q = oval.render(*p), oval.render(*q)
    for _ in range(2):  # interleaved
        np.testing.assert_array_equal(oval.render(*p), alone_p)
        np.testing.assert_array_equal(twin.render(*q), alone_q)


def test_turning_moves_the_distant_scenery_sideways():
    track = load_track("sweeper")  # no walls: above the horizon only sky and scenery
    r = Renderer(track, CAM)
    x, y, yaw = straight_pose(track, s=5.0)
    band = slice(38, 51)  # rows just above the horizon, where hills and trees stand
    a = r.render(x, y, yaw)[band].astype(int)
    b = r.render(x, y, yaw + np.radians(8.0))[band].astype(int)
    np.testing.assert_array_equal(r.render(x, y, yaw + 2 * np.pi)[band], a)
    # Turning left moves what lies ahead to the right: b shifted left by ~10 columns matches a.
    err = {d: np.abs(b[:, 30 + d : 98 + d] - a[:, 30:98]).mean() for d in range(-16, 17)}
    best = min(err, key=err.get)
    assert 6 <= best <= 14 and err[best] < 0.5 * err[0]


def test_sensor_noise_only_with_noise_std_and_reproducible():
    track = load_track("technical")
    quiet = Renderer(track, CAM)
    pose = straight_pose(track, s=1.0)
    clean = quiet.render(*pose)
    np.testing.assert_array_equal(quiet.render(*pose, rng=np.random.default_rng(0)), clean)
    noisy = Renderer(track, dataclasses.replace(CAM, noise_std=6.0))
    a = noisy.render(*pose, rng=np.random.default_rng(1))
    b = noisy.render(*pose, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    assert np.mean(a != clean) > 0.5
    assert abs(a.astype(float).mean() - clean.astype(float).mean()) < 1.0
    np.testing.assert_array_equal(noisy.render(*pose), clean)  # no rng, no noise


def test_brightness_scales_the_frame(oval):
    pose = straight_pose(oval.track)
    base = oval.render(*pose).astype(float)
    dim = oval.render(*pose, brightness=0.5).astype(float)
    assert abs(dim.mean() - 0.5 * base.mean()) < 1.0


def test_prior_environments_look_different_from_race_tracks(oval):
    warehouse = Renderer(load_track("warehouse"), CAM)
    a = oval.render(*straight_pose(oval.track))
    t = warehouse.track
    p = t.point_at(1.0, 0.0)
    b = warehouse.render(float(p[0]), float(p[1]), t.heading_at(1.0))
    # Different sky (indoor hall) and floor: the mean colours differ plainly.
    assert np.linalg.norm(a[:30].reshape(-1, 3).mean(0) - b[:30].reshape(-1, 3).mean(0)) > 40
    assert np.linalg.norm(a[-40:].reshape(-1, 3).mean(0) - b[-40:].reshape(-1, 3).mean(0)) > 40


def test_far_off_the_map_still_renders(oval):
    frame = oval.render(200.0, -150.0, 1.0)
    assert frame.shape == (CAM.height, CAM.width, 3)


def test_top_down_shows_track_obstacles_and_maps_points():
    track = load_track("chicane")
    img, to_px = top_down(track, px_per_m=20.0)
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    px = to_px(track.xy)
    assert px.shape == track.xy.shape
    assert px[:, 0].min() > 0 and px[:, 0].max() < img.shape[1]
    assert px[:, 1].min() > 0 and px[:, 1].max() < img.shape[0]
    # North up: a point with larger y is higher in the image (smaller row).
    a, b = to_px(np.array([[0.0, -4.0], [0.0, 4.0]]))
    assert b[1] < a[1]
    c = np.round(to_px(np.array([track.obstacles[0].center]))[0]).astype(int)
    assert tuple(img[c[1], c[0]]) == (255, 110, 0)  # the obstacle's colour


def test_wall_distances_along_a_straight_are_exact(oval):
    # Ray casting against the barriers of the oval's bottom straight (y = -4.5 ± 1): the marched
    # and refined hit distance of every ray that meets them within 6 m matches the geometry.
    x, y = -5.0, -4.5 + 0.3  # heading +x (yaw 0): cos 1, sin 0, world rays = car-frame rays
    dist, _, _ = oval._march(x, y, 1.0, 0.0, complex(x, y), oval._ray_dir, True)
    sin = oval._ray_dir.imag
    lateral = np.where(sin > 0, 1.0 - 0.3, 1.0 + 0.3)  # to the left / right barrier
    with np.errstate(divide="ignore"):
        expect = lateral / np.abs(sin)
    near = expect < 6.0
    assert near.sum() > 60
    np.testing.assert_allclose(dist[near], expect[near], atol=0.02)


def test_an_obstacle_ahead_is_drawn_where_it_stands():
    track = load_track("chicane")
    renderer = Renderer(track, CAM)
    box = np.array(track.obstacles[0].center)
    for bearing in (0.0, 0.5):  # straight ahead, then turned so that it lies off to the right
        cam = box - 2.5 * np.array([1.0, 0.0])
        frame = renderer.render(float(cam[0]), float(cam[1]), bearing).astype(int)
        r, g, b = frame[..., 0], frame[..., 1], frame[..., 2]
        orange = (r > 100) & (r > 1.8 * g) & (g > 1.5 * b + 10)  # the boxes' hue, lit or shaded
        cols = np.flatnonzero(orange.any(axis=0))
        assert orange.sum() > 20
        centre = cols.mean() - CAM.width / 2
        # Its bearing from the camera is -bearing (right of the view axis for bearing > 0).
        f = (CAM.width / 2) / np.tan(np.radians(CAM.fov_deg / 2))
        expect = f * np.tan(bearing) * np.cos(np.radians(CAM.pitch_deg))
        assert abs(centre - expect) < 4, (bearing, centre, expect)


@pytest.mark.parametrize("name", SURFACES)
def test_surfaces_keep_their_average_colour_at_every_level_of_detail(name):
    # Far rasters are painted pre-filtered: coarse cells hold the local average of the fine
    # texture, not a sample of it, so distant ground has the same colour as near ground.
    painter = Painter("levels")
    fine = paint_surface(painter, name, Grid(-4.0, -4.0, 0.025, (320, 320)), 0.025)
    coarse = paint_surface(painter, name, Grid(-4.0, -4.0, 0.4, (20, 20)), 0.8)
    assert np.isfinite(fine).all() and np.isfinite(coarse).all()
    assert np.abs(fine.reshape(-1, 3).mean(0) - coarse.reshape(-1, 3).mean(0)).max() < 8
    assert fine.reshape(-1, 3).std(0).max() > 6  # near texture has visible detail (motion cue)
    assert coarse.reshape(-1, 3).std(0).max() < fine.reshape(-1, 3).std(0).max()


def test_environments_have_distinct_ground_colours():
    means = {
        n: paint_surface(Painter("x"), n, Grid(0.0, 0.0, 0.1, (64, 64)), 0.1).reshape(-1, 3).mean(0) for n in SURFACES
    }
    names = list(means)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert np.linalg.norm(means[a] - means[b]) > 12, (a, b)


def ground_points(cam: CameraConfig):
    """Car-frame ground point (forward, left) of every pixel centre, from the pinhole model
    written out independently of the renderer; nan above the horizon."""
    f = (cam.width / 2) / np.tan(np.radians(cam.fov_deg / 2))
    u = (np.arange(cam.width) + 0.5 - cam.width / 2) / f
    v = (np.arange(cam.height) + 0.5 - cam.height / 2) / f
    uu, vv = np.meshgrid(u, v)
    p = np.radians(cam.pitch_deg)
    # Camera axes in the car frame: optical axis (cos p, 0, sin p), right (0, -1, 0), down.
    d = np.stack([np.cos(p) + vv * np.sin(p), -uu, np.sin(p) - vv * np.cos(p)], axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(d[..., 2] < 0, cam.mount_height / -d[..., 2], np.nan)
    return d[..., 0] * scale, d[..., 1] * scale


def test_edge_lines_land_where_the_pinhole_model_puts_them():
    # Campus: a concrete path with yellow edge lines through grass; a straight at y = -9.5.
    track = load_track("campus")
    frame = Renderer(track, CAM).render(-4.0, -9.5, 0.0).astype(int)
    fwd, left = ground_points(CAM)
    half = track.width / 2
    near = (fwd > 0.5) & (fwd < 3.0)
    r, g, b = frame[..., 0], frame[..., 1], frame[..., 2]
    yellow = (r > 150) & (g > 130) & (b < 110)
    on_line = near & (np.abs(np.abs(left) - (half - 0.035)) < 0.015)
    on_path = near & (np.abs(left) < half - 0.3)
    on_grass = near & (np.abs(left) > half + 0.3)
    assert on_line.sum() > 10 and yellow[on_line].mean() > 0.8
    assert yellow[on_path].mean() < 0.02 and yellow[on_grass].mean() < 0.02
    assert (g[on_grass] > r[on_grass] + 20).mean() > 0.9  # grass is green
