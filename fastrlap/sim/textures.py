"""Procedural looks of the simulated environments: ground textures, palettes, sky.

The renderer (`render.py`) samples precomputed world rasters with nearest-texel lookups, so the
textures here are painted *pre-filtered*: every function takes the cell size `res` (m) of the
raster it paints and fades out detail finer than about two cells (noise octaves, seams, stripes
are box-filtered analytically). Coarse rasters used far from the camera therefore hold the local
average colour instead of aliased speckle, and the same world point has the same colour at every
level of detail, so the bands of the renderer's level-of-detail pyramid do not show seams.

Everything is a pure function of the track (its name seeds the noise through CRC32, never the
salted `hash()`), so frames are reproducible across processes.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import cv2
import numpy as np

RGB = tuple[int, int, int]
NOISE_LATTICE = 256  # lattice points per side of each periodic noise tile


@dataclass(frozen=True)
class Look:
    """Colours of one environment (0-255 RGB) that are not ground textures."""

    indoor: bool
    sky_top: RGB  # colour straight up (outdoor sky, indoor hall ceiling)
    sky_horizon: RGB  # colour at the horizon; also the distance-fog colour
    wall_a: RGB  # barrier stripe colours, alternating along the track
    wall_b: RGB
    wall_cap: RGB  # the top rail of the barriers
    stripe_length: float  # m of barrier per colour stripe
    edge_line: RGB  # paint or tape along both track edges
    edge_line_width: float  # m
    obstacle: RGB  # box obstacles


# Keyed by the track surface: the barrier and line style that goes with that kind of venue.
_LOOKS = {
    "asphalt": dict(wall_a=(200, 30, 30), wall_b=(235, 235, 235), wall_cap=(60, 60, 65), edge_line=(240, 240, 240)),
    "concrete": dict(wall_a=(230, 200, 20), wall_b=(35, 35, 40), wall_cap=(150, 150, 150), edge_line=(245, 215, 40)),
    "carpet": dict(wall_a=(30, 90, 200), wall_b=(230, 230, 230), wall_cap=(20, 40, 90), edge_line=(240, 240, 240)),
    "tile": dict(wall_a=(20, 140, 90), wall_b=(220, 220, 210), wall_cap=(40, 60, 50), edge_line=(30, 60, 170)),
    "dirt": dict(wall_a=(200, 170, 90), wall_b=(150, 110, 60), wall_cap=(110, 80, 45), edge_line=(225, 215, 190)),
    "grass": dict(wall_a=(240, 240, 240), wall_b=(40, 110, 200), wall_cap=(70, 70, 70), edge_line=(240, 240, 240)),
    "gravel": dict(wall_a=(90, 90, 95), wall_b=(200, 190, 160), wall_cap=(60, 60, 60), edge_line=(240, 240, 240)),
    "sand": dict(wall_a=(230, 120, 40), wall_b=(240, 240, 240), wall_cap=(90, 60, 40), edge_line=(250, 250, 250)),
    "wood": dict(wall_a=(180, 40, 40), wall_b=(230, 230, 230), wall_cap=(60, 40, 30), edge_line=(240, 240, 240)),
}
INDOOR_SURFACES = {"carpet", "tile", "wood"}


def look_for(surface: dict[str, str]) -> Look:
    """The environment's palette from its surface names (`Track.surface`)."""
    track, off = surface["track"], surface["offtrack"]
    indoor = track in INDOOR_SURFACES or off in INDOOR_SURFACES
    if indoor:
        sky_top, sky_horizon = (70, 72, 80), (178, 174, 165)  # dim hall roof above pale walls
    else:
        sky_top, sky_horizon = (70, 125, 205), (200, 215, 228)
    return Look(
        indoor=indoor,
        sky_top=sky_top,
        sky_horizon=sky_horizon,
        stripe_length=0.5,
        edge_line_width=0.07,
        obstacle=(255, 110, 0),
        **_LOOKS[track],
    )


