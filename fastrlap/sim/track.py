"""Track geometry: YAML loading and validation, the periodic-spline centerline, projection.

A track is a closed loop (format in docs/design.md). Everything else in the simulator asks it
questions in arc length `s` (m along the centerline from its first point) and lateral offset `n`
(m, positive to the left of the driving direction): the dynamics ask which surface a wheel is on
and whether the footprint touches a wall, the renderer asks what the ground looks like, the
oracle asks for curvature. Projection is O(1): a raster of the nearest centerline sample is built
once per track, then refined on the two neighbouring segments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path

import cv2
import numpy as np
import yaml
from scipy.interpolate import CubicSpline

from fastrlap.errors import FastrlapError
from fastrlap.sim.scene import SceneSpec, default_scene, parse_scene

TRACK_KEYS = {"name", "width", "centerline", "walls", "obstacles", "start", "surface", "scene"}
OBSTACLE_KEYS = {"center", "size", "yaw"}
WALL_SECTION_KEYS = {"side", "from", "to"}
WALL_MODES = ("both", "inner", "outer", "none")
WALL_SIDES = ("both", "inner", "outer", "left", "right")
SURFACES = ("asphalt", "concrete", "carpet", "tile", "dirt", "grass", "gravel", "sand", "wood")
SAMPLE_SPACING = 0.05  # m between dense centerline samples
RASTER_RESOLUTION = 0.05  # m per cell of the projection raster
RASTER_MARGIN = 6.0  # m of raster beyond the track's bounding box


class TrackError(FastrlapError, ValueError):
    """A track file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Obstacle:
    """A box standing on the ground (m, rad)."""

    center: tuple[float, float]
    size: tuple[float, float]  # length along its own x, width along its own y
    yaw: float = 0.0

    @property
    def corners(self) -> np.ndarray:
        """(4, 2) corners, counter-clockwise."""
        hx, hy = self.size[0] / 2, self.size[1] / 2
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        local = np.array([[hx, hy], [-hx, hy], [-hx, -hy], [hx, -hy]])
        rot = np.array([[c, -s], [s, c]])
        return local @ rot.T + np.asarray(self.center)

    @property
    def radius(self) -> float:
        return 0.5 * math.hypot(*self.size)


@dataclass(frozen=True)
class TrackRaster:
    """Per-cell geometry over the track's bounding box (plus margin), built once per track.

    `index[iy, ix]` is the nearest dense centerline sample to the cell centre; `lateral` and
    `along` are that cell's offset n and arc length s. Cell (iy, ix) covers world
    x = origin[0] + (ix + 0.5)·res, y = origin[1] + (iy + 0.5)·res.
    """

    origin: np.ndarray  # (2,) world x, y of the raster's lower-left corner, m
    resolution: float  # m per cell
    index: np.ndarray  # (H, W) int32
    lateral: np.ndarray  # (H, W) float32, m
    along: np.ndarray  # (H, W) float32, m


@dataclass(frozen=True)
class Projection:
    s: float  # arc length of the closest centerline point, m
    n: float  # signed lateral offset, m (left positive)
    index: int  # dense sample index at or just before s


