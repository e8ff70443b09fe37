"""Clutter beside the track for the realistic camera look: things a real car's camera sees that
have nothing to do with the course.

A policy trained on an empty world may key on anything that happens to correlate with the track.
Real venues have furniture and bins along a hall's walls, cones and benches and parked cars
outdoors, and people walking past. `place_props` scatters static boxes of those kinds beside
the track; `place_walker` adds a person who walks back and forth along a path that keeps clear
of the track by at least `WALKER_CLEARANCE`, so it distracts the camera but never blocks the car.

Indoors, `hang_posters` puts posters on the hall's walls in the distant panorama.

Props are scenery only: the car's physics does not see them, and they stand off the track
(the nearest corner at least `PROP_CLEARANCE` beyond the edge), so no lap is changed by them.
Placement is drawn from a generator seeded with the track's name: the same track has the same
props in every run.
"""

from __future__ import annotations

import bisect
import math
import zlib
from dataclasses import dataclass

import numpy as np

from fastrlap.sim.scene import SceneSpec
from fastrlap.sim.track import Obstacle, Track

RGB = tuple[int, int, int]
PROP_SPACING = 4.0  # m of track per prop and side at clutter = 1
PROP_CLEARANCE = 0.3  # m between the track edge and the nearest part of a prop
WALKER_CLEARANCE = 1.2  # m between the track edge and the walker's centre, at the least
WALKER_SIZE = (0.35, 0.5, 1.7)  # m: depth, shoulder width, height of a person
WALKER_SPEED = 1.2  # m/s, walking pace
WALKER_PATH = 8.0  # m of path walked back and forth


@dataclass(frozen=True)
class Prop(Obstacle):
    """A box of scenery (m, rad, 0-255 RGB); unlike a track obstacle, the car passes through."""

    height: float = 0.5
    colour: RGB = (128, 128, 128)


# (size range lo, hi (m), height range (m), colours, lateral gap beyond the edge range (m))
_INDOOR_KINDS = (
    ((0.5, 0.4), (1.4, 0.8), (0.45, 1.0), ((120, 84, 52), (90, 90, 96), (150, 140, 120)), (0.5, 3.0)),  # furniture
    ((0.22, 0.22), (0.22, 0.22), (0.3, 0.3), ((250, 110, 20),), (0.3, 1.0)),  # cones
    ((0.4, 0.4), (0.6, 0.6), (0.5, 0.9), ((40, 110, 60), (60, 60, 70), (30, 70, 160)), (0.5, 2.5)),  # bins, crates
)
_OUTDOOR_KINDS = (
    (
        (4.0, 1.7),
        (4.6, 1.9),
        (1.4, 1.55),
        ((180, 30, 30), (220, 220, 225), (40, 45, 55), (30, 70, 140)),
        (2.0, 5.0),
    ),  # cars
    ((0.22, 0.22), (0.22, 0.22), (0.3, 0.3), ((250, 110, 20),), (0.3, 1.0)),  # cones
    ((1.4, 0.45), (1.8, 0.5), (0.45, 0.5), ((110, 80, 50), (70, 70, 70)), (0.8, 3.0)),  # benches
    ((0.8, 0.8), (1.4, 1.4), (0.6, 1.1), ((50, 95, 40), (70, 110, 50)), (1.0, 4.0)),  # bushes
)


def _rng(track: Track, key: str) -> np.random.Generator:
    return np.random.default_rng([zlib.crc32(track.name.encode()), zlib.crc32(key.encode())])


def _centreline_distance(track: Track, points: np.ndarray) -> np.ndarray:
    """Distance (m) from each of (K, 2) points to the nearest dense centerline sample."""
    d2 = ((points[:, None, :] - track.xy[None, :, :]) ** 2).sum(axis=-1)
    return np.sqrt(d2.min(axis=1))


def place_props(track: Track, scene: SceneSpec) -> list[Prop]:
    """Static clutter beside `track`, drawn from the track's own seed."""
    count = int(round(scene.clutter * track.length / PROP_SPACING))
    if count == 0:
        return []
    rng = _rng(track, "props")
    kinds = _INDOOR_KINDS if scene.indoor else _OUTDOOR_KINDS
    half = track.width / 2
    props: list[Prop] = []
    for side in (1.0, -1.0):
        for k in range(count):
            lo, hi, (h_lo, h_hi), colours, (g_lo, g_hi) = kinds[int(rng.integers(len(kinds)))]
            size = tuple(float(v) for v in rng.uniform(lo, hi))
            s = (k + rng.uniform(0.0, 1.0)) * track.length / count
            gap = float(rng.uniform(g_lo, g_hi))
            heading = track.heading_at(s % track.length)
            yaw = heading + float(rng.normal(0.0, 0.15))
            radius = 0.5 * math.hypot(*size)
            centre = track.point_at(s % track.length, side * (half + gap + radius))
            height, colour = float(rng.uniform(h_lo, h_hi)), colours[int(rng.integers(len(colours)))]
            prop = Prop((float(centre[0]), float(centre[1])), size, yaw, height, colour)
            corners = prop.corners
            if _centreline_distance(track, np.vstack([corners, [centre]])).min() < half + PROP_CLEARANCE:
                continue  # a tight bend brings another part of the track too close
            if any(math.dist(prop.center, q.center) < prop.radius + q.radius for q in props):
                continue
            props.append(prop)
    return props


