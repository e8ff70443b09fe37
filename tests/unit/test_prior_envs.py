"""The prior environments: each loads and renders in both camera looks, none has the shape of a
race track (nor of another prior environment), together they show more surfaces, light and
clutter than the race tracks, and the files are what scripts/prior_envs.py writes."""

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from fastrlap.config import CAMERA_LOOKS, CameraConfig, PretrainConfig
from fastrlap.sim.camera import SimCamera
from fastrlap.sim.props import place_props, place_walker
from fastrlap.sim.scene import LIGHTINGS, MARKINGS
from fastrlap.sim.track import SURFACES, builtin_tracks, load_track, tracks_dir

PRIOR, RACE = builtin_tracks("prior"), builtin_tracks("race")
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "prior_envs.py"


@pytest.mark.parametrize("name", PRIOR)
def test_each_prior_environment_renders_in_both_looks(name):
    track = load_track(name)
    s = 0.3 * track.length
    x, y = track.point_at(s, 0.0)
    frames = {}
    for look in CAMERA_LOOKS:
        camera = SimCamera(track, CameraConfig(look=look))
        camera.new_episode(np.random.default_rng(0))
        frame = camera.frame(float(x), float(y), track.heading_at(s), t=1.0, speed=1.0)
        assert frame.shape == (128, 128, 3) and frame.dtype == np.uint8
        assert frame.std() > 5  # a picture, not a blank
        frames[look] = frame.astype(int)
    assert np.abs(frames["clean"] - frames["realistic"]).mean() > 5
    assert place_walker(track, place_props(track, track.scene)) is not None


def _outline(name: str) -> np.ndarray:
    """160 points evenly along the track's centerline, centred on their mean (m)."""
    xy = load_track(name).xy
    points = xy[np.linspace(0, len(xy), 160, endpoint=False).astype(int)]
    return points - points.mean(axis=0)


def _shape_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Hausdorff distance (m) between two centred outlines, the least over turning b (5 degree
    steps) and mirroring it: about 0 for the same loop laid down any way round."""
    best = math.inf
    for mirror in (1.0, -1.0):
        flipped = b * (1.0, mirror)
        for angle in np.radians(np.arange(0.0, 360.0, 5.0)):
            c, s = math.cos(angle), math.sin(angle)
            d = cdist(a, flipped @ np.array([[c, s], [-s, c]]))
            best = min(best, max(d.min(axis=0).max(), d.min(axis=1).max()))
    return best


def test_no_prior_environment_has_the_shape_of_a_race_track_or_of_another():
    outlines = {name: _outline(name) for name in PRIOR + RACE}
    turned = outlines["oval"] @ np.array([[0.0, 1.0], [1.0, 0.0]])  # the oval mirrored and turned
    assert _shape_distance(outlines["oval"], turned) < 0.3
    for i, name in enumerate(PRIOR):
        for other in RACE + PRIOR[i + 1 :]:
            assert _shape_distance(outlines[name], outlines[other]) > 1.5, (name, other)


def test_the_prior_environments_show_more_than_the_race_tracks():
    prior = [load_track(name).scene for name in PRIOR]
    race = [load_track(name).scene for name in RACE]
    assert {load_track(name).surface[k] for name in PRIOR for k in ("track", "offtrack")} == set(SURFACES)
    assert {s.lighting for s in prior} == set(LIGHTINGS)
    assert {s.markings for s in prior} == set(MARKINGS)
    assert any(s.shiny for s in prior)
    for field in ("light_elevation_deg", "clutter"):
        ours, theirs = [getattr(s, field) for s in prior], [getattr(s, field) for s in race]
        assert min(ours) < min(theirs) and max(ours) > max(theirs), field
    assert sorted(PretrainConfig().envs) == PRIOR  # collect uses them all by default


def test_the_files_are_what_the_script_writes():
    spec = importlib.util.spec_from_file_location("prior_envs_script", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert {v.name for v in script.VENUES} <= set(PRIOR)
    for venue in script.VENUES:
        assert (tracks_dir() / "prior" / f"{venue.name}.yaml").read_text() == script.render_yaml(venue)