# ---------------------------------------------------------------------- filtered primitives
@dataclass(frozen=True)
class Grid:
    """A regular raster over the ground: cell (row j, col i) is centred on world
    x = x0 + (i + 0.5)·res, y = y0 + (j + 0.5)·res (rows run along +y)."""

    x0: float
    y0: float
    res: float  # m per cell
    shape: tuple[int, int]  # (rows, cols)

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """World x, y (float32, shape `shape`) of every cell centre."""
        rows, cols = self.shape
        x = (self.x0 + (np.arange(cols) + 0.5) * self.res).astype(np.float32)
        y = (self.y0 + (np.arange(rows) + 0.5) * self.res).astype(np.float32)
        return np.broadcast_to(x[None, :], self.shape), np.broadcast_to(y[:, None], self.shape)


def _fade(feature: float, res: float) -> float:
    """Weight of a detail of size `feature` (m) on a raster of cell `res`: 1 when it spans three
    cells or more, 0 below 1.5 cells (it would alias into speckle), linear in between."""
    return float(np.clip((feature / res - 1.5) / 1.5, 0.0, 1.0))


class Painter:
    """Deterministic noise and pattern fields for one environment (seeded by its name)."""

    def __init__(self, name: str) -> None:
        self._seed = zlib.crc32(name.encode())
        self._tiles: dict[tuple[str, int], np.ndarray] = {}

    def _tile(self, key: str) -> np.ndarray:
        """A periodic lattice of uniform [-0.5, 0.5) values, one per named field."""
        k = (key, self._seed)
        if k not in self._tiles:
            rng = np.random.default_rng([self._seed, zlib.crc32(key.encode())])
            self._tiles[k] = (rng.random((NOISE_LATTICE, NOISE_LATTICE)) - 0.5).astype(np.float32)
        return self._tiles[k]

    def noise(
        self,
        grid: Grid,
        key: str,
        wavelength: float,
        stretch: float = 1.0,
        nearest: bool = False,
        detail: float | None = None,
    ) -> np.ndarray:
        """Value noise (float32, `grid.shape`, mean 0, within ±0.5) with lattice spacing
        `wavelength` m along y and `wavelength·stretch` along x, faded out where cells of
        `detail` m (default `grid.res`) are too coarse to show it. `nearest` gives constant
        tiles [k·wavelength, (k+1)·wavelength) (per-tile tones) instead of a smooth field."""
        weight = _fade(wavelength * min(stretch, 1.0), detail or grid.res)
        if weight == 0.0:
            return np.zeros(grid.shape, np.float32)
        lx, ly = wavelength * stretch, wavelength
        # Lattice coordinate of dst cell (i, j) is world / wavelength, so every grid samples the
        # same continuous field; the start is wrapped into the first period (the lattice is
        # periodic). Bilinear: cv2's bicubic warp returns a constant far outside the source.
        shift = -0.5 if nearest else 0.0
        m = np.array(
            [
                [grid.res / lx, 0.0, ((grid.x0 + 0.5 * grid.res) / lx + shift) % NOISE_LATTICE],
                [0.0, grid.res / ly, ((grid.y0 + 0.5 * grid.res) / ly + shift) % NOISE_LATTICE],
            ]
        )
        flags = (cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR) | cv2.WARP_INVERSE_MAP
        out = cv2.warpAffine(
            self._tile(key), m, (grid.shape[1], grid.shape[0]), flags=flags, borderMode=cv2.BORDER_WRAP
        )
        return out * np.float32(weight)

    def cell_value(self, key: str, row: np.ndarray, col: np.ndarray) -> np.ndarray:
        """A fixed random value in [-0.5, 0.5) per integer cell (row, col) (float32)."""
        t = self._tile(key)
        return t[row.astype(np.int64) % NOISE_LATTICE, col.astype(np.int64) % NOISE_LATTICE]


def stripes(coord: np.ndarray, period: float, width: float, res: float) -> np.ndarray:
    """Box-filtered coverage (0..1, float32) of lines `width` m wide repeating every `period` m
    along a coordinate with unit gradient, averaged over a cell of `res` m."""

    def integral(c):
        return np.floor(c / period) * width + np.minimum(np.mod(c, period), width)

    cov = (integral(coord + res / 2) - integral(coord - res / 2)) / res
    return cov.astype(np.float32)


