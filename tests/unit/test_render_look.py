"""Camera looks of the simulator: the clean look stays byte-identical, the realistic look is
reproducible per seed, casts shadows (the walker's too) away from the light, keeps its walker off
the track and exposes with a first-order lag."""

import hashlib
from dataclasses import replace

import numpy as np
import pytest
import yaml

from fastrlap.config import CameraConfig, SimConfig, VehicleConfig
from fastrlap.errors import FastrlapError
from fastrlap.sim.camera import SimCamera
from fastrlap.sim.lighting import EXPOSURE_TAU, Lighting
from fastrlap.sim.materials import shadow_loss
from fastrlap.sim.props import WALKER_SIZE, Prop, place_props, place_walker
from fastrlap.sim.render import Renderer
from fastrlap.sim.scene import SceneError, SceneSpec
from fastrlap.sim.shadows import MovingShadow
from fastrlap.sim.track import load_track, parse_track, resolve_track_path
from fastrlap.types import Command
from fastrlap.vehicle.sim import SimVehicle

REALISTIC = CameraConfig(look="realistic")
CLEAN = CameraConfig(look="clean")
# Frames of the clean look (SimVehicle and Renderer, with noise and brightness jitter) as they
# were before the realistic look existed: the clean look must not change by a single byte.
CLEAN_DIGEST = "61d97ad8c47e2bb1bc9dbd93e495b238b9be88c4c906a37cf0a05a3cb3ad8c8c"


def test_clean_look_is_byte_identical_to_the_renderer_it_replaced():
    h = hashlib.sha256()
    for name in ("oval", "chicane"):
        track = load_track(name)
        cam = replace(CLEAN, noise_std=4.0, brightness_jitter=0.2)
        car = SimVehicle(track, VehicleConfig(sim=SimConfig(camera=cam)), seed=7)
        for _ in range(4):
            car.act(Command(speed=3.0, steer=0.1))
            h.update(car.observe().frame.tobytes())
        r = Renderer(track, cam)
        for s in (1.0, 7.5, 20.0):
            p = track.point_at(s, 0.3)
            h.update(
                r.render(
                    float(p[0]), float(p[1]), track.heading_at(s) + 0.2, rng=np.random.default_rng(3), brightness=0.9
                ).tobytes()
            )
    assert h.hexdigest() == CLEAN_DIGEST


def _realistic_frames(seed: int, track: str = "oval") -> list[np.ndarray]:
    car = SimVehicle(load_track(track), VehicleConfig(sim=SimConfig(camera=REALISTIC)), seed=seed)
    frames = []
    for k in range(6):
        car.act(Command(speed=3.0, steer=0.2 * np.sin(k / 2)))
        frames.append(car.observe().frame)
    return frames


def test_realistic_look_is_reproducible_per_seed_and_differs_between_seeds():
    a, b, c = _realistic_frames(3), _realistic_frames(3), _realistic_frames(4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))
    assert a[0].shape == (128, 128, 3) and a[0].dtype == np.uint8


def test_realistic_look_differs_from_the_clean_one():
    clean = SimCamera(load_track("oval"), CLEAN).frame(0.0, -4.5, 0.0)
    real = SimCamera(load_track("oval"), REALISTIC).frame(0.0, -4.5, 0.0)
    assert np.abs(clean.astype(int) - real.astype(int)).mean() > 5


def _oval_lit_from(azimuth_deg: float):
    """The oval (walls both sides) with a low sun from `azimuth_deg` and no props."""
    data = yaml.safe_load(resolve_track_path("oval").read_text())
    data["scene"] = {"lighting": "sun", "light_azimuth_deg": azimuth_deg, "light_elevation_deg": 15, "clutter": 0}
    return parse_track(data, source=f"oval-sun-{azimuth_deg}")