class Track:
    """A loaded, validated track with its dense centerline samples.

    Arrays (N = number of samples, spaced `ds` ≈ 5 cm): `xy` (N, 2) centerline points,
    `tangent` and `normal` (N, 2) unit vectors (normal points left), `curvature` (N,) 1/m
    (positive turning left), `s` (N,) arc length; `wall_left`/`wall_right` (N,) bools say where a
    barrier stands on that edge.
    """

    def __init__(
        self,
        name: str,
        width: float,
        control_points: np.ndarray,
        walls: str | list[dict],
        obstacles: list[Obstacle],
        start: float,
        surface: dict[str, str],
        source: str,
        scene: SceneSpec | None = None,
    ) -> None:
        self.name = name
        self.width = float(width)
        self.control_points = np.asarray(control_points, dtype=np.float64)
        self.obstacles = list(obstacles)
        self.surface = dict(surface)
        self.scene = scene or default_scene(self.surface)  # the venue the realistic camera shows
        self.source = source
        self._build_centerline()
        self.start = float(start) % self.length
        self.wall_left, self.wall_right = self._wall_masks(walls)

    # ------------------------------------------------------------------ geometry
    def _build_centerline(self) -> None:
        pts = np.vstack([self.control_points, self.control_points[:1]])
        chord = np.linalg.norm(np.diff(pts, axis=0), axis=1)
        if np.any(chord < 1e-6):
            raise TrackError(f"{self.source}: centerline: two consecutive points coincide")
        u = np.concatenate([[0.0], np.cumsum(chord)])
        spline = CubicSpline(u, pts, bc_type="periodic")
        # Arc length by dense integration, then resample uniformly in arc length.
        uu = np.linspace(0.0, u[-1], int(u[-1] / 0.01) + 2)
        d = spline(uu, 1)
        speed = np.linalg.norm(d, axis=1)
        s_of_u = np.concatenate([[0.0], np.cumsum(0.5 * (speed[1:] + speed[:-1]) * np.diff(uu))])
        self.length = float(s_of_u[-1])
        n = max(16, int(round(self.length / SAMPLE_SPACING)))
        self.ds = self.length / n
        self.s = np.arange(n) * self.ds
        u_s = np.interp(self.s, s_of_u, uu)
        self.xy = spline(u_s)
        d1, d2 = spline(u_s, 1), spline(u_s, 2)
        norm = np.linalg.norm(d1, axis=1)
        self.tangent = d1 / norm[:, None]
        self.normal = np.stack([-self.tangent[:, 1], self.tangent[:, 0]], axis=1)
        self.curvature = (d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]) / norm**3
        self.heading = np.arctan2(self.tangent[:, 1], self.tangent[:, 0])
        area = 0.5 * np.sum(self.xy[:, 0] * np.roll(self.xy[:, 1], -1) - np.roll(self.xy[:, 0], -1) * self.xy[:, 1])
        self.counter_clockwise = bool(area > 0)

    @property
    def left_edge(self) -> np.ndarray:
        return self.xy + self.normal * (self.width / 2)

    @property
    def right_edge(self) -> np.ndarray:
        return self.xy - self.normal * (self.width / 2)

    @property
    def inner_is_left(self) -> bool:
        """On a counter-clockwise loop the inside of the track is on the driver's left."""
        return self.counter_clockwise

    def _wall_masks(self, walls: str | list[dict]) -> tuple[np.ndarray, np.ndarray]:
        n = len(self.s)
        left, right = np.zeros(n, bool), np.zeros(n, bool)
        sections = [{"side": walls, "from": 0.0, "to": self.length}] if isinstance(walls, str) else walls
        for sec in sections:
            side = sec["side"]
            if side == "none":
                continue
            s0, s1 = float(sec["from"]) % self.length, float(sec["to"])
            span = (s1 - s0) if s1 - s0 >= self.length - 1e-9 else (s1 - s0) % self.length
            inside = ((self.s - s0) % self.length) <= span + 1e-9
            want_left, want_right = {
                "both": (True, True),
                "left": (True, False),
                "right": (False, True),
                "inner": (self.inner_is_left, not self.inner_is_left),
                "outer": (not self.inner_is_left, self.inner_is_left),
            }[side]
            left |= inside & want_left
            right |= inside & want_right
        return left, right

    def wall_segments(self) -> np.ndarray:
        """(M, 2, 2) wall segments (edges where a barrier stands) plus obstacle box sides."""
        segs = []
        for edge, mask in ((self.left_edge, self.wall_left), (self.right_edge, self.wall_right)):
            nxt = np.roll(edge, -1, axis=0)
            on = mask & np.roll(mask, -1)
            segs.append(np.stack([edge[on], nxt[on]], axis=1))
        for ob in self.obstacles:
            c = ob.corners
            segs.append(np.stack([c, np.roll(c, -1, axis=0)], axis=1))
        return np.concatenate(segs, axis=0) if segs else np.zeros((0, 2, 2))

    # ------------------------------------------------------------------ queries
    def wrap(self, s: float | np.ndarray) -> float | np.ndarray:
        return np.mod(s, self.length)

    def _sample(self, arr: np.ndarray, s: float | np.ndarray) -> np.ndarray:
        """Linear interpolation of a per-sample array at arc length(s), periodic."""
        x = np.asarray(self.wrap(s)) / self.ds
        i0 = np.floor(x).astype(int) % len(self.s)
        i1 = (i0 + 1) % len(self.s)
        w = x - np.floor(x)
        if arr.ndim == 2:
            w = np.asarray(w)[..., None]
        return arr[i0] * (1 - w) + arr[i1] * w

    def point_at(self, s: float | np.ndarray, n: float | np.ndarray = 0.0) -> np.ndarray:
        """World point(s) at arc length s and lateral offset n."""
        return self._sample(self.xy, s) + np.asarray(n)[..., None] * self._sample(self.normal, s)

    def heading_at(self, s: float) -> float:
        t = self._sample(self.tangent, s)
        return float(math.atan2(t[1], t[0]))

    @cached_property
    def raster(self) -> TrackRaster:
        """Nearest-sample raster: a distance transform seeded with the centerline samples."""
        res = RASTER_RESOLUTION
        lo = np.min(np.vstack([self.left_edge, self.right_edge]), axis=0) - RASTER_MARGIN
        hi = np.max(np.vstack([self.left_edge, self.right_edge]), axis=0) + RASTER_MARGIN
        w, h = (np.ceil((hi - lo) / res)).astype(int)
        seeds = np.full((h, w), 255, np.uint8)
        px = np.clip(((self.xy - lo) / res).astype(int), 0, [w - 1, h - 1])
        seeds[px[:, 1], px[:, 0]] = 0
        _, labels = cv2.distanceTransformWithLabels(seeds, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
        label_to_index = np.zeros(labels.max() + 1, np.int32)
        label_to_index[labels[px[:, 1], px[:, 0]]] = np.arange(len(self.xy), dtype=np.int32)
        index = label_to_index[labels]
        ys, xs = np.mgrid[0:h, 0:w]
        cx = lo[0] + (xs + 0.5) * res
        cy = lo[1] + (ys + 0.5) * res
        dx, dy = cx - self.xy[index, 0], cy - self.xy[index, 1]
        lateral = (dx * self.normal[index, 0] + dy * self.normal[index, 1]).astype(np.float32)
        along = (self.s[index] + dx * self.tangent[index, 0] + dy * self.tangent[index, 1]) % self.length
        return TrackRaster(origin=lo, resolution=res, index=index, lateral=lateral, along=along.astype(np.float32))

    @cached_property
    def scalar_tables(
        self,
    ) -> tuple[list[float], list[float], list[float], list[float], list[list[int]], float, float, float]:
        """Python lists (x, y, normal x, normal y, raster index, origin x, origin y, resolution).

        The simulator's per-sub-step queries are scalar; indexing numpy arrays one element at a
        time costs about ten times more than indexing lists.
        """
        r = self.raster
        return (
            self.xy[:, 0].tolist(),
            self.xy[:, 1].tolist(),
            self.normal[:, 0].tolist(),
            self.normal[:, 1].tolist(),
            r.index.tolist(),
            float(r.origin[0]),
            float(r.origin[1]),
            r.resolution,
        )

    def project(self, x: float, y: float) -> Projection:
        """Closest centerline point: raster lookup, then exact projection on adjacent segments.

        The offset is measured along the normal interpolated between samples, so it is
        continuous in (x, y): a wall test on it cannot be jumped over.
        """
        xs, ys, nxs, nys, grid, ox, oy, res = self.scalar_tables
        ix, iy = int((x - ox) / res), int((y - oy) / res)
        if 0 <= iy < len(grid) and 0 <= ix < len(grid[0]):
            i = grid[iy][ix]
        else:
            i = int(np.argmin((self.xy[:, 0] - x) ** 2 + (self.xy[:, 1] - y) ** 2))
        n_samples = len(xs)
        # The raster cell's seed can be a sample or two off (more on the inside of tight
        # curves, where samples crowd together): walk downhill to the closest sample first.
        d_i = (x - xs[i]) ** 2 + (y - ys[i]) ** 2
        for direction in (1, -1):
            while True:
                k = (i + direction) % n_samples
                d_k = (x - xs[k]) ** 2 + (y - ys[k]) ** 2
                if d_k >= d_i:
                    break
                i, d_i = k, d_k
        j = i - 1 if i > 0 else n_samples - 1
        best_d2 = math.inf
        for a in (j, i):
            b = a + 1 if a + 1 < n_samples else 0
            ax, ay = xs[a], ys[a]
            ex, ey = xs[b] - ax, ys[b] - ay
            t = ((x - ax) * ex + (y - ay) * ey) / (ex * ex + ey * ey)
            t = 0.0 if t < 0.0 else (1.0 if t > 1.0 else t)
            qx, qy = ax + t * ex, ay + t * ey
            d2 = (x - qx) ** 2 + (y - qy) ** 2
            if d2 < best_d2:
                best_d2, best_a, best_t, best_q, best_b = d2, a, t, (qx, qy), b
        nx = nxs[best_a] * (1 - best_t) + nxs[best_b] * best_t
        ny = nys[best_a] * (1 - best_t) + nys[best_b] * best_t
        n = ((x - best_q[0]) * nx + (y - best_q[1]) * ny) / math.hypot(nx, ny)
        return Projection(s=(best_a + best_t) * self.ds % self.length, n=n, index=best_a)

    def on_track(self, x: float, y: float) -> bool:
        return abs(self.project(x, y).n) <= self.width / 2


# ---------------------------------------------------------------------- loading and validation
def tracks_dir() -> Path:
    return Path(str(resources.files("fastrlap.sim") / "tracks"))


def builtin_tracks(kind: str = "race") -> list[str]:
    """Names of the built-in race tracks (`kind="race"`) or prior environments (`"prior"`)."""
    folder = tracks_dir() if kind == "race" else tracks_dir() / "prior"
    if kind not in ("race", "prior"):
        raise ValueError(f"unknown track kind {kind!r}: use 'race' or 'prior'")
    return sorted(p.stem for p in folder.glob("*.yaml"))


def resolve_track_path(name_or_path: str) -> Path:
    """A built-in name (race track or prior environment) or a path to a YAML file."""
    p = Path(name_or_path).expanduser()
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.is_file():
            raise TrackError(
                f"{p}: track file not found; give a built-in name ({', '.join(builtin_tracks())}) or an existing YAML path"
            )
        return p
    for folder in (tracks_dir(), tracks_dir() / "prior"):
        cand = folder / f"{name_or_path}.yaml"
        if cand.is_file():
            return cand
    known = ", ".join(builtin_tracks() + builtin_tracks("prior"))
    raise TrackError(f"unknown track {name_or_path!r}; built-in tracks are: {known} (or give a path to a YAML file)")


def track_name(name_or_path: str) -> str:
    """What a track is called in folder names and tables: a built-in's own name, or a file's
    `name:` field (its stem when the file cannot be read or names nothing), so a track given as
    path/to/my_track.yaml never puts its folders into a name."""
    path = Path(name_or_path).expanduser()
    if path.suffix not in (".yaml", ".yml") and "/" not in name_or_path:
        return name_or_path
    try:
        data = track_data(name_or_path)
    except (TrackError, OSError):
        return path.stem
    name = data.get("name") if isinstance(data, dict) else None
    return str(name) if name else path.stem


def load_track(name_or_path: str) -> Track:
    return parse_track(track_data(name_or_path), source=str(resolve_track_path(name_or_path)))


def track_data(name_or_path: str):
    """The parsed YAML mapping of a track (a name or a path), for comparing two tracks by content."""
    path = resolve_track_path(name_or_path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise TrackError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    return data


def _number(src: str, field: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TrackError(f"{src}: {field}: expected a finite number, got {value!r}")
    return float(value)


def _pair(src: str, field: str, value) -> tuple[float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise TrackError(f"{src}: {field}: expected [x, y], got {value!r}")
    return (_number(src, field, value[0]), _number(src, field, value[1]))


def parse_track(data, source: str = "<track>") -> Track:
    """Validate a track mapping (the YAML format in docs/design.md) and build the Track."""
    src = source
    if not isinstance(data, dict):
        raise TrackError(f"{src}: expected a mapping with keys {sorted(TRACK_KEYS)}")
    unknown = set(data) - TRACK_KEYS
    if unknown:
        raise TrackError(f"{src}: unknown key(s) {sorted(unknown)}; allowed: {sorted(TRACK_KEYS)}")
    for key in ("name", "width", "centerline"):
        if key not in data:
            raise TrackError(f"{src}: {key}: missing (required)")
    name = str(data["name"])
    width = _number(src, "width", data["width"])
    if width <= 0:
        raise TrackError(f"{src}: width: must be > 0 m, got {width}")
    cl = data["centerline"]
    if not isinstance(cl, list) or len(cl) < 4:
        raise TrackError(
            f"{src}: centerline: needs at least 4 points for a closed loop, got {len(cl) if isinstance(cl, list) else cl!r}"
        )
    points = np.array([_pair(src, f"centerline[{i}]", p) for i, p in enumerate(cl)])
    walls = data.get("walls", "both")
    if isinstance(walls, str):
        if walls not in WALL_MODES:
            raise TrackError(f"{src}: walls: {walls!r} is not one of {WALL_MODES} (or a list of sections)")
    elif isinstance(walls, list):
        for i, sec in enumerate(walls):
            if not isinstance(sec, dict) or set(sec) - WALL_SECTION_KEYS or "side" not in sec:
                raise TrackError(f"{src}: walls[{i}]: expected {{side, from, to}}, got {sec!r}")
            if sec["side"] not in WALL_SIDES:
                raise TrackError(f"{src}: walls[{i}].side: {sec['side']!r} is not one of {WALL_SIDES}")
            sec.setdefault("from", 0.0)
            sec.setdefault("to", 1e9)
            _number(src, f"walls[{i}].from", sec["from"])
            _number(src, f"walls[{i}].to", sec["to"])
    else:
        raise TrackError(f"{src}: walls: expected one of {WALL_MODES} or a list of sections, got {walls!r}")
    obstacles = []
    for i, ob in enumerate(data.get("obstacles") or []):
        if not isinstance(ob, dict) or set(ob) - OBSTACLE_KEYS or not {"center", "size"} <= set(ob):
            raise TrackError(f"{src}: obstacles[{i}]: expected {{center: [x, y], size: [l, w], yaw}}, got {ob!r}")
        size = _pair(src, f"obstacles[{i}].size", ob["size"])
        if min(size) <= 0:
            raise TrackError(f"{src}: obstacles[{i}].size: must be > 0, got {list(size)}")
        obstacles.append(
            Obstacle(
                center=_pair(src, f"obstacles[{i}].center", ob["center"]),
                size=size,
                yaw=_number(src, f"obstacles[{i}].yaw", ob.get("yaw", 0.0)),
            )
        )
    start = _number(src, "start", data.get("start", 0.0))
    surface = data.get("surface") or {}
    if not isinstance(surface, dict) or set(surface) - {"track", "offtrack"}:
        raise TrackError(f"{src}: surface: expected {{track: NAME, offtrack: NAME}}, got {surface!r}")
    surface = {"track": "asphalt", "offtrack": "grass", **surface}
    for k, v in surface.items():
        if v not in SURFACES:
            raise TrackError(f"{src}: surface.{k}: unknown texture {v!r}; known: {', '.join(SURFACES)}")
    scene = parse_scene(src, data.get("scene"), surface)
    track = Track(name, width, points, walls, obstacles, start, surface, source=src, scene=scene)
    _validate_geometry(track)
    return track


def _segments_cross(a0: np.ndarray, a1: np.ndarray, b0: np.ndarray, b1: np.ndarray) -> np.ndarray:
    """(Na, Nb) proper-intersection matrix of segment sets a and b."""

    def orient(p, q, r):
        return (q[..., 0] - p[..., 0]) * (r[..., 1] - p[..., 1]) - (q[..., 1] - p[..., 1]) * (r[..., 0] - p[..., 0])

    A0, A1 = a0[:, None], a1[:, None]
    B0, B1 = b0[None], b1[None]
    d1, d2 = orient(B0, B1, A0), orient(B0, B1, A1)
    d3, d4 = orient(A0, A1, B0), orient(A0, A1, B1)
    return (d1 * d2 < 0) & (d3 * d4 < 0)


def _validate_geometry(track: Track) -> None:
    src = track.source
    step = max(1, int(0.2 / track.ds))
    left, right = track.left_edge[::step], track.right_edge[::step]
    for name, edge in (("left", left), ("right", right)):
        a0, a1 = edge, np.roll(edge, -1, axis=0)
        hit = _segments_cross(a0, a1, a0, a1)
        m = len(edge)
        idx = np.arange(m)
        gap = np.abs(idx[:, None] - idx[None, :])
        hit &= np.minimum(gap, m - gap) > 1
        if hit.any():
            i = int(np.argwhere(hit)[0][0]) * step
            raise TrackError(
                f"{src}: centerline: the {name} edge intersects itself near s={track.s[i]:.1f} m "
                f"(a curve is tighter than half the width, or the loop crosses itself)"
            )
    cross = _segments_cross(left, np.roll(left, -1, axis=0), right, np.roll(right, -1, axis=0))
    if cross.any():
        i = int(np.argwhere(cross)[0][0]) * step
        raise TrackError(f"{src}: centerline: the left and right edges cross near s={track.s[i]:.1f} m")
    for i, ob in enumerate(track.obstacles):
        g = np.linspace(-0.5, 0.5, 5)
        local = np.stack(np.meshgrid(g * ob.size[0], g * ob.size[1]), -1).reshape(-1, 2)
        c, s = math.cos(ob.yaw), math.sin(ob.yaw)
        pts = local @ np.array([[c, -s], [s, c]]).T + np.asarray(ob.center)
        if all(abs(track.project(px, py).n) > track.width / 2 for px, py in pts):
            raise TrackError(
                f"{src}: obstacles[{i}]: box at {list(ob.center)} lies entirely off the track "
                f"(it would never be met); move it onto the track or delete it"
            )