def band(coord: np.ndarray, lo: float, hi: float, res: float) -> np.ndarray:
    """Box-filtered coverage (0..1, float32) of the interval lo <= coord <= hi."""
    c = np.asarray(coord, dtype=np.float32)
    return (np.clip((hi - c) / res + 0.5, 0, 1) - np.clip((lo - c) / res + 0.5, 0, 1)).clip(0, 1)


def _mix(rgb: np.ndarray, colour, amount: np.ndarray) -> np.ndarray:
    """rgb·(1-amount) + colour·amount, in place on rgb (float32 (..., 3))."""
    a = amount[..., None]
    rgb *= 1.0 - a
    rgb += a * np.asarray(colour, np.float32)
    return rgb


def _grey(base, variation: np.ndarray, tint=(1.0, 1.0, 1.0)) -> np.ndarray:
    """base colour plus a scalar variation field (0-255 units), tinted per channel."""
    return np.asarray(base, np.float32) + variation[..., None] * np.asarray(tint, np.float32)


# ---------------------------------------------------------------------- surfaces
def paint_surface(p: Painter, name: str, grid: Grid, detail_res: float) -> np.ndarray:
    """RGB float32 (rows, cols, 3), 0-255, of surface `name` on `grid`.

    `detail_res` (m, >= grid.res) is the cell size used to fade fine detail; the renderer passes
    a larger value than the sampling cell far away, where one pixel covers metres in depth.
    """
    x, y = grid.centres()
    x1, y1 = x[:1], y[:, :1]  # patterns along one axis are computed on a row or column only
    d = detail_res

    def n(key, wavelength, **kw):
        return p.noise(grid, key, wavelength, detail=d, **kw)

    if name == "asphalt":
        v = 50 * n("a1", 1.2) + 40 * n("a2", 0.25) + 70 * n("a3", 0.05)
        return _grey((80, 82, 86), v)
    if name == "concrete":
        v = 40 * n("c1", 2.5) + 30 * n("c2", 0.4) + 45 * n("c3", 0.05)
        rgb = _grey((160, 158, 152), v)
        # Thin lines are box-filtered, and faded out before a cell is six times their width:
        # sampled once per cell, what remains of them would flicker.
        seams = np.maximum(stripes(x1, 1.5, 0.03, d), stripes(y1, 1.5, 0.03, d)) * _fade(0.03 * 6, detail_res)
        return _mix(rgb, (100, 100, 98), seams)
    if name == "carpet":
        tone = 30 * n("k0", 0.5, nearest=True)
        v = tone + 50 * n("k1", 0.04) + 30 * n("k2", 0.8)
        return _grey((72, 80, 108), v, (0.8, 0.9, 1.1))
    if name == "tile":
        tone = 30 * n("t0", 0.4, nearest=True)
        rgb = _grey((206, 204, 196), tone + 20 * n("t1", 0.05))
        grout = np.maximum(stripes(x1, 0.4, 0.02, d), stripes(y1, 0.4, 0.02, d)) * _fade(0.02 * 8, detail_res)
        return _mix(rgb, (140, 140, 136), grout)
    if name == "dirt":
        v = 60 * n("d1", 1.6) + 45 * n("d2", 0.4) + 55 * n("d3", 0.06)
        return _grey((128, 94, 64), v, (1.0, 0.85, 0.7))
    if name == "grass":
        mow = (stripes(x1, 3.0, 1.5, d) - 0.5) * 30 * _fade(1.5, detail_res)
        v = mow + 50 * n("g1", 0.6) + 70 * n("g2", 0.05)
        return _grey((62, 124, 50), v, (0.6, 1.0, 0.5))
    if name == "gravel":
        v = 30 * n("r1", 1.0) + 50 * n("r2", 0.15) + 90 * n("r3", 0.04)
        return _grey((142, 134, 120), v)
    if name == "sand":
        v = 40 * n("s1", 2.0) + 30 * n("s2", 0.5) + 35 * n("s3", 0.06)
        return _grey((206, 186, 138), v, (1.0, 0.95, 0.8))
    if name == "wood":
        plank_w, plank_l = 0.18, 1.2
        row = np.floor(y1 / plank_w)
        shift = np.mod(row * 0.37, 1.0) * plank_l  # staggered plank ends
        col = np.floor((x + shift) / plank_l)
        tone = 40 * p.cell_value("w0", row, col) * _fade(plank_w, d)
        grain = 50 * n("w1", 0.03, stretch=20.0) + 25 * n("w2", 0.5)
        rgb = _grey((164, 114, 72), tone + grain, (1.0, 0.8, 0.6))
        seams = np.maximum(stripes(y1, plank_w, 0.01, d), stripes(x + shift, plank_l, 0.01, d))
        return _mix(rgb, (90, 60, 40), seams * _fade(0.01 * 12, detail_res))
    raise ValueError(f"unknown surface texture {name!r}")