def _left_right_ground(azimuth_deg: float) -> float:
    """Mean ground brightness left of the image centre over that right of it, looking along +x
    on the oval's bottom straight (left is +y)."""
    frame = Renderer(_oval_lit_from(azimuth_deg), REALISTIC).render(-3.0, -4.5, 0.0).astype(float)
    ground = frame[64:100, :].mean(axis=2)  # the ground below the barriers' feet, up to ~1 m ahead
    return ground[:, :32].mean() / ground[:, 96:].mean()


def test_barriers_cast_their_shadows_away_from_the_light():
    # Light from the left (+y): the left barrier's shadow falls onto the track beside it, the
    # right barrier's falls outside the track. Light from the right: the other way round.
    assert _left_right_ground(90.0) < 0.8
    assert _left_right_ground(270.0) > 1.25


def _walker_seen_against(azimuth_deg: float) -> np.ndarray:
    """Grey frame of campus (no walls, no props, so no baked shadows) under a sun at 20 degrees
    from `azimuth_deg`, from 3 m south of the walker, looking north at it (+y)."""
    data = yaml.safe_load(resolve_track_path("campus").read_text())
    data["scene"] = {"lighting": "sun", "light_azimuth_deg": azimuth_deg, "light_elevation_deg": 20, "clutter": 0}
    track = parse_track(data, source=f"campus-sun-{azimuth_deg}")
    x, y, _ = place_walker(track, []).at(0.0)
    return Renderer(track, REALISTIC).render(x, y - 3.0, np.pi / 2).astype(float).mean(axis=2)


def test_the_walker_casts_its_shadow_away_from_the_light():
    # The walker's feet are at row ~49; below them lies the ground between it and the camera.
    # A sun ahead (north, 90 degrees) throws the 4.7 m shadow at the camera; a sun behind it
    # (south) throws it away, hidden behind the walker; a sun from the east throws it sideways.
    near = (slice(52, 128), slice(43, 86))
    ahead, behind, east = (_walker_seen_against(a)[near].mean() for a in (90.0, 270.0, 0.0))
    assert ahead < 0.6 * behind
    assert behind == pytest.approx(east, rel=0.01)


def test_the_walker_shadow_does_not_deepen_a_baked_one():
    scene = SceneSpec("sun", 90.0, 20.0, "none", False, 0.0)
    cam, first_row = CameraConfig(look="realistic"), 40
    ahead = np.full((cam.height - first_row, cam.width), 2.0, np.float32)  # where each pixel meets the ground
    ground = (ahead, np.zeros_like(ahead))
    footprint = Prop((3.0, 0.0), WALKER_SIZE[:2]).corners  # 3 m ahead of a car at the origin facing +x

    def drawn(baked: int) -> np.ndarray:
        frame = np.full((cam.height - first_row, cam.width, 3), 100, np.uint8)
        raster = (np.full((100, 100), baked, np.uint8), (-50.0, -50.0), 1.0)
        MovingShadow(cam, ground, first_row, WALKER_SIZE[2], scene, shadow_loss(scene), raster).draw(
            frame, 0.0, 0.0, 1.0, 0.0, footprint
        )
        return frame

    assert (drawn(0) < 100).any()  # lit ground darkens under the walker's shadow
    assert (drawn(255) == 100).all()  # ground already in a baked shadow keeps its shade


@pytest.mark.parametrize("name", ["oval", "hairpin", "technical", "prior/warehouse", "prior/campus"])
def test_the_walker_moves_but_never_enters_the_track(name):
    track = load_track(name)
    walker = place_walker(track, place_props(track, track.scene))
    assert walker is not None
    times = np.arange(0.0, 2000.0, 0.37)
    xy = np.array([walker.at(t)[:2] for t in times])
    assert np.ptp(xy, axis=0).max() > 2.0  # it walks
    d = np.sqrt(((xy[:, None, :] - track.xy[None, :, :]) ** 2).sum(-1)).min(axis=1)
    assert d.min() > track.width / 2 + 1.0


def test_props_stand_off_the_track():
    track = load_track("hairpin")
    props = place_props(track, track.scene)
    assert len(props) > 5
    corners = np.vstack([p.corners for p in props])
    d = np.sqrt(((corners[:, None, :] - track.xy[None, :, :]) ** 2).sum(-1)).min(axis=1)
    assert d.min() > track.width / 2


