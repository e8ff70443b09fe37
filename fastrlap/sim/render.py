"""First-person camera of the simulated car, as a small wide-angle USB camera sees the track.

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
  solid wall volume at geometrically growing steps; the first solid sample names the nearest
  centerline sample, and the ray is intersected with that barrier face's line (exact on
  straights). Boxes are hit analytically. A pixel shows its ray's wall or box if its own
  elevation meets it between the ground and the top. Only the nearest hit per ray is kept,
  which is exact while the camera is lower than walls and boxes (a camera above them would
  not see a farther wall over a nearer one).
* **Sky and scenery.** A fixed gradient above the horizon, and around the horizon a panorama of
  distant hills and trees (indoors: the hall's walls) indexed by world azimuth, so it turns with
  the heading. Ground beyond `FAR_DEPTH` dissolves into haze.

Colours of walls and boxes come from a palette quantised in shade and fog, so a frame picks them
with integer arithmetic on ~150 rays. All colours are gathered as 3-byte items straight into the
output array (a 4-byte RGBA gather plus a strided copy to RGB costs more than the rest of the
frame). Tables are shared between renderers of the same track and camera geometry.

The realistic camera look (`camera.look`, see `camera.py`) reuses all of this: its ground rasters
are painted with weathering, worn markings and the track's shadow map (`materials.py`,
`shadows.py`), boxes of clutter and a walker (`props.py`) are hit by the same vectorised ray-box
test as obstacles and drawn in a second layer (a tall prop shows above a nearer low barrier),
a shiny floor gets the light's reflection from a panorama indexed by heading, like the
scenery, and the walker's shadow, which moves, is laid over each frame's ground
(`shadows.MovingShadow`). The clean look's frames are unchanged byte for byte.

Measured on a 2-core computer (median over 1000 poses, 128x128): ~0.08 ms on tracks
without walls, ~0.25-0.3 ms with walls and boxes.

"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from fastrlap.config import CAMERA_LOOKS, CameraConfig
from fastrlap.errors import FastrlapError
from fastrlap.sim import shadows
from fastrlap.sim.lens import add_noise, noise_bank
from fastrlap.sim.materials import Finish, shadow_loss
from fastrlap.sim.props import WALKER_SIZE, Prop, Walker, hang_posters, place_props, place_walker
from fastrlap.sim.scene import SceneSpec
from fastrlap.sim.textures import Grid, Look, Painter, fog, look_for, paint_ground, scenery, sky
from fastrlap.sim.track import Obstacle, Track

WALL_HEIGHT = 0.25  # m, barriers along the track edges
OBSTACLE_HEIGHT = 0.3  # m, box obstacles
WALL_CAP = 0.03  # m, the darker top rail of barriers
WALL_THICKNESS = 2.5  # m of solid volume behind a wall face in the march raster (see _TrackField)
WALL_RANGE = 20.0  # m, rays stop here; a 0.25 m wall this far is a quarter pixel tall at 128 px
FAR_DEPTH = 30.0  # m, ground farther ahead is drawn as fog
FOG_START = 3.0  # m, no aerial perspective nearer than this (keeps the big near rasters unfogged)
FOG_DISTANCE = 25.0  # m, e-folding distance of the fog beyond FOG_START
FOG_STEP = 0.04  # fog quantisation between ground bands (a 4 % step is invisible in 8 bits)
BASE_RES = 0.025  # m, finest ground raster cell
FIELD_RES = 0.05  # m, cell of the wall march raster and the nearest-centerline raster
CAR_MARGIN = 4.0  # m beyond the track's bounding box where the fast (unclipped) path is valid
WALLED_MARGIN = 0.5  # m, the same where barriers line both edges all round (the car stays inside)
MARCH_START = 0.02  # m, first march sample
MARCH_SAMPLES = 48  # samples per ray: steps grow ~13 % each, thin walls stay found (solid volume)
RAY_SPACING_COLUMNS = 1.25  # rays are this many image columns apart at the horizon
TABLE_CACHE_SIZE = 6  # tracks × camera geometries whose precomputed tables are kept
LIGHT = np.array([0.55, 0.8])  # horizontal direction the light comes from (world), for wall shading
SHADE_MIN = 0.44  # darkest shade of a wall face turned away from the light
SHADE_LEVELS = 16  # palette quantisation of wall shading
FOG_LEVELS = 32  # palette quantisation of fog on walls
SCENERY_TOP_DEG = 10.5  # highest distant scenery (hills, trees, hall walls) above the horizon
PANORAMA_COLUMNS = 1024  # azimuth steps of the scenery panorama (a power of two: index & (P-1))
WORLD_OFFSET = 1000.0  # m added to world coordinates so ground texel coordinates stay positive
WALL_SHADOW_DEPTH = 0.1  # m of barrier thickness that casts a shadow
GLARE_STRENGTH = 70.0  # 0-255 units added at the centre of the light's reflection on a shiny floor
GLARE_SPREAD_DEG = 9.0  # angular radius of that reflection (a polished but not mirror-like floor)


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
        small = np.uint16 if len(track.xy) <= np.iinfo(np.uint16).max else np.int32
        self.index = label_to_index[labels].reshape(-1).astype(small)  # (rows·cols,) sample index
        self._x, self._y = track.xy[:, 0].astype(np.float32), track.xy[:, 1].astype(np.float32)
        self._nx, self._ny = track.normal[:, 0].astype(np.float32), track.normal[:, 1].astype(np.float32)
        self._s = track.s.astype(np.float32)
        lateral, _ = self.track_coords(Grid(float(lo[0]), float(lo[1]), self.res, (self.rows, self.cols)))
        lateral = lateral.reshape(-1)
        half = track.width / 2
        i = self.index
        left = track.wall_left[i] & (lateral >= half) & (lateral <= half + WALL_THICKNESS)
        right = track.wall_right[i] & (lateral <= -half) & (lateral >= -half - WALL_THICKNESS)
        self.solid = (left | right).astype(np.uint8)

    def track_coords(self, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
        """Lateral offset n and arc length s (m, float32, `grid.shape`) of the grid's cell
        centres, from their nearest centerline sample; n = inf outside this raster."""
        x, y = grid.centres()
        x1, y1 = x[0], y[:, 0]
        ii = np.floor((x1 - self.origin[0]) / self.res).astype(np.int64)
        jj = np.floor((y1 - self.origin[1]) / self.res).astype(np.int64)
        ok_i, ok_j = (ii >= 0) & (ii < self.cols), (jj >= 0) & (jj < self.rows)
        flat = np.clip(jj, 0, self.rows - 1)[:, None] * self.cols + np.clip(ii, 0, self.cols - 1)[None, :]
        i = self.index.take(flat)
        dx = x - self._x.take(i)
        dy = y - self._y.take(i)
        nx, ny = self._nx.take(i), self._ny.take(i)
        n = dx * nx + dy * ny
        s = self._s.take(i) + dx * ny - dy * nx  # tangent = (ny, -nx): the normal points left
        s %= np.float32(self.track.length)
        n[~(ok_j[:, None] & ok_i[None, :])] = np.inf
        return n, s


@dataclass(frozen=True)
class _Rays:
    """Per-pixel viewing geometry in the car frame (x forward, y left, z up), flat (H·W,)."""

    forward: np.ndarray  # horizontal ray direction components (not normalised)
    left: np.ndarray
    up: np.ndarray  # vertical component (same scale as forward/left)
    tan_elevation: np.ndarray  # rise per metre of horizontal travel (negative looks down)


def _pixel_rays(cam: CameraConfig) -> _Rays:
    """Rays through pixel centres of a pinhole camera with square pixels, no roll."""
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
    return _Rays(forward=fwd_p, left=left, up=up_p, tan_elevation=up_p / rho)


@dataclass
class _Band:
    """Consecutive ground rows sampling one raster of the level-of-detail atlas."""

    rows: slice
    res: float  # m per texel
    detail: float  # m, cell size the texture detail was filtered for
    fog: float  # 0..1 fog baked into the raster


@dataclass(frozen=True)
class _BoxSet:
    """Boxes as the per-frame ray test wants them, one array entry per box: centre and heading
    as complex numbers, half sizes, bounding radius and height (m), palette base of the body."""

    centre: np.ndarray
    rot: np.ndarray
    hx: np.ndarray
    hy: np.ndarray
    radius: np.ndarray
    height: np.ndarray
    base: np.ndarray

    @staticmethod
    def of(items: list[tuple[Obstacle, float, int]]) -> _BoxSet:
        """From (box, height, palette base) triples."""
        boxes = [ob for ob, _, _ in items]
        return _BoxSet(
            centre=np.array([complex(*ob.center) for ob in boxes], complex),
            rot=np.array([complex(math.cos(ob.yaw), math.sin(ob.yaw)) for ob in boxes], complex),
            hx=np.array([ob.size[0] / 2 for ob in boxes], float),
            hy=np.array([ob.size[1] / 2 for ob in boxes], float),
            radius=np.array([ob.radius for ob in boxes], float),
            height=np.array([h for _, h, _ in items], np.float32),
            base=np.array([base for _, _, base in items], np.intp),
        )

    def __len__(self) -> int:
        return len(self.centre)


def _track_key(track: Track) -> str:
    """A digest of everything about a track that the precomputed tables depend on."""
    h = hashlib.sha1()
    for a in (track.xy, track.normal, track.wall_left, track.wall_right):
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(
        repr(
            (
                track.name,
                track.width,
                track.start,
                sorted(track.surface.items()),
                [(o.center, o.size, o.yaw) for o in track.obstacles],
                track.scene,
            )
        ).encode()
    )
    return h.hexdigest()


# Precomputed tables by (track digest, camera geometry): vectorised environments and tests build
# many renderers of the same track, and painting costs about a second and a few MB each.
_TABLES: OrderedDict[tuple, dict] = OrderedDict()


class Renderer:
    """Renders (camera.height, camera.width, 3) uint8 RGB frames of `track` from a car pose.

    The first renderer of a track and camera geometry paints its rasters (about a second);
    later ones share those read-only tables. `render` then costs a fraction of a millisecond at
    128x128 (see the module docstring for how).
    """

    def __init__(self, track: Track, camera: CameraConfig, scene: SceneSpec | None = None) -> None:
        """`scene` replaces the track's own venue (its light, markings, clutter) for the realistic look."""
        if camera.look not in CAMERA_LOOKS:
            raise FastrlapError(f"vehicle.sim.camera.look={camera.look!r}: use one of {', '.join(CAMERA_LOOKS)}")
        self.track, self.camera = track, camera
        venue = track.scene if scene is None else scene
        key = (
            _track_key(track),
            venue,
            camera.width,
            camera.height,
            camera.fov_deg,
            camera.mount_height,
            camera.pitch_deg,
            camera.look,
            camera.light_shift_deg,
        )
        tables = _TABLES.get(key)
        if tables is None:
            self._precompute(track, camera, venue)
            tables = {k: v for k, v in self.__dict__.items() if k not in ("track", "camera")}
            _TABLES[key] = tables
            while len(_TABLES) > TABLE_CACHE_SIZE:
                _TABLES.popitem(last=False)
        else:
            _TABLES.move_to_end(key)
            self.__dict__.update(tables)
        # Per-renderer scratch buffers; everything above is read-only once built.
        n_ground = len(self._gnd["a"])
        self._u, self._v, self._tmp = (np.empty(n_ground, np.float32) for _ in range(3))
        self._ui, self._vi = np.empty(n_ground, np.int32), np.empty(n_ground, np.int32)
        n_march = len(self._march_a)
        self._mu, self._mv, self._mtmp = (np.empty(n_march, np.float32) for _ in range(3))
        self._mui, self._mvi = np.empty(n_march, np.int32), np.empty(n_march, np.int32)
        self._pano_idx = np.empty(len(getattr(self, "_pano_row", ())), np.int32)
        if self._glare is not None:
            self._glare_idx = np.empty(len(self._glare_row), np.int32)
            self._glare_buf = np.empty((camera.height - self._g0, camera.width, 3), np.uint8)
        if camera.noise_std > 0:
            self._noise_bank = noise_bank(camera.noise_std, camera.height * camera.width * 3)

    def _precompute(self, track: Track, camera: CameraConfig, venue: SceneSpec) -> None:
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
        self._finish: Finish | None = None
        self._props: list[Prop] = []
        self._walker: Walker | None = None
        self._walker_shadow: shadows.MovingShadow | None = None
        self.scene = venue.shifted(camera.light_shift_deg)
        if camera.look == "realistic":
            self._props = place_props(track, self.scene)
            self._walker = place_walker(track, self._props)
            baked = self._shadow_map()
            self._finish = Finish(self.scene, shadows.sampler(*baked))
        self._build_ground(rays, h)
        self._build_sky(rays)
        self._build_rays(rays, h)
        self._build_glare(rays)
        if self._walker is not None and self._g0 < H:
            self._walker_shadow = self._moving_shadow(rays, baked)
        del self._painter  # its noise tiles are only needed while painting
        self._finish = None  # likewise the shadow map

    def _shadow_map(self) -> tuple[np.ndarray, tuple[float, float], float]:
        """Shadows of barriers, boxes and props on the ground for the venue's light (realistic
        look): the raster (0..1), the world x, y of its corner and its cell (m)."""
        fld, tr = self._field, self.track
        res = fld.res  # the shadow map shares the field raster's cells
        lateral, _ = fld.track_coords(Grid(float(fld.origin[0]), float(fld.origin[1]), res, (fld.rows, fld.cols)))
        half = tr.width / 2
        i = fld.index.reshape(fld.rows, fld.cols)
        left = tr.wall_left[i] & (lateral >= half) & (lateral <= half + WALL_SHADOW_DEPTH)
        right = tr.wall_right[i] & (lateral <= -half) & (lateral >= -half - WALL_SHADOW_DEPTH)
        heights = np.where(left | right, np.float32(WALL_HEIGHT), np.float32(0.0)).astype(np.float32)
        boxes = [(ob, OBSTACLE_HEIGHT) for ob in tr.obstacles] + [(p, p.height) for p in self._props]
        for ob, height in boxes:
            poly = np.round((ob.corners - fld.origin) / res * 4).astype(np.int32)
            cv2.fillPoly(heights, [poly], float(height), cv2.LINE_8, shift=2)
        sc = self.scene
        shadow = shadows.cast(heights, res, sc.light_direction(), sc.light_elevation_deg, diffuse=sc.indoor)
        return shadow, (float(fld.origin[0]), float(fld.origin[1])), res

    def _moving_shadow(self, rays: _Rays, baked) -> shadows.MovingShadow:
        """The walker's shadow, drawn per frame over the ground below row g0 (realistic look)."""
        H, W = self._shape
        px = slice(self._g0 * W, H * W)
        scale = self.camera.mount_height / -rays.up[px]  # every ray from row g0 on meets the ground
        ground = tuple((scale * a[px]).astype(np.float32).reshape(H - self._g0, W) for a in (rays.forward, rays.left))
        raster, origin, res = baked
        return shadows.MovingShadow(
            self.camera,
            ground,
            self._g0,
            WALKER_SIZE[2],
            self.scene,
            shadow_loss(self.scene),
            (np.rint(raster * 255).astype(np.uint8), origin, res),
        )

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
            detail = lateral_px**0.6 * depth_px**0.4
            md = max(m, int(math.ceil(math.log2(detail / BASE_RES))))
            # A raster per detail level is only affordable at half its cell, and not at all for
            # the biggest (finest) ones.
            m = max(m, md - 1)
            md = 0 if m == 0 else md
            fogged = 1.0 - math.exp(-max(d - FOG_START, 0.0) / FOG_DISTANCE)
            key = (m, md, int(round(fogged / FOG_STEP)))
            if keys and keys[-1] == key:
                bands[-1].rows = slice(bands[-1].rows.start, r + 1)
            else:
                keys.append(key)
                bands.append(
                    _Band(rows=slice(r, r + 1), res=BASE_RES * 2**m, detail=BASE_RES * 2**md, fog=key[2] * FOG_STEP)
                )
        self._bands = bands
        # Paint each band's raster over the area the car may see from inside the fast-path box.
        atlas, base = [], 0
        n_ground = (H - g0) * W
        a_coef = np.empty(n_ground, np.float32)  # car-frame forward of the ground point, texels
        b_coef = np.empty(n_ground, np.float32)  # car-frame left, texels
        inv_res = np.empty(n_ground, np.float32)
        stride = np.empty(n_ground, np.int32)
        start = np.empty(n_ground, np.int32)
        bounds = {k: np.empty(n_ground, np.int32) for k in ("u_lo", "u_hi", "v_lo", "v_hi")}
        # Bands of one (res, detail) share a raster, painted over the reach of the farthest.
        reach: dict[tuple[float, float], float] = {}
        for b in bands:
            px = slice(b.rows.start * W, b.rows.stop * W)
            far = float(np.max(np.hypot(gx[px], gy[px]))) + 2 * b.res
            reach[(b.res, b.detail)] = max(far, reach.get((b.res, b.detail), 0.0))
        painted: dict[tuple[float, float], tuple[Grid, np.ndarray]] = {}
        for b in bands:
            px = slice(b.rows.start * W, b.rows.stop * W)
            key = (b.res, b.detail)
            # Raster cells are aligned to a global texel lattice with origin (-WORLD_OFFSET,)*2;
            # the indices (i0, j0) of a raster's first cell fold into the atlas start.
            i0, j0 = np.floor((self._box_lo - self._margin - reach[key] + WORLD_OFFSET) / b.res).astype(int)
            if key not in painted:
                i1, j1 = np.ceil((self._box_hi + self._margin + reach[key] + WORLD_OFFSET) / b.res).astype(int)
                grid = Grid(i0 * b.res - WORLD_OFFSET, j0 * b.res - WORLD_OFFSET, b.res, (int(j1 - j0), int(i1 - i0)))
                painted[key] = (grid, self._paint(grid, b.detail))
            grid, rgb = painted[key]
            # Bands sharing a raster but not its fog get their own fogged copy.
            level = (
                np.clip(fog(rgb.copy(), self.look, b.fog), 0, 255).astype(np.uint8)
                if b.fog > 0
                else np.clip(rgb, 0, 255).astype(np.uint8)
            )
            sl = slice(px.start - g0 * W, px.stop - g0 * W)
            a_coef[sl] = gx[px] / b.res
            b_coef[sl] = gy[px] / b.res
            inv_res[sl] = 1.0 / b.res
            rows_, cols = grid.shape
            stride[sl] = cols
            start[sl] = base - cols * j0 - i0
            bounds["u_lo"][sl], bounds["u_hi"][sl] = i0, i0 + cols - 1
            bounds["v_lo"][sl], bounds["v_hi"][sl] = j0, j0 + rows_ - 1
            atlas.append(level.reshape(-1, 3))
            base += rows_ * cols
        self._atlas = np.ascontiguousarray(np.concatenate(atlas or [np.zeros((1, 3), np.uint8)])).view("V3").reshape(-1)
        self._gnd = dict(a=a_coef, b=b_coef, inv_res=inv_res, stride=stride, start=start, **bounds)

    def _paint(self, grid: Grid, detail: float) -> np.ndarray:
        """Ground RGB (float32) of a raster, track coordinates taken from the field raster."""
        lateral, along = self._field.track_coords(grid)
        L = self.track.length
        from_start = (along - self.track.start + L / 2) % L - L / 2
        return paint_ground(
            self._painter,
            self.look,
            self.track.surface,
            grid,
            detail,
            lateral,
            from_start,
            self.track.width,
            self._finish,
        )

    def _build_sky(self, rays: _Rays) -> None:
        """The fixed sky gradient, and the scenery band around the horizon as a panorama over
        world azimuth × elevation that a frame indexes with its heading."""
        H, W = self._shape
        g0 = self._g0
        rgb = sky(self.look, rays.tan_elevation.reshape(H, W)[:g0])
        self._sky = np.ascontiguousarray(np.clip(rgb, 0, 255).astype(np.uint8)).view("V3").reshape(-1)
        el = np.degrees(np.arctan(rays.tan_elevation))
        rows = np.flatnonzero(el.reshape(H, W)[:g0].min(axis=1) <= SCENERY_TOP_DEG)
        self._scenery_px = slice(int(rows[0]) * W, g0 * W) if len(rows) else slice(0, 0)
        px = self._scenery_px
        if px.stop <= px.start:
            return
        step = 0.5 * self.camera.fov_deg / W  # half a pixel, degrees
        e_lo, e_hi = float(el[px].min()), float(el[px].max())
        n_el = int(math.ceil((e_hi - e_lo) / step)) + 1
        elevation = e_lo + step * np.arange(n_el)
        azimuth = np.arange(PANORAMA_COLUMNS) * (2 * math.pi / PANORAMA_COLUMNS)
        pano = scenery(self._painter, self.look, self.track.surface, azimuth, elevation)
        if self.camera.look == "realistic" and self.look.indoor:
            hang_posters(pano, self.track, azimuth, elevation)
        self._panorama = np.ascontiguousarray(np.clip(pano, 0, 255).astype(np.uint8)).view("V3").reshape(-1)
        row = np.rint((el[px] - e_lo) / step).astype(np.int32)
        az = np.arctan2(rays.left[px], rays.forward[px])  # car-frame azimuth, left positive
        self._pano_az = np.rint(az * (PANORAMA_COLUMNS / (2 * math.pi))).astype(np.int32)
        self._pano_row = row * PANORAMA_COLUMNS

    def _build_glare(self, rays: _Rays) -> None:
        """Realistic look on a shiny floor: the light's reflection as a panorama over world
        azimuth x elevation of the mirrored ray, which a frame indexes with its heading like the
        scenery. Ceiling lights are four lamps around the hall; the sun is one."""
        self._glare = None
        H, W = self._shape
        g0 = self._g0
        if self.camera.look != "realistic" or not self.scene.shiny or g0 >= H:
            return
        px = slice(g0 * W, H * W)
        mirrored = np.degrees(np.arctan(-rays.tan_elevation[px]))  # elevation of the reflected ray
        step = 0.5
        e_lo = float(mirrored.min())
        n_el = int(math.ceil((float(mirrored.max()) - e_lo) / step)) + 1
        el = np.radians(e_lo + step * np.arange(n_el))[:, None]
        az = (np.arange(PANORAMA_COLUMNS) * (2 * math.pi / PANORAMA_COLUMNS))[None, :]
        sc = self.scene
        lamps = 4 if sc.indoor else 1
        le = math.radians(sc.light_elevation_deg)
        glow = np.zeros((n_el, PANORAMA_COLUMNS))
        for k in range(lamps):
            la = math.radians(sc.light_azimuth_deg) + k * 2 * math.pi / lamps
            cos_angle = np.sin(el) * math.sin(le) + np.cos(el) * math.cos(le) * np.cos(az - la)
            angle = np.degrees(np.arccos(np.clip(cos_angle, -1.0, 1.0)))
            glow += np.exp(-0.5 * (angle / GLARE_SPREAD_DEG) ** 2)
        g = np.clip(GLARE_STRENGTH * glow, 0, 255).astype(np.uint8)
        self._glare = np.ascontiguousarray(np.repeat(g.reshape(-1, 1), 3, axis=1)).view("V3").reshape(-1)
        self._glare_row = np.rint((mirrored - e_lo) / step).astype(np.int32) * PANORAMA_COLUMNS
        az_car = np.arctan2(rays.left[px], rays.forward[px])
        self._glare_az = np.rint(az_car * (PANORAMA_COLUMNS / (2 * math.pi))).astype(np.int32)

    def _build_rays(self, rays: _Rays, h: float) -> None:
        H, W = self._shape
        cam = self.camera
        tr = self.track
        self._walls = bool(tr.wall_left.any() or tr.wall_right.any())
        f = (W / 2) / math.tan(math.radians(cam.fov_deg) / 2)
        tan_az = rays.left / rays.forward
        spacing = RAY_SPACING_COLUMNS * math.cos(math.radians(cam.pitch_deg)) / f
        lo = float(tan_az.min())
        k = np.rint((tan_az - lo) / spacing).astype(np.int32)
        n_rays = int(k.max()) + 1
        az = np.arctan(lo + spacing * np.arange(n_rays))
        self._ray_dir = np.exp(1j * az)  # car-frame unit directions as complex numbers x + iy
        self._pix_ray = k  # (H·W,) ray of each pixel
        cols = np.broadcast_to(np.arange(W), (H, W)).reshape(-1)
        self._ray_col_lo = np.full(n_rays, W, np.intp)
        self._ray_col_hi = np.zeros(n_rays, np.intp)
        np.minimum.at(self._ray_col_lo, k, cols)
        np.maximum.at(self._ray_col_hi, k, cols)
        self._pix_ray2 = 2 * k  # index into the per-frame (body, cap) colour pairs
        self._pix_tan = rays.tan_elevation.astype(np.float32)
        t = MARCH_START * (WALL_RANGE / MARCH_START) ** (np.arange(MARCH_SAMPLES) / (MARCH_SAMPLES - 1))
        self._march_t = t
        self._march_t_prev = np.concatenate([t[:1], t[:-1]])
        self._ray_first = np.arange(n_rays) * MARCH_SAMPLES  # flat index of each ray's first sample
        fr = self._field.res
        self._march_a = (np.outer(self._ray_dir.real, t) / fr).astype(np.float32).reshape(-1)
        self._march_b = (np.outer(self._ray_dir.imag, t) / fr).astype(np.float32).reshape(-1)
        # Centerline samples as complex numbers: w = (p - xy)·conj(normal) gives the lateral
        # offset n = Re w and the arc-length offset -Im w of a point p in one multiply.
        self._xy_c = tr.xy[:, 0] + 1j * tr.xy[:, 1]
        self._normal_conj = tr.normal[:, 0] - 1j * tr.normal[:, 1]
        light = LIGHT / np.linalg.norm(LIGHT) if cam.look == "clean" else np.array(self.scene.light_direction())
        self._light_c = complex(light[0], light[1])
        # Palette offset (shade level × fog levels) of the barrier face at each centerline
        # sample, interleaved (left barrier, right barrier): faces look along -side·normal.
        facing = np.stack([-(tr.normal @ light), tr.normal @ light], axis=1).reshape(-1)
        sq = np.rint((0.72 + 0.28 * facing - SHADE_MIN) * ((SHADE_LEVELS - 1) / (1.0 - SHADE_MIN)))
        self._wall_shade = sq.astype(np.intp) * FOG_LEVELS
        # The farthest a wall can be and still reach into a row: above the horizon the top of the
        # tallest box must rise to the row's lowest ray, below it the row's flattest ray must
        # reach the wall's foot. Rows are candidates for wall pixels when the nearest hit is nearer.
        tan_rows = rays.tan_elevation.reshape(H, W)
        flattest = np.abs(tan_rows).min(axis=1)
        top = (OBSTACLE_HEIGHT if tr.obstacles else WALL_HEIGHT) - h
        with np.errstate(divide="ignore"):
            reach = np.where(tan_rows[:, 0] > 0, np.where(top > 0, top / flattest, 0.0), h / flattest)
        self._row_reach = reach
        self._h = h
        obs = tr.obstacles
        # Per box: centre and heading as complex numbers, half sizes (m), bounding radius (m).
        self._obstacles = _BoxSet.of([(o, OBSTACLE_HEIGHT, 3) for o in obs])
        # Props, then the walker (last; it moves, so a frame replaces its centre and heading).
        props = self._props + ([self._walker.as_prop(0.0)] if self._walker else [])
        self._prop_bases = {c: 5 + 2 * i for i, c in enumerate(dict.fromkeys(p.colour for p in props))}
        self._prop_set = _BoxSet.of([(p, p.height, self._prop_bases[p.colour]) for p in props])
        tallest = max([p.height for p in self._props] + ([WALKER_SIZE[2]] if self._walker else []), default=0.0)
        with np.errstate(divide="ignore"):
            self._prop_reach = np.where(tan_rows[:, 0] > 0, (tallest - h) / flattest, h / flattest)
        self._ray_angles = np.angle(self._ray_dir)  # ascending, for searchsorted
        self._build_palette()
        self._lut = np.arange(256, dtype=np.float32)
        self._safe_lo = self._box_lo - self._margin
        self._safe_hi = self._box_hi + self._margin

    def _build_palette(self) -> None:
        """Every colour a wall or box pixel can take: (surface, shade level, fog level) -> V3.

        Quantising shade (16 levels) and fog (32 levels) lets a frame pick colours with integer
        arithmetic on ~150 rays instead of blending RGB floats.
        """
        lk = self.look
        body = [lk.obstacle] + list(self._prop_bases)  # boxes: a body colour, then its darker top
        bases = np.array(
            [lk.wall_a, lk.wall_b, lk.wall_cap] + [v for c in body for v in (c, tuple(int(0.75 * x) for x in c))],
            np.float32,
        )
        shade = np.linspace(SHADE_MIN, 1.0, SHADE_LEVELS, dtype=np.float32)
        fog_max = 1.0 - math.exp(-max(WALL_RANGE - FOG_START, 0.0) / FOG_DISTANCE)
        fogs = np.linspace(0.0, fog_max, FOG_LEVELS, dtype=np.float32)
        rgb = bases[:, None, None, :] * shade[None, :, None, None]
        rgb = rgb + (np.asarray(lk.sky_horizon, np.float32) - rgb) * fogs[None, None, :, None]
        rgb = np.broadcast_to(rgb, (len(bases), SHADE_LEVELS, FOG_LEVELS, 3))
        self._palette = np.ascontiguousarray(np.clip(rgb, 0, 255).astype(np.uint8)).view("V3").reshape(-1)
        # Fog level of a hit at distance t: searchsorted into the distances of level midpoints.
        mid = (fogs[1:] + fogs[:-1]) / 2
        self._fog_edges = FOG_START - FOG_DISTANCE * np.log1p(-mid.astype(np.float64))

    def _colour_index(self, surface: np.ndarray | int, shade: np.ndarray, dist: np.ndarray) -> np.ndarray:
        """Palette index of (surface id, shade in [SHADE_MIN, 1], hit distance m) per ray."""
        sq = ((shade - SHADE_MIN) * ((SHADE_LEVELS - 1) / (1.0 - SHADE_MIN)) + 0.5).astype(np.intp)
        return (surface * SHADE_LEVELS + sq) * FOG_LEVELS + np.searchsorted(self._fog_edges, dist)

    # ------------------------------------------------------------------ per frame
    def render(
        self,
        x: float,
        y: float,
        yaw: float,
        rng: np.random.Generator | None = None,
        brightness: float = 1.0,
        t: float = 0.0,
    ) -> np.ndarray:
        """(camera.height, camera.width, 3) uint8 RGB seen from a car at world pose (x, y, yaw).

        The camera sits above (x, y) (m), looking along yaw (rad, CCW from +x). `brightness`
        scales all colours (per-episode jitter); Gaussian noise of std `camera.noise_std`
        (0-255 units) is drawn from `rng` when both are given. `t` (s) places the moving
        distractor of the realistic look. Returns a new array each call.
        """
        H, W = self._shape
        out = np.empty((H, W, 3), np.uint8)
        flat = out.view("V3").reshape(-1)
        c, s = math.cos(yaw), math.sin(yaw)
        inside = (self._safe_lo[0] <= x <= self._safe_hi[0]) and (self._safe_lo[1] <= y <= self._safe_hi[1])
        g0 = self._g0
        flat[: g0 * W] = self._sky
        sc = self._scenery_px
        if sc.stop > sc.start:  # scenery turns with the heading: shift the panorama columns
            idx = self._pano_idx
            np.add(self._pano_az, int(round(yaw * (PANORAMA_COLUMNS / (2 * math.pi)))), out=idx)
            idx &= PANORAMA_COLUMNS - 1
            idx += self._pano_row
            np.take(self._panorama, idx, out=flat[sc])
        walker = self._walker.at(t) if self._walker is not None else None
        if g0 < H:
            self._ground(flat[g0 * W :], x, y, c, s, inside)
            if self._glare is not None:
                self._add_glare(out[g0:], yaw)
            if self._walker_shadow is not None:
                depth, width, _ = WALKER_SIZE
                footprint = Prop(walker[:2], (depth, width), walker[2]).corners
                self._walker_shadow.draw(out[g0:], x, y, c, s, footprint)
        hits = None
        if self._walls or len(self._obstacles):
            hits = self._walls_and_boxes(flat, x, y, c, s, inside)
        if len(self._prop_set):
            self._draw_props(flat, x, y, c, s, walker, hits)
        if brightness != 1.0:
            lut = np.clip(self._lut * brightness + 0.5, 0, 255).astype(np.uint8)
            out = cv2.LUT(out, lut)  # 7x faster than numpy's fancy indexing here
        if rng is not None and self.camera.noise_std > 0:
            out = add_noise(out, self._noise_bank, rng)
        return out

    def _add_glare(self, ground: np.ndarray, yaw: float) -> None:
        """Add the light's reflection on a shiny floor (in place): it stays put in the world, so
        it moves across the image as the car turns."""
        idx = self._glare_idx
        np.add(self._glare_az, int(round(yaw * (PANORAMA_COLUMNS / (2 * math.pi)))), out=idx)
        idx &= PANORAMA_COLUMNS - 1
        idx += self._glare_row
        buf = self._glare_buf
        np.take(self._glare, idx, out=buf.view("V3").reshape(-1))
        cv2.add(ground, buf, dst=ground)

    def _draw_props(self, flat: np.ndarray, x: float, y: float, c: float, s: float, walker, hits) -> None:
        """Draw the clutter beside the track and the walker (at `walker`: x, y, heading, or None)
        over everything drawn so far, except where a barrier or obstacle (`hits`: per-ray
        distance and top) is nearer."""
        cam, rot = complex(x, y), complex(c, s)
        boxes = self._prop_set
        if walker is not None:
            wx, wy, heading = walker
            centre, turn = boxes.centre.copy(), boxes.rot.copy()
            centre[-1], turn[-1] = complex(wx, wy), complex(math.cos(heading), math.sin(heading))
            boxes = _BoxSet(centre, turn, boxes.hx, boxes.hy, boxes.radius, boxes.height, boxes.base)
        dist, top, colour = self._boxes(cam, rot, self._ray_dir * rot, None, None, None, boxes)
        hit = np.flatnonzero(dist < WALL_RANGE + 1.0)
        if not len(hit):
            return
        rows = np.flatnonzero(self._prop_reach >= dist.take(hit).min())
        if not len(rows):
            return
        # Props are narrow: work on the block of rows and columns their rays can reach.
        H, W = self._shape
        block = (
            slice(int(rows[0]), int(rows[-1]) + 1),
            slice(int(self._ray_col_lo.take(hit).min()), int(self._ray_col_hi.take(hit).max()) + 1),
        )
        k = self._pix_ray.reshape(H, W)[block]
        tan = self._pix_tan.reshape(H, W)[block]
        show, cap = self._cover(k, tan, dist, top)
        if hits is not None:
            wall, _ = self._cover(k, tan, *hits)
            show &= ~(wall & (hits[0] < dist).take(k))
        idx = self._pix_ray2.reshape(H, W)[block] + cap
        np.copyto(flat.reshape(H, W)[block], self._palette.take(colour).take(idx), where=show)

    def _ground(self, dst: np.ndarray, x: float, y: float, c: float, s: float, inside: bool) -> None:
        """Gather ground colours into dst (ground pixels, V3) for the car at (x, y) heading (c, s)."""
        g = self._gnd
        u, v, tmp, ui, vi = self._u, self._v, self._tmp, self._ui, self._vi
        # Texel column u = (a·c - b·s) + (x + OFFSET)/res: the rotated car-frame ground point plus
        # the car position, measured from a world origin far enough away that u > 0, so the cast
        # to int floors. The raster's own origin and place in the atlas are integers in "start".
        np.multiply(g["a"], c, out=u)
        np.multiply(g["b"], s, out=tmp)
        u -= tmp
        np.multiply(g["inv_res"], x + WORLD_OFFSET, out=tmp)
        u += tmp
        np.multiply(g["a"], s, out=v)
        np.multiply(g["b"], c, out=tmp)
        v += tmp
        np.multiply(g["inv_res"], y + WORLD_OFFSET, out=tmp)
        v += tmp
        np.copyto(ui, u, casting="unsafe")
        np.copyto(vi, v, casting="unsafe")
        if not inside:  # off the painted area: repeat the border texels
            np.clip(ui, g["u_lo"], g["u_hi"], out=ui)
            np.clip(vi, g["v_lo"], g["v_hi"], out=vi)
        vi *= g["stride"]
        vi += ui
        vi += g["start"]
        np.take(self._atlas, vi, out=dst)

    def _walls_and_boxes(self, flat: np.ndarray, x: float, y: float, c: float, s: float, inside: bool):
        """Draw barrier and box pixels over the sky and ground already in `flat`; returns the
        per-ray (distance, top) of the nearest hits, or None when there are none."""
        rot = complex(c, s)
        cam = complex(x, y)
        dirs = self._ray_dir * rot  # world ray directions
        dist = top = colour = None
        if self._walls:
            dist, top, colour = self._march(x, y, c, s, cam, dirs, inside)
        if len(self._obstacles):
            dist, top, colour = self._boxes(cam, rot, dirs, dist, top, colour, self._obstacles)
        if dist is None:
            return None
        nearest = dist.min()
        if not nearest < WALL_RANGE + 1.0:
            return None
        rows = np.flatnonzero(self._row_reach >= nearest)
        if not len(rows):
            return None
        W = self._shape[1]
        px = slice(int(rows[0]) * W, (int(rows[-1]) + 1) * W)
        wall, cap = self._cover(self._pix_ray[px], self._pix_tan[px], dist, top)
        idx = self._pix_ray2[px] + cap
        np.copyto(flat[px], self._palette.take(colour).take(idx), where=wall)
        return dist, top

    def _cover(
        self, k: np.ndarray, tan: np.ndarray, dist: np.ndarray, top: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Which pixels (rays `k`, elevations `tan`) show their ray's hit at `dist` (m) reaching
        up to `top` (m), and which of those show its darker top rail."""
        # Height at which each pixel's ray reaches its azimuth's hit; inf/nan where none.
        with np.errstate(invalid="ignore"):
            z = dist.take(k)
            z *= tan
            z += np.float32(self._h)
            t = top.take(k)
            wall = z >= 0
            wall &= z <= t
            t -= np.float32(WALL_CAP)
            cap = z > t
        return wall, cap

    def _march(self, x, y, c, s, cam, dirs, inside):
        """Walls: first solid sample along each ray, then the exact crossing of the wall face.

        The face is taken as the edge's tangent line at the centerline sample nearest to the
        first solid sample (exact on straights; on a curve the error is the sagitta over one
        march step, under a pixel). Returns per ray: distance (m, float32, inf for no hit), top
        height (m, float32) and palette indices interleaved (body, cap) (2K,).
        """
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
        j = solid.argmax(axis=1)  # first solid sample (0 if none)
        hit = solid.take(self._ray_first + j).astype(bool)
        i, w0, wd, t_h = self._face(vi, j, cam, dirs)
        n0, dn = w0.real, wd.real
        half = self.track.width / 2
        n_h = n0 + t_h * dn  # lateral offset of the sample point itself
        # A solid cell whose centre lies behind the face can hold a sample point just in front
        # of it (a ray grazing the face): drop that sample and take the ray's next solid one.
        grazing = hit & (np.abs(n_h) < half)
        for _ in range(4):
            if not grazing.any():
                break
            g = np.flatnonzero(grazing)
            solid[g, j[g]] = 0
            j[g] = solid[g].argmax(axis=1)
            hit[g] = solid[g, j[g]].astype(bool)
            i[g], w0[g], wd[g], t_h[g] = self._face(vi, j[g], cam, dirs[g], g)
            n0, dn = w0.real, wd.real
            n_h[g] = n0[g] + t_h[g] * dn[g]
            grazing[g] = hit[g] & (np.abs(n_h[g]) < half)
        side = np.copysign(1.0, n_h)  # +1: the left barrier, -1: the right one
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (side * half - n0) / dn
        # Stay near the bracketing samples (also catches rays parallel to the face); one more
        # step back is allowed because a cell's centre may lie behind the face before the ray is.
        t = np.fmax(np.fmin(t, t_h), self._march_t_prev.take(np.maximum(j - 1, 0)))
        along = self.track.s.take(i) - w0.imag - t * wd.imag
        stripe = (along * (1.0 / self.look.stripe_length)).astype(np.intp) & 1
        body = (
            self._wall_shade.take(2 * i + (side < 0))
            + stripe * (SHADE_LEVELS * FOG_LEVELS)
            + np.searchsorted(self._fog_edges, t)
        )
        colour = np.empty(2 * len(t), np.intp)
        colour[0::2] = body
        colour[1::2] = body + (2 - stripe) * (SHADE_LEVELS * FOG_LEVELS)  # the cap's palette row
        dist = np.where(hit, t, np.inf).astype(np.float32)
        top = np.full(len(t), WALL_HEIGHT, np.float32)
        return dist, top, colour

    def _face(self, cells, j, cam, dirs, rays=None):
        """Nearest centerline sample i of each ray's march sample j, and the camera and ray
        direction in that sample's frame as complex numbers w0, wd (Re: lateral offset / rate,
        -Im: along-track offset / rate), plus the sample's distance t (m). `rays` selects a
        subset of rays (all when None)."""
        first = self._ray_first if rays is None else self._ray_first[rays]
        i = self._field.index.take(cells.take(first + j))
        cn = self._normal_conj.take(i)
        return i, (cam - self._xy_c.take(i)) * cn, dirs * cn, self._march_t.take(j)

    def _boxes(self, cam, rot, dirs, dist, top, colour, boxes: _BoxSet):
        """Boxes: for every box in range and in view, a ray-box slab test in the box's frame over
        the few rays that its bounding circle spans, all boxes in one vectorised pass (a Python
        loop per box would cost more than the rest of the frame with a few dozen props)."""
        n_rays = len(dirs)
        if dist is None:
            dist = np.full(n_rays, np.inf, np.float32)
            top = np.full(n_rays, OBSTACLE_HEIGHT, np.float32)
            colour = np.zeros(2 * n_rays, np.intp)
        local = (boxes.centre - cam) * rot.conjugate()  # box centres in the car frame
        d = np.abs(local)
        r = boxes.radius
        seen = np.flatnonzero((d - r <= WALL_RANGE) & (local.real >= -r))
        if not len(seen):
            return dist, top, colour
        d, r = d[seen], r[seen]
        ang = np.arctan2(local.imag[seen], local.real[seen])
        with np.errstate(divide="ignore", invalid="ignore"):
            spread = np.arcsin(np.minimum(r / d, 1.0))
        k0 = np.maximum(np.searchsorted(self._ray_angles, ang - spread, "left") - 1, 0)
        k1 = np.minimum(np.searchsorted(self._ray_angles, ang + spread, "right") + 1, n_rays)
        at_box = d <= r  # the camera is at the box: every ray may meet it
        k0[at_box], k1[at_box] = 0, n_rays
        span = np.maximum(k1 - k0, 0)
        total = int(span.sum())
        if not total:
            return dist, top, colour
        # One (box, ray) pair per ray a box may cover.
        first = np.cumsum(span) - span
        b = np.repeat(seen, span)
        k = np.repeat(k0, span) + (np.arange(total) - np.repeat(first, span))
        brot = boxes.rot[b].conjugate()
        o = (cam - boxes.centre[b]) * brot  # camera in the box frame
        dr = dirs[k] * brot  # ray directions in the box frame
        hx, hy = boxes.hx[b], boxes.hy[b]
        with np.errstate(divide="ignore", invalid="ignore"):
            ix, iy = 1.0 / dr.real, 1.0 / dr.imag
            ax, bx = (-hx - o.real) * ix, (hx - o.real) * ix
            ay, by = (-hy - o.imag) * iy, (hy - o.imag) * iy
            nx, ny = np.minimum(ax, bx), np.minimum(ay, by)
            t_near = np.maximum(nx, ny)
            t_far = np.minimum(np.maximum(ax, bx), np.maximum(ay, by))
            t = np.where((t_near <= t_far) & (t_far > 0), np.maximum(t_near, 0.0), np.inf)
        nearest = np.full(n_rays, np.inf)
        np.minimum.at(nearest, k, t)
        win = np.flatnonzero((t == nearest.take(k)) & (t < dist.take(k)))
        if not len(win):
            return dist, top, colour
        # The face seen faces the ray: -sign of the ray on the face's axis, back to world.
        dk, bw, kw, tw = dr[win], b[win], k[win], t[win]
        normal = np.where(nx[win] > ny[win], -np.sign(dk.real), -1j * np.sign(dk.imag)) * boxes.rot[bw]
        shade = 0.72 + 0.28 * (normal * self._light_c.conjugate()).real
        body = self._colour_index(boxes.base[bw], shade, tw)
        dist[kw] = tw
        top[kw] = boxes.height[bw]
        colour[2 * kw] = body
        colour[2 * kw + 1] = body + SHADE_LEVELS * FOG_LEVELS
        return dist, top, colour


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
    lateral, along = _TrackField(track, margin + 1.0).track_coords(grid)
    L = track.length
    from_start = (along - track.start + L / 2) % L - L / 2
    rgb = paint_ground(Painter(track.name), look, track.surface, grid, res, lateral, from_start, track.width)
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
            cv2.line(
                img,
                tuple(int(v) for v in pts[i]),
                tuple(int(v) for v in pts[(i + 1) % n]),
                colour,
                thick,
                cv2.LINE_AA,
                shift=2,
            )
    for ob in track.obstacles:
        poly = np.round(to_px(ob.corners) * 4).astype(np.int32)
        cv2.fillPoly(img, [poly], look.obstacle, cv2.LINE_AA, shift=2)
        cv2.polylines(img, [poly], True, (0, 0, 0), 1, cv2.LINE_AA, shift=2)
    return img, to_px