def paint_ground(
    p: Painter,
    look: Look,
    surface: dict[str, str],
    grid: Grid,
    detail_res: float,
    lateral: np.ndarray,
    along_from_start: np.ndarray,
    width: float,
    finish=None,
) -> np.ndarray:
    """RGB float32 (rows, cols, 3), 0-255: track surface, off-track ground, edge lines and the
    chequered start/finish line.

    `lateral` (m, left positive) and `along_from_start` (m, arc length minus the start line's,
    wrapped to ±length/2) are the cells' track coordinates (`grid.shape`, inf far from the track).
    `finish` (a `materials.Finish`, realistic look only) weathers the surfaces, wears the edge
    lines in the venue's style and lays shadows; None paints the clean look.
    """
    half = width / 2
    a = np.abs(lateral)
    surface_of = paint_surface if finish is None else finish.surface
    if finish is not None:
        a = finish.boundary(p, grid, a, detail_res)
    on = band(a, -1.0, half, grid.res)[..., None]  # track boundaries stay sharp: sampling cell
    rgb = surface_of(p, surface["track"], grid, detail_res) * on
    rgb += surface_of(p, surface["offtrack"], grid, detail_res) * (1.0 - on)
    # Far away (coarse rasters) the line is widened to most of a cell, so the course of the track
    # stays readable near the horizon instead of averaging away into the surface colour.
    line_width = min(max(look.edge_line_width, 0.8 * grid.res), 0.2 * width)
    line = band(a, half - line_width, half, grid.res)
    line_colour = look.edge_line
    if finish is not None:
        line_colour, line = finish.line(p, grid, line, along_from_start, look.edge_line, detail_res)
    _mix(rgb, line_colour, line)
    # Start/finish: a band of 0.1 m chequers three squares deep across the track.
    sq = 0.1
    near = (np.abs(along_from_start) < 2 * sq + grid.res) & np.isfinite(lateral)
    if near.any():
        f, n = along_from_start[near], lateral[near]
        chequer_a = stripes(f + 1.5 * sq, 2 * sq, sq, grid.res)
        chequer_b = stripes(n + half, 2 * sq, sq, grid.res)
        black = chequer_a + chequer_b - 2 * chequer_a * chequer_b
        inside = band(f, -1.5 * sq, 1.5 * sq, grid.res) * band(np.abs(n), -1.0, half - look.edge_line_width, grid.res)
        sub = rgb[near]
        _mix(sub, (245, 245, 245), inside * (1 - black))
        _mix(sub, (20, 20, 20), inside * black)
        rgb[near] = sub
    if finish is not None:
        finish.shade(grid, rgb)
    return rgb


def sky(look: Look, tan_elevation: np.ndarray) -> np.ndarray:
    """RGB float32 (..., 3), 0-255, seen along rays of the given elevation (tan, up positive):
    the horizon colour at and below 0, blending to `sky_top` with height."""
    t = np.clip(np.arctan(np.maximum(tan_elevation, 0.0)) / (math.pi / 4), 0.0, 1.0) ** 0.7
    horizon, top = np.asarray(look.sky_horizon, np.float32), np.asarray(look.sky_top, np.float32)
    rgb = horizon + (top - horizon) * t[..., None].astype(np.float32)
    return rgb