def test_auto_exposure_recovers_63_percent_of_a_light_step_within_its_time_constant():
    cam = SimCamera(load_track("prior/campus"), REALISTIC)
    steady = Lighting(base=1.0, kelvin=5500.0, cloud_depth=0.0, flicker=0.0, phases=(0.0,) * 4)
    cam.lighting = steady
    dt = 0.1

    def mean(t):
        return float(cam.frame(0.0, 0.0, 0.3, t=t).mean())

    for k in range(30):  # settle
        before = mean(k * dt)
    cam.lighting = steady.shifted(0.6)  # the sun goes behind a cloud
    t0 = 29 * dt
    steps = int(round(EXPOSURE_TAU / dt))
    at_tau = [mean(t0 + (k + 1) * dt) for k in range(steps)][-1]
    final = [mean(t0 + (k + 1) * dt) for k in range(steps, steps + 60)][-1]
    start = 0.6 * before  # the frame if the exposure had not moved yet
    assert final == pytest.approx(before, rel=0.05)  # the exposure makes up for the darker scene
    assert (at_tau - start) / (final - start) == pytest.approx(1 - np.exp(-1), abs=0.08)


def test_unknown_look_and_bad_scene_are_one_line_errors():
    with pytest.raises(FastrlapError, match="vehicle.sim.camera.look='fancy'"):
        Renderer(load_track("oval"), CameraConfig(look="fancy"))
    data = yaml.safe_load(resolve_track_path("oval").read_text())
    data["scene"] = {"lighting": "moon"}
    with pytest.raises(SceneError, match="scene.lighting"):
        parse_track(data, source="bad-scene")


def test_light_shift_turns_the_shadows():
    base = Renderer(_oval_lit_from(90.0), REALISTIC).render(-3.0, -4.5, 0.0)
    turned = Renderer(_oval_lit_from(90.0), replace(REALISTIC, light_shift_deg=180.0)).render(-3.0, -4.5, 0.0)
    assert not np.array_equal(base, turned)


def test_another_light_changes_the_frames_but_not_the_laps():
    # What `fastrlap evaluate vehicle.sim.camera.light_shift_deg=... light_level=...` relies on:
    # the same seed drives the same physics; only the camera sees another sun.
    def roll(**light):
        cam = replace(REALISTIC, **light)
        car = SimVehicle(load_track("oval"), VehicleConfig(sim=SimConfig(camera=cam)), seed=5)
        frames, states = [], []
        for k in range(5):
            car.act(Command(speed=2.5, steer=0.1 * k))
            obs = car.observe()
            frames.append(obs.frame)
            states.append(obs.pose.as_array())
        return frames, states

    base_frames, base_states = roll()
    for light in ({"light_shift_deg": 120.0}, {"light_level": 0.4}):
        frames, states = roll(**light)
        assert all(np.array_equal(a, b) for a, b in zip(base_states, states))
        assert np.mean([np.abs(a.astype(int) - b).mean() for a, b in zip(base_frames, frames)]) > 2


def test_indoor_halls_have_posters_on_their_walls():
    from fastrlap.sim.props import hang_posters

    azimuth = np.linspace(0.0, 2 * np.pi, 512, endpoint=False)
    elevation = np.linspace(-2.0, 10.0, 49)
    pano = np.full((len(elevation), len(azimuth), 3), 128.0, np.float32)
    hang_posters(pano, load_track("technical"), azimuth, elevation)
    changed = (pano != 128.0).any(axis=2)
    assert changed.any(axis=0).sum() > 20  # several posters, each some columns wide
    assert elevation[changed.any(axis=1)].min() >= 1.5  # on the wall, above the floor


def test_a_track_chooses_its_scene():
    assert load_track("sweeper").scene.light_elevation_deg == 22.0
    assert load_track("technical").scene.lighting == "ceiling"  # the default for an indoor floor
    assert load_track("prior/campus").scene.markings == "none"  # concrete path meeting a lawn
