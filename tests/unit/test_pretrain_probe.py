"""Linear probes: the labels are right, and a probe finds what an embedding linearly holds."""

import math

import numpy as np

from fastrlap.agent.encoder import EncoderSpec
from fastrlap.config import Config
from fastrlap.pretrain.geometry import MAX_FREE, RAY_ANGLES, blocked, free_distances, ray_labels
from fastrlap.pretrain.probe import ProbeSet, probe, probe_set
from fastrlap.sim.track import load_track


def free_distance(track, x, y, heading, limit=MAX_FREE):
    return float(free_distances(track, np.array([x]), np.array([y]), np.array([heading]), limit)[0])


def test_free_distance_reaches_the_edge_across_the_track_and_is_capped_along_it():
    track = load_track("oval")
    s = 1.0
    x, y = track.point_at(s, 0.0)
    left = track.heading_at(s) + math.pi / 2
    assert abs(free_distance(track, x, y, left) - track.width / 2) <= 0.06
    x2, y2 = track.point_at(s, 0.3)
    assert abs(free_distance(track, x2, y2, left) - (track.width / 2 - 0.3)) <= 0.06
    assert free_distance(track, x, y, track.heading_at(s), limit=0.5) == 0.5


def test_free_distance_stops_at_a_box_and_rays_follow_the_car_heading():
    track = load_track("chicane")
    box = track.obstacles[0]
    assert blocked(track, np.array(box.center[0]), np.array(box.center[1]))
    # 0.8 m up the track from the box, in its lane, facing it: the line ends at the box's face.
    at = track.project(*box.center)
    x, y = track.point_at(at.s - 0.8, at.n)
    d = free_distance(track, x, y, track.heading_at(at.s - 0.8))
    assert 0.8 - box.size[0] / 2 - 0.1 <= d <= 0.8 - box.size[0] / 2 + 0.1
    assert not blocked(track, np.array(x), np.array(y))
    s = 2.0
    px, py = track.point_at(s, 0.0)
    yaw = track.heading_at(s)
    labels = ray_labels(track, np.array([[px, py, yaw]]))
    assert labels.shape == (1, len(RAY_ANGLES)) and labels.dtype == np.float32
    left, right = RAY_ANGLES.index(1.5708), RAY_ANGLES.index(-1.5708)
    assert abs(labels[0, left] - track.width / 2) <= 0.1 and abs(labels[0, right] - track.width / 2) <= 0.1
    # Turning the car turns the rays with it: the left ray of a car facing the other way is the right one.
    flipped = ray_labels(track, np.array([[px, py, yaw + math.pi]]))
    assert flipped[0, left] == labels[0, right]


def test_probe_set_labels_and_shapes():
    spec = EncoderSpec(frame_size=32)
    ps = probe_set(load_track("chicane"), Config().vehicle.sim.camera, spec, 12, np.random.default_rng(0))
    assert ps.stacks.shape == (12, 9, 32, 32) and ps.stacks.dtype == np.uint8
    assert np.all((ps.free > 0) & (ps.free <= MAX_FREE))
    assert ps.left_nearer.dtype == bool


def test_probe_scores_a_linear_embedding_high_and_noise_low():
    rng = np.random.default_rng(0)
    sets, good, noise = [], {}, {}
    for k in range(3):
        n = 200
        free = rng.uniform(0.5, 6.0, n)
        left = rng.random(n) < 0.5
        sets.append(ProbeSet(f"t{k}", np.zeros((n, 9, 4, 4), np.uint8), free, left))
        mix = rng.normal(size=(2, 40))
        good[f"t{k}"] = np.stack([free, left * 1.0], 1) @ mix + 0.01 * rng.normal(size=(n, 40))
        noise[f"t{k}"] = rng.normal(size=(n, 40))
    hi, lo = probe(good, sets), probe(noise, sets)
    assert hi["free_r2"] > 0.95 and hi["left_acc"] > 0.95
    assert lo["free_r2"] < 0.2 and lo["left_acc"] < 0.7