def scenery(
    p: Painter, look: Look, surface: dict[str, str], azimuth: np.ndarray, elevation_deg: np.ndarray
) -> np.ndarray:
    """RGB float32 (R, P, 3), 0-255: the distant surroundings at world azimuth (P,) rad and
    elevation (R,) degrees, treated as infinitely far. They turn with the car's heading, so a
    turn shows in the image even where the ground is uniform. Outdoors: hazy hills and a ragged
    treeline; indoors: the hall's panelled walls with doors, under the roof. Below the horizon:
    far ground dissolving into haze."""
    el = elevation_deg[:, None].astype(np.float32)
    rgb = sky(look, np.tan(np.radians(np.maximum(el, 0.0)))) * np.ones((1, len(azimuth), 1), np.float32)
    horizon = np.asarray(look.sky_horizon, np.float32)
    floor = paint_surface(p, surface["offtrack"], Grid(0.0, 0.0, 0.1, (32, 32)), 0.1).reshape(-1, 3).mean(0)
    below = np.broadcast_to(el < 0, rgb.shape[:2])
    rgb[below] = floor + (horizon - floor) * 0.75
    if look.indoor:
        panels = 24
        k = np.floor(azimuth / (2 * math.pi) * panels)
        frac = azimuth / (2 * math.pi) * panels - k
        tone = 0.88 + 0.12 * (np.mod(k, 2) == 0) - 0.1 * (frac < 0.06)  # alternating panels, pillars
        wall = np.asarray((196, 192, 184), np.float32) * tone[None, :, None].astype(np.float32)
        door = (p.cell_value("doors", np.zeros_like(k), k) > 0.15) & (frac > 0.3) & (frac < 0.6)
        top = 9.0
        on_wall = (el >= 0) & (el < top)
        wall = np.where((door[None, :] & (el < 5.0))[..., None], np.asarray((70, 60, 55), np.float32), wall)
        rgb = np.where(on_wall[..., None], wall, rgb)
        rgb = np.where(((el >= top) & (el < top + 0.8))[..., None], np.asarray((60, 60, 66), np.float32), rgb)
        return rgb
    hills = 2.0 + 5.0 * _ridge(p, "hills", azimuth, 8)
    trees = (0.8 + 3.2 * _ridge(p, "trees", azimuth, 48)) * (_ridge(p, "gaps", azimuth, 6) > 0.3)
    hill_rgb = horizon + (np.asarray((95, 125, 115), np.float32) - horizon) * 0.45
    tree_rgb = horizon + (np.asarray((40, 78, 46), np.float32) - horizon) * 0.8
    rgb = np.where(((el >= 0) & (el < hills[None, :]))[..., None], hill_rgb, rgb)
    rgb = np.where(((el >= 0) & (el < trees[None, :]))[..., None], tree_rgb, rgb)
    return rgb


def _ridge(p: Painter, key: str, azimuth: np.ndarray, harmonics: int) -> np.ndarray:
    """A smooth periodic profile in [0, 1] over azimuth (rad): random harmonics 1..`harmonics`
    with amplitudes falling as 1/k."""
    k = np.arange(1, harmonics + 1)
    phase = (p.cell_value(key, np.zeros(harmonics), k) + 0.5) * 2 * math.pi
    v = (np.sin(np.outer(azimuth, k) + phase) / k).sum(axis=1)
    return ((v - v.min()) / (v.max() - v.min() + 1e-9)).astype(np.float32)


def fog(rgb: np.ndarray, look: Look, amount: float | np.ndarray) -> np.ndarray:
    """Blend towards the horizon colour by `amount` (0..1): aerial perspective, in place."""
    amount = np.asarray(amount, np.float32)
    return _mix(rgb, look.sky_horizon, np.broadcast_to(amount, rgb.shape[:-1]))