@dataclass(frozen=True)
class Walker:
    """A person walking back and forth along `path` ((K, 2) world points, m) at `speed` m/s."""

    path: np.ndarray
    speed: float
    colour: RGB

    def __post_init__(self) -> None:
        # Plain floats: `at` runs every frame, and scalar numpy calls would cost more than it.
        seg = np.hypot(*np.diff(self.path, axis=0).T)
        object.__setattr__(self, "_cum", [0.0, *np.cumsum(seg).tolist()])
        object.__setattr__(self, "_xy", [tuple(p) for p in self.path.tolist()])

    @property
    def length(self) -> float:
        return self._cum[-1]

    def at(self, t: float) -> tuple[float, float, float]:
        """(x, y, heading) of the walker at time t (s)."""
        u = (self.speed * t) % (2 * self.length)
        back = u > self.length
        u = 2 * self.length - u if back else u
        i = min(max(bisect.bisect_right(self._cum, u) - 1, 0), len(self._xy) - 2)
        (x0, y0), (x1, y1) = self._xy[i], self._xy[i + 1]
        f = (u - self._cum[i]) / max(self._cum[i + 1] - self._cum[i], 1e-9)
        heading = math.atan2(y1 - y0, x1 - x0) + (math.pi if back else 0.0)
        return x0 + f * (x1 - x0), y0 + f * (y1 - y0), heading

    def as_prop(self, t: float) -> Prop:
        """The walker at time t as a box facing where it goes."""
        x, y, heading = self.at(t)
        depth, width, height = WALKER_SIZE
        return Prop((x, y), (depth, width), heading, height, self.colour)


def place_walker(track: Track, props: list[Prop]) -> Walker | None:
    """A walker whose whole path stays `WALKER_CLEARANCE` beyond the track edge, or None when
    no stretch of the track has room beside it."""
    rng = _rng(track, "walker")
    half = track.width / 2
    for attempt in range(60):
        # Start close to the track (where the camera sees a walker) and move out on crowded maps.
        offset = half + WALKER_CLEARANCE + 0.6 + 0.1 * attempt
        s0 = float(rng.uniform(0.0, track.length))
        side = 1.0 if rng.random() < 0.5 else -1.0
        s = (s0 + np.linspace(0.0, WALKER_PATH, 17)) % track.length
        path = np.asarray(track.point_at(s, side * offset))
        if _centreline_distance(track, path).min() < half + WALKER_CLEARANCE + 0.1:
            continue
        if any(_segment_distance(path, np.asarray(q.center)) < q.radius + 0.4 for q in props):
            continue
        colour = ((200, 40, 40), (40, 60, 150), (230, 200, 60), (30, 30, 30))[int(rng.integers(4))]
        return Walker(path=path, speed=WALKER_SPEED, colour=colour)
    return None


def _segment_distance(path: np.ndarray, point: np.ndarray) -> float:
    """Distance (m) from `point` to the polyline `path`."""
    a, b = path[:-1], path[1:]
    ab = b - a
    t = np.clip(((point - a) * ab).sum(axis=1) / np.maximum((ab * ab).sum(axis=1), 1e-12), 0.0, 1.0)
    return float(np.hypot(*(a + t[:, None] * ab - point).T).min())


POSTERS = 9  # posters around an indoor hall
POSTER_COLOURS = ((200, 40, 50), (30, 90, 170), (240, 200, 40), (40, 140, 80), (235, 235, 230), (30, 30, 35))


def hang_posters(panorama: np.ndarray, track: Track, azimuth: np.ndarray, elevation_deg: np.ndarray) -> None:
    """Paint posters (two-tone rectangles) on an indoor hall's walls, in place on the scenery
    panorama (float32 (R, P, 3) over `elevation_deg` (R,) x world `azimuth` (P,) rad)."""
    rng = _rng(track, "posters")
    el = elevation_deg[:, None]
    for _ in range(POSTERS):
        centre, width = rng.uniform(0.0, 2 * math.pi), rng.uniform(0.05, 0.14)  # rad
        bottom, height = rng.uniform(1.5, 3.0), rng.uniform(2.0, 4.0)  # deg
        across = np.abs((azimuth - centre + math.pi) % (2 * math.pi) - math.pi) < width / 2
        up = (el >= bottom) & (el < bottom + height)
        ground, figure = (POSTER_COLOURS[i] for i in rng.choice(len(POSTER_COLOURS), 2, replace=False))
        panorama[up & across[None, :]] = ground
        inner = (el >= bottom + 0.25 * height) & (el < bottom + 0.6 * height)
        panorama[inner & (np.abs((azimuth - centre + math.pi) % (2 * math.pi) - math.pi) < width / 4)[None, :]] = figure
