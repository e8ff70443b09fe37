"""First-person camera of the simulated car (issue 2, "First-person camera").

A pinhole camera sits on the car at `CameraConfig.mount_height`, pitched by `pitch_deg`, with a
horizontal field of view `fov_deg`. The simulator renders one frame per control tick, so the
whole frame must cost well under a millisecond in numpy. Everything that depends only on the
camera is computed once:

* **Ground.** With no roll, each image row below the horizon sees the ground at one forward
  depth, so the car-frame ground point of every pixel is fixed. A frame rotates and translates
  those points by the car pose and gathers colours from world rasters painted once per track
  (`textures.py`). Rows are grouped into level-of-detail bands: far rows sample coarser, pre-
  filtered, pre-fogged rasters, which keeps distant texture from sparkling and gives distance
  shading without per-pixel arithmetic.
* **Walls and obstacles.** Vertical lines converge in a pitched camera, so each pixel looks along
  a fixed azimuth; azimuths are binned into ~1.25-column-wide rays. Each ray marches a raster of
  solid wall volume at geometrically growing steps, then the exact hit is interpolated from the
  signed distance to the wall face (exact for straight walls). Boxes are hit analytically. A
  pixel shows the ray's wall if its own elevation meets the wall between ground and wall top.
* **Sky.** A fixed gradient above the horizon; ground beyond `FAR_DEPTH` is the fog colour.

Colours are gathered as 3-byte items straight into the output array (a 4-byte RGBA gather plus a
strided copy to RGB costs more than the rest of the frame).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from fastrlap.config import CameraConfig
from fastrlap.sim.textures import Grid, Look, Painter, fog, look_for, paint_ground, sky
from fastrlap.sim.track import Track

WALL_HEIGHT = 0.25  # m, barriers along the track edges
OBSTACLE_HEIGHT = 0.3  # m, box obstacles
WALL_CAP = 0.03  # m, the darker top rail of barriers
WALL_THICKNESS = 2.5  # m of solid volume behind a wall face in the march raster (see _TrackField)
WALL_RANGE = 20.0  # m, rays stop here; a 0.25 m wall this far is a quarter pixel tall at 128 px
FAR_DEPTH = 30.0  # m, ground farther ahead is drawn as fog
FOG_START = 2.0  # m, no aerial perspective nearer than this (keeps the big near rasters unfogged)
FOG_DISTANCE = 15.0  # m, e-folding distance of the fog beyond FOG_START
FOG_STEP = 0.04  # fog quantisation between ground bands (a 4 % step is invisible in 8 bits)
BASE_RES = 0.025  # m, finest ground raster cell
FIELD_RES = 0.05  # m, cell of the wall march raster and the nearest-centerline raster
CAR_MARGIN = 4.0  # m beyond the track's bounding box where the fast (unclipped) path is valid
WALLED_MARGIN = 0.5  # m, the same where barriers line both edges all round (the car stays inside)
MARCH_START = 0.02  # m, first march sample
MARCH_SAMPLES = 48  # samples per ray: steps grow ~13 % each, thin walls stay found (solid volume)
RAY_SPACING_COLUMNS = 1.25  # rays are this many image columns apart at the horizon
LIGHT = np.array([0.55, 0.8])  # horizontal direction the light comes from (world), for wall shading


class _TrackField:
    """Rasters over the track's bounding box plus `margin` m, cell `FIELD_RES`.

    `index[j, i]` is the nearest dense centerline sample to the cell (a distance transform seeded
    with the samples); `solid[j, i]` is 1 inside the volume behind a wall: lateral offset between
    the edge and the edge plus WALL_THICKNESS on a side where `wall_left/right` says a barrier
    stands. A thick volume (not a line) is what lets rays step by 13 % of their length without
    passing through; only its faces along the edges are ever seen from the track.
    """

    def __init__(self, track: Track, margin: float) -> None:
        self.track = track
        edges = np.vstack([track.left_edge, track.right_edge])
        lo = edges.min(axis=0) - margin
        hi = edges.max(axis=0) + margin
        self.res = FIELD_RES
        self.origin = lo
        self.cols, self.rows = (np.ceil((hi - lo) / self.res)).astype(int)
        seeds = np.full((self.rows, self.cols), 255, np.uint8)
        px = ((track.xy - lo) / self.res).astype(int)
        seeds[px[:, 1], px[:, 0]] = 0
        _, labels = cv2.distanceTransformWithLabels(seeds, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
        label_to_index = np.zeros(labels.max() + 1, np.int32)
        label_to_index[labels[px[:, 1], px[:, 0]]] = np.arange(len(track.xy), dtype=np.int32)
        self.index = label_to_index[labels].reshape(-1)  # (rows·cols,) int32
        grid = Grid(float(lo[0]), float(lo[1]), self.res, (self.rows, self.cols))
        x, y = grid.centres()
        lateral, _ = self.track_coords(x.reshape(-1), y.reshape(-1))
        half = track.width / 2
        i = self.index
        left = track.wall_left[i] & (lateral >= half) & (lateral <= half + WALL_THICKNESS)
        right = track.wall_right[i] & (lateral <= -half) & (lateral >= -half - WALL_THICKNESS)
        self.solid = (left | right).astype(np.uint8)

    def cell(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flat cell index of world points and whether they lie inside the raster."""
        i = np.floor((x - self.origin[0]) / self.res).astype(np.int64)
        j = np.floor((y - self.origin[1]) / self.res).astype(np.int64)
        inside = (i >= 0) & (i < self.cols) & (j >= 0) & (j < self.rows)
        return np.where(inside, j * self.cols + i, 0), inside

    def track_coords(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(lateral n, arc length s) in m of world points (any shape); n = inf off the raster."""
        flat, inside = self.cell(x, y)
        t = self.track
        i = self.index[flat]
        dx, dy = x - t.xy[i, 0], y - t.xy[i, 1]
        n = dx * t.normal[i, 0] + dy * t.normal[i, 1]
        s = (t.s[i] + dx * t.tangent[i, 0] + dy * t.tangent[i, 1]) % t.length
        return np.where(inside, n, np.inf), s


@dataclass(frozen=True)
class _Rays:
    """Per-pixel viewing geometry in the car frame (x forward, y left, z up), flat (H·W,)."""

    forward: np.ndarray  # horizontal ray direction components (not normalised)
    left: np.ndarray
    up: np.ndarray  # vertical component (same scale as forward/left)
    tan_elevation: np.ndarray  # rise per metre of horizontal travel (negative looks down)
    horizon_row: int  # first row whose rays point below the horizon


def _pixel_rays(cam: CameraConfig) -> _Rays:
    h, w = cam.height, cam.width
    f = (w / 2) / math.tan(math.radians(cam.fov_deg) / 2)  # focal length, px
    cols = (np.arange(w) + 0.5 - w / 2) / f
    rows = (np.arange(h) + 0.5 - h / 2) / f
    left = np.broadcast_to(-cols[None, :], (h, w)).reshape(-1)
    up = np.broadcast_to(-rows[:, None], (h, w)).reshape(-1)
    p = math.radians(cam.pitch_deg)
    fwd_p = math.cos(p) - up * math.sin(p)  # pitch rotates (forward, up) about the left axis
    up_p = math.sin(p) + up * math.cos(p)
    rho = np.hypot(fwd_p, left)
    tan_el = up_p / rho
    below = np.flatnonzero(tan_el.reshape(h, w)[:, 0] < 0)
    return _Rays(forward=fwd_p, left=left, up=up_p, tan_elevation=tan_el,
                 horizon_row=int(below[0]) if len(below) else h)


@dataclass
class _Band:
    """Consecutive ground rows sampling one raster of the level-of-detail atlas."""

    rows: slice
    res: float  # m per texel
    detail: float  # m, cell size the texture detail was filtered for
    fog: float  # 0..1 fog baked into the raster


class Renderer:
    """Renders (camera.height, camera.width, 3) uint8 RGB frames of `track` from a car pose.

    Construction paints the track's rasters (about a second); `render` then costs a fraction of
    a millisecond at 128x128 (see the module docstring for how).
    """

    def __init__(self, track: Track, camera: CameraConfig) -> None:
        self.track, self.camera = track, camera
        self.look: Look = look_for(track.surface)
        self._painter = Painter(track.name)
        H, W = camera.height, camera.width
        self._shape = (H, W)
        rays = _pixel_rays(camera)
        h = camera.mount_height
        edges = np.vstack([track.left_edge, track.right_edge])
        enclosed = bool(track.wall_left.all() and track.wall_right.all())
        self._margin = WALLED_MARGIN if enclosed else CAR_MARGIN
        self._box_lo = edges.min(axis=0)
        self._box_hi = edges.max(axis=0)
        self._field = _TrackField(track, CAR_MARGIN + WALL_RANGE + 1.0)
        self._build_ground(rays, h)
        self._build_sky(rays)
        self._build_rays(rays, h)

    # ------------------------------------------------------------------ precomputation
    def _build_ground(self, rays: _Rays, h: float) -> None:
        H, W = self._shape
        f = (W / 2) / math.tan(math.radians(self.camera.fov_deg) / 2)  # px
        # With no roll, forward and up depend on the row only: one ground depth per row.
        fwd_row = rays.forward.reshape(H, W)[:, 0]
        up_row = rays.up.reshape(H, W)[:, 0]
        with np.errstate(divide="ignore"):
            depth_row = np.where(up_row < 0, h * fwd_row / -up_row, np.inf)  # m ahead
        ground_rows = np.flatnonzero(depth_row <= FAR_DEPTH)
        g0 = int(ground_rows[0]) if len(ground_rows) else H
        self._g0 = g0
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = h / -rays.up  # the ray (forward, left, up)·scale ends on the ground
            gx = scale * rays.forward
            gy = scale * rays.left
        bands: list[_Band] = []
        keys = []
        for r in range(g0, H):
            d = depth_row[r]
            lateral_px = d / (fwd_row[r] * f)  # m of ground per image column
            farther = depth_row[r - 1] if r > 0 and np.isfinite(depth_row[r - 1]) else 2 * d
            depth_px = max(farther - d, lateral_px)  # m of ground per image row
            # Sample at the lateral footprint (the track's edges stay sharp far away), but fade
            # texture detail at a footprint leaning towards the much longer depth footprint.
            m = max(0, int(math.floor(math.log2(lateral_px / BASE_RES))))
            detail = lateral_px ** 0.6 * depth_px ** 0.4
            md = max(m, int(math.ceil(math.log2(detail / BASE_RES))))
            m = max(m, md - 1)  # a raster per detail level is only affordable at half its cell
            fogged = 1.0 - math.exp(-max(d - FOG_START, 0.0) / FOG_DISTANCE)
            key = (m, md, int(round(fogged / FOG_STEP)))
            if keys and keys[-1] == key:
                bands[-1].rows = slice(bands[-1].rows.start, r + 1)
            else:
                keys.append(key)
                bands.append(_Band(rows=slice(r, r + 1), res=BASE_RES * 2 ** m, detail=BASE_RES * 2 ** md,
                                   fog=key[2] * FOG_STEP))
        self._bands = bands
        # Paint each band's raster over the area the car may see from inside the fast-path box.
        atlas, base = [], 0
        n_ground = (H - g0) * W
        a_coef = np.empty(n_ground, np.float32)  # car-frame forward of the ground point, texels
        b_coef = np.empty(n_ground, np.float32)  # car-frame left, texels
        inv_res = np.empty(n_ground, np.float32)
        off_u = np.empty(n_ground, np.float32)
        off_v = np.empty(n_ground, np.float32)
        stride = np.empty(n_ground, np.int32)
        start = np.empty(n_ground, np.int32)
        u_max = np.empty(n_ground, np.int32)
        v_max = np.empty(n_ground, np.int32)
        painted: dict[tuple[float, float], tuple[Grid, np.ndarray]] = {}
        for b in bands:
            px = slice(b.rows.start * W, b.rows.stop * W)
            reach = float(np.max(np.hypot(gx[px], gy[px]))) + 2 * b.res
            lo = self._box_lo - self._margin - reach
            hi = self._box_hi + self._margin + reach
            cols, rows_ = (np.ceil((hi - lo) / b.res)).astype(int)
            key = (b.res, b.detail)
            if key not in painted:
                grid = Grid(float(lo[0]), float(lo[1]), b.res, (int(rows_), int(cols)))
                painted[key] = (grid, self._paint(grid, b.detail))
            grid, rgb = painted[key]
            # Bands sharing a raster but not its fog get their own fogged copy.
            level = np.clip(fog(rgb.copy(), self.look, b.fog), 0, 255).astype(np.uint8) if b.fog > 0 else \
                np.clip(rgb, 0, 255).astype(np.uint8)
            sl = slice(px.start - g0 * W, px.stop - g0 * W)
            a_coef[sl] = gx[px] / b.res
            b_coef[sl] = gy[px] / b.res
            inv_res[sl] = 1.0 / b.res
            off_u[sl] = -grid.x0 / b.res
            off_v[sl] = -grid.y0 / b.res
            stride[sl] = grid.shape[1]
            start[sl] = base
            u_max[sl] = grid.shape[1] - 1
            v_max[sl] = grid.shape[0] - 1
            atlas.append(level.reshape(-1, 3))
            base += grid.shape[0] * grid.shape[1]
        self._atlas = np.ascontiguousarray(np.concatenate(atlas)).view("V3").reshape(-1)
        self._gnd = dict(a=a_coef, b=b_coef, inv_res=inv_res, off_u=off_u, off_v=off_v, stride=stride,
                         start=start, u_max=u_max, v_max=v_max)
        self._u = np.empty(n_ground, np.float32)
        self._v = np.empty(n_ground, np.float32)
        self._tmp = np.empty(n_ground, np.float32)
        self._ui = np.empty(n_ground, np.int32)
        self._vi = np.empty(n_ground, np.int32)

    def _paint(self, grid: Grid, detail: float) -> np.ndarray:
        """Ground RGB (float32) of a raster, track coordinates taken from the field raster."""
        x, y = grid.centres()
        lateral, along = self._field.track_coords(x.reshape(-1), y.reshape(-1))
        lateral, along = lateral.astype(np.float32), along.astype(np.float32)
        L = self.track.length
        from_start = (along - self.track.start + L / 2) % L - L / 2
        return paint_ground(self._painter, self.look, self.track.surface, grid, detail,
                            lateral.reshape(grid.shape), from_start.reshape(grid.shape), self.track.width)

    def _build_sky(self, rays: _Rays) -> None:
        H, W = self._shape
        rgb = sky(self.look, rays.tan_elevation.reshape(H, W)[: self._g0])
        self._sky = np.ascontiguousarray(np.clip(rgb, 0, 255).astype(np.uint8)).view("V3").reshape(-1)

    def _build_rays(self, rays: _Rays, h: float) -> None:
        H, W = self._shape
        cam = self.camera
        tr = self.track
        self._walls = bool(tr.wall_left.any() or tr.wall_right.any())
        f = (W / 2) / math.tan(math.radians(cam.fov_deg) / 2)
        tan_az = rays.left / rays.forward
        spacing = RAY_SPACING_COLUMNS * math.cos(math.radians(cam.pitch_deg)) / f
        lo = float(tan_az.min())
        k = np.rint((tan_az - lo) / spacing).astype(np.intp)
        n_rays = int(k.max()) + 1
        az = np.arctan(lo + spacing * np.arange(n_rays))
        self._ray_cos, self._ray_sin = np.cos(az), np.sin(az)
        self._ray_angle = az
        self._pix_ray = k
        self._pix_tan = rays.tan_elevation.astype(np.float32)
        t = MARCH_START * (WALL_RANGE / MARCH_START) ** (np.arange(MARCH_SAMPLES) / (MARCH_SAMPLES - 1))
        self._march_t = t
        fr = self._field.res
        self._march_a = (np.outer(self._ray_cos, t) / fr).astype(np.float32).reshape(-1)
        self._march_b = (np.outer(self._ray_sin, t) / fr).astype(np.float32).reshape(-1)
        n = n_rays * MARCH_SAMPLES
        self._mu = np.empty(n, np.float32)
        self._mv = np.empty(n, np.float32)
        self._mtmp = np.empty(n, np.float32)
        self._mui = np.empty(n, np.int32)
        self._mvi = np.empty(n, np.int32)
        # The farthest a wall can be and still reach into a row: above the horizon the top of the
        # tallest box must rise to the row's lowest ray, below it the row's flattest ray must
        # reach the wall's foot. Rows are candidates for wall pixels when the nearest hit is nearer.
        tan_rows = rays.tan_elevation.reshape(H, W)
        flattest = np.abs(tan_rows).min(axis=1)
        top = OBSTACLE_HEIGHT - h
        with np.errstate(divide="ignore"):
            reach = np.where(tan_rows[:, 0] > 0, np.where(top > 0, top / flattest, 0.0), h / flattest)
        self._row_reach = reach
        self._h = h
        obs = tr.obstacles
        self._obs_c = np.array([o.center for o in obs], float).reshape(-1, 2)
        self._obs_half = np.array([o.size for o in obs], float).reshape(-1, 2) / 2
        self._obs_yaw = np.array([o.yaw for o in obs], float)
        lk = self.look
        self._wall_a = np.asarray(lk.wall_a, np.float32)
        self._wall_b = np.asarray(lk.wall_b, np.float32)
        self._wall_cap = np.asarray(lk.wall_cap, np.float32)
        self._obstacle = np.asarray(lk.obstacle, np.float32)
        self._horizon = np.asarray(lk.sky_horizon, np.float32)
        self._light = LIGHT / np.linalg.norm(LIGHT)
        self._lut = np.arange(256, dtype=np.float32)
        self._safe_lo = self._box_lo - self._margin
        self._safe_hi = self._box_hi + self._margin

    # ------------------------------------------------------------------ per frame
    def render(self, x: float, y: float, yaw: float, rng: np.random.Generator | None = None,
               brightness: float = 1.0) -> np.ndarray:
        """(camera.height, camera.width, 3) uint8 RGB seen from a car at world pose (x, y, yaw).

        `brightness` scales all colours (per-episode jitter); Gaussian noise of std
        `camera.noise_std` (0-255 units) is drawn from `rng` when both are given.
        """
        H, W = self._shape
        out = np.empty((H, W, 3), np.uint8)
        flat = out.view("V3").reshape(-1)
        c, s = math.cos(yaw), math.sin(yaw)
        inside = (self._safe_lo[0] <= x <= self._safe_hi[0]) and (self._safe_lo[1] <= y <= self._safe_hi[1])
        g0 = self._g0
        flat[: g0 * W] = self._sky
        self._ground(flat[g0 * W:], x, y, c, s, inside)
        if self._walls or len(self._obs_c):
            self._walls_and_boxes(flat, x, y, yaw, c, s, inside)
        if brightness != 1.0:
            lut = np.clip(self._lut * brightness, 0, 255).astype(np.uint8)
            out = lut[out]
        if rng is not None and self.camera.noise_std > 0:
            noisy = out + rng.normal(0.0, self.camera.noise_std, out.shape)
            out = np.clip(noisy, 0, 255).astype(np.uint8)
        return out

    def _ground(self, dst: np.ndarray, x: float, y: float, c: float, s: float, inside: bool) -> None:
        """Gather ground colours into dst (ground pixels, V3) for the car at (x, y) heading (c, s)."""
        g = self._gnd
        u, v, tmp, ui, vi = self._u, self._v, self._tmp, self._ui, self._vi
        # u = (x_world - x0)/res = (a·c - b·s) + x/res - x0/res, likewise v with (a·s + b·c).
        np.multiply(g["a"], c, out=u)
        np.multiply(g["b"], s, out=tmp)
        u -= tmp
        np.multiply(g["inv_res"], x, out=tmp)
        u += tmp
        u += g["off_u"]
        np.multiply(g["a"], s, out=v)
        np.multiply(g["b"], c, out=tmp)
        v += tmp
        np.multiply(g["inv_res"], y, out=tmp)
        v += tmp
        v += g["off_v"]
        np.copyto(ui, u, casting="unsafe")
        np.copyto(vi, v, casting="unsafe")
        if not inside:  # off the painted area: repeat the border texels
            np.clip(ui, 0, g["u_max"], out=ui)
            np.clip(vi, 0, g["v_max"], out=vi)
        vi *= g["stride"]
        vi += ui
        vi += g["start"]
        np.take(self._atlas, vi, out=dst)

    def _walls_and_boxes(self, flat: np.ndarray, x: float, y: float, yaw: float, c: float, s: float,
                         inside: bool) -> None:
        n_rays = len(self._ray_cos)
        dist = np.full(n_rays, np.inf)
        top = np.full(n_rays, -1.0)
        colour = np.zeros((n_rays, 3), np.float32)
        cap = np.zeros((n_rays, 3), np.float32)
        dir_x = self._ray_cos * c - self._ray_sin * s  # world ray directions
        dir_y = self._ray_cos * s + self._ray_sin * c
        if self._walls:
            self._march(x, y, c, s, inside, dir_x, dir_y, dist, top, colour, cap)
        if len(self._obs_c):
            self._boxes(x, y, yaw, dir_x, dir_y, dist, top, colour, cap)
        hit = np.isfinite(dist)
        if not hit.any():
            return
        nearest = float(dist[hit].min())
        rows = np.flatnonzero(self._row_reach >= nearest)
        if not len(rows):
            return
        W = self._shape[1]
        px = slice(int(rows[0]) * W, (int(rows[-1]) + 1) * W)
        # Aerial perspective on the walls, continuous in distance.
        fogged = (1.0 - np.exp(-np.maximum(np.where(hit, dist, 0.0) - FOG_START, 0.0) / FOG_DISTANCE))[:, None]
        colour += (self._horizon - colour) * fogged
        cap += (self._horizon - cap) * fogged
        col = np.ascontiguousarray(np.clip(colour, 0, 255).astype(np.uint8)).view("V3").reshape(-1)
        capc = np.ascontiguousarray(np.clip(cap, 0, 255).astype(np.uint8)).view("V3").reshape(-1)
        k = self._pix_ray[px]
        z = dist.astype(np.float32).take(k)
        z *= self._pix_tan[px]
        z += np.float32(self._h)  # height where the pixel's ray meets the ray's wall, m
        t = top.astype(np.float32).take(k)
        wall = (z >= 0) & (z <= t)
        np.copyto(flat[px], col.take(k), where=wall)
        t -= np.float32(WALL_CAP)
        wall &= z > t
        np.copyto(flat[px], capc.take(k), where=wall)

    def _march(self, x, y, c, s, inside, dir_x, dir_y, dist, top, colour, cap) -> None:
        """Walls: first solid sample along each ray, refined on the wall face's signed distance."""
        fld = self._field
        u, v, tmp, ui, vi = self._mu, self._mv, self._mtmp, self._mui, self._mvi
        np.multiply(self._march_a, c, out=u)
        np.multiply(self._march_b, s, out=tmp)
        u -= tmp
        u += np.float32((x - fld.origin[0]) / fld.res)
        np.multiply(self._march_a, s, out=v)
        np.multiply(self._march_b, c, out=tmp)
        v += tmp
        v += np.float32((y - fld.origin[1]) / fld.res)
        np.copyto(ui, u, casting="unsafe")
        np.copyto(vi, v, casting="unsafe")
        if not inside:
            np.clip(ui, 0, fld.cols - 1, out=ui)
            np.clip(vi, 0, fld.rows - 1, out=vi)
        vi *= fld.cols
        vi += ui
        solid = fld.solid.take(vi).reshape(-1, MARCH_SAMPLES)
        j = solid.argmax(axis=1)
        rays = np.arange(len(j))
        hit = solid[rays, j].astype(bool)
        if not hit.any():
            return
        k = rays[hit]
        jh = j[hit]
        jp = np.maximum(jh - 1, 0)
        cells = vi.reshape(-1, MARCH_SAMPLES)
        tr = self.track
        half = tr.width / 2
        t_h, t_p = self._march_t[jh], self._march_t[jp]
        dx, dy = dir_x[k], dir_y[k]
        i_h, i_p = fld.index[cells[k, jh]], fld.index[cells[k, jp]]
        n_h = (x + t_h * dx - tr.xy[i_h, 0]) * tr.normal[i_h, 0] + (y + t_h * dy - tr.xy[i_h, 1]) * tr.normal[i_h, 1]
        side = np.where(n_h >= 0, 1.0, -1.0)  # which edge's wall: left (+1) or right (-1)
        n_p = (x + t_p * dx - tr.xy[i_p, 0]) * tr.normal[i_p, 0] + (y + t_p * dy - tr.xy[i_p, 1]) * tr.normal[i_p, 1]
        sd_h, sd_p = half - side * n_h, half - side * n_p  # signed distance to the wall face
        den = sd_p - sd_h
        frac = np.where(den > 1e-6, np.clip(sd_p / np.where(den > 1e-6, den, 1.0), 0.0, 1.0), 1.0)
        t = np.where(jh > 0, t_p + frac * (t_h - t_p), t_h)
        hx, hy = x + t * dx, y + t * dy
        along = tr.s[i_h] + (hx - tr.xy[i_h, 0]) * tr.tangent[i_h, 0] + (hy - tr.xy[i_h, 1]) * tr.tangent[i_h, 1]
        stripe = (np.floor(along / self.look.stripe_length) % 2)[:, None]
        face_x, face_y = -side * tr.normal[i_h, 0], -side * tr.normal[i_h, 1]  # faces the track
        shade = (0.72 + 0.28 * (face_x * self._light[0] + face_y * self._light[1]))[:, None]
        dist[k] = t
        top[k] = WALL_HEIGHT
        colour[k] = (self._wall_a * stripe + self._wall_b * (1 - stripe)) * shade
        cap[k] = self._wall_cap * shade

    def _boxes(self, x, y, yaw, dir_x, dir_y, dist, top, colour, cap) -> None:
        """Obstacles: ray-box slab test in each box's frame, all rays and boxes at once."""
        cb, sb = np.cos(self._obs_yaw), np.sin(self._obs_yaw)  # (B,)
        rx, ry = x - self._obs_c[:, 0], y - self._obs_c[:, 1]
        ox, oy = rx * cb + ry * sb, -rx * sb + ry * cb  # camera in box frames (B,)
        near = np.hypot(rx, ry) < WALL_RANGE + self._obs_half.max(axis=1) * 2
        if not near.any():
            return
        dx = dir_x[:, None] * cb + dir_y[:, None] * sb  # (K, B)
        dy = -dir_x[:, None] * sb + dir_y[:, None] * cb
        with np.errstate(divide="ignore", invalid="ignore"):
            ix = 1.0 / np.where(np.abs(dx) < 1e-12, 1e-12, dx)
            iy = 1.0 / np.where(np.abs(dy) < 1e-12, 1e-12, dy)
            hx, hy = self._obs_half[:, 0], self._obs_half[:, 1]
            ax, bx = (-hx - ox) * ix, (hx - ox) * ix
            ay, by = (-hy - oy) * iy, (hy - oy) * iy
        nx, ny = np.minimum(ax, bx), np.minimum(ay, by)
        t_near = np.maximum(nx, ny)
        t_far = np.minimum(np.maximum(ax, bx), np.maximum(ay, by))
        ok = (t_near <= t_far) & (t_far > 0) & near
        t_box = np.where(ok, np.maximum(t_near, 0.0), np.inf)
        b = t_box.argmin(axis=1)
        rays = np.arange(len(b))
        tb = t_box[rays, b]
        closer = tb < dist
        if not closer.any():
            return
        k, b = rays[closer], b[closer]
        x_face = nx[k, b] > ny[k, b]
        # Face normal in the box frame faces the ray: -sign(d) on the face's axis.
        lnx = np.where(x_face, -np.sign(dx[k, b]), 0.0)
        lny = np.where(x_face, 0.0, -np.sign(dy[k, b]))
        wnx, wny = lnx * cb[b] - lny * sb[b], lnx * sb[b] + lny * cb[b]
        shade = (0.7 + 0.3 * (wnx * self._light[0] + wny * self._light[1]))[:, None]
        dist[k] = tb[closer]
        top[k] = OBSTACLE_HEIGHT
        colour[k] = self._obstacle * shade
        cap[k] = self._obstacle * shade * 0.6


def top_down(track: Track, px_per_m: float = 20.0) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """A bird's-eye RGB image of the track (surfaces, edge lines, start line, walls, obstacles)
    and a function mapping world (N, 2) points (m) to pixel (N, 2) coordinates (column, row;
    north up), for videos and plots."""
    look = look_for(track.surface)
    margin = 1.5
    edges = np.vstack([track.left_edge, track.right_edge])
    lo = edges.min(axis=0) - margin
    hi = edges.max(axis=0) + margin
    res = 1.0 / px_per_m
    cols, rows = (np.ceil((hi - lo) / res)).astype(int)
    grid = Grid(float(lo[0]), float(lo[1]), res, (int(rows), int(cols)))
    field = _TrackField(track, margin + 1.0)
    x, y = grid.centres()
    lateral, along = field.track_coords(x.reshape(-1), y.reshape(-1))
    L = track.length
    from_start = (along - track.start + L / 2) % L - L / 2
    rgb = paint_ground(Painter(track.name), look, track.surface, grid, res, lateral.reshape(grid.shape),
                       from_start.reshape(grid.shape), track.width)
    img = np.ascontiguousarray(np.clip(rgb, 0, 255).astype(np.uint8)[::-1])  # row 0 = north

    def to_px(points: np.ndarray) -> np.ndarray:
        p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        return np.stack([(p[:, 0] - lo[0]) * px_per_m, (lo[1] + rows * res - p[:, 1]) * px_per_m], axis=1)

    thick = max(2, int(round(0.08 * px_per_m)))
    for edge, mask in ((track.left_edge, track.wall_left), (track.right_edge, track.wall_right)):
        if not mask.any():
            continue
        # Draw each contiguous walled run as a polyline, striped like the barriers.
        pts = np.round(to_px(edge) * 4).astype(np.int32)  # 2 fractional bits for cv2's shift
        n = len(edge)
        stripe = (np.floor(track.s / look.stripe_length) % 2).astype(int)
        for i in np.flatnonzero(mask & np.roll(mask, -1)):
            colour = look.wall_a if stripe[i] else look.wall_b
            cv2.line(img, tuple(int(v) for v in pts[i]), tuple(int(v) for v in pts[(i + 1) % n]), colour,
                     thick, cv2.LINE_AA, shift=2)
    for ob in track.obstacles:
        poly = np.round(to_px(ob.corners) * 4).astype(np.int32)
        cv2.fillPoly(img, [poly], look.obstacle, cv2.LINE_AA, shift=2)
        cv2.polylines(img, [poly], True, (0, 0, 0), 1, cv2.LINE_AA, shift=2)
    return img, to_px
