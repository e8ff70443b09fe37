"""Shadows of walls, boxes and props on the ground plane, precomputed once per track.

The light is directional (the sun, or a hall's ceiling lights seen as one high, diffuse light),
so a ground point is in shadow when something between it and the light, a horizontal distance
d away along the light's direction, stands taller than d·tan(elevation). On a raster of
occluder heights that is a running maximum over shifted copies: one `cv2.warpAffine` per cell
of shadow length. The map is blurred by the penumbra of the light (the sun's disc is half a
degree; lamps are broad) and sampled by the ground painter like any other texture.

Things that move (the walker) cannot be baked into the ground: `MovingShadow` lays their shadow
over each frame instead.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from fastrlap.config import CameraConfig
from fastrlap.sim.scene import SceneSpec
from fastrlap.sim.textures import Grid

SUN_PENUMBRA = 0.01  # m of soft edge per m of occluder height (a 0.5 degree disc, plus scatter)
LAMP_PENUMBRA = 0.25  # the same under broad ceiling lights
NEAR = 0.05  # m ahead of the camera, along its axis, where a moving shadow's polygon is clipped


def cast(
    heights: np.ndarray, res: float, toward_light: tuple[float, float], elevation_deg: float, diffuse: bool
) -> np.ndarray:
    """Shadow (float32 0..1, heights.shape) on a raster of occluder heights (m, cell `res` m,
    rows along +y) for light arriving from the horizontal direction `toward_light` at
    `elevation_deg`; `diffuse` gives the soft edges of ceiling lights."""
    top = float(heights.max(initial=0.0))
    shadow = np.zeros(heights.shape, np.float32)
    if top <= 0.0:
        return shadow
    slope = math.tan(math.radians(elevation_deg))
    steps = int(math.ceil(top / slope / res))
    lx, ly = toward_light
    rows, cols = heights.shape
    rise = np.float32(slope * res)
    reach = np.full(heights.shape, -np.inf, np.float32)
    for k in range(1, steps + 1):
        # Cell p sees the occluder at p + k·res·light: sample the height raster there.
        m = np.array([[1.0, 0.0, k * lx], [0.0, 1.0, k * ly]])
        shifted = cv2.warpAffine(
            heights,
            m,
            (cols, rows),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0.0,
        )
        shifted -= rise * k
        np.maximum(reach, shifted, out=reach)
    shadow[reach > 0.0] = 1.0
    soft = (LAMP_PENUMBRA if diffuse else SUN_PENUMBRA) * top / res
    sigma = max(0.7, soft)
    return cv2.GaussianBlur(shadow, (0, 0), sigma)


def sampler(shadow: np.ndarray, origin: tuple[float, float], res: float):
    """A function Grid -> float32 (rows, cols) that reads the shadow raster (origin = world x, y
    of its corner, cell `res`) at the grid's cell centres, bilinearly; 0 outside."""

    def at(grid: Grid) -> np.ndarray:
        scale = grid.res / res
        m = np.array(
            [
                [scale, 0.0, (grid.x0 + 0.5 * grid.res - origin[0]) / res - 0.5],
                [0.0, scale, (grid.y0 + 0.5 * grid.res - origin[1]) / res - 0.5],
            ]
        )
        return cv2.warpAffine(
            shadow,
            m,
            (grid.shape[1], grid.shape[0]),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0.0,
        )

    return at


class MovingShadow:
    """The shadow of a box that moves (the walker), laid over the ground pixels of each frame.

    The box's footprint swept away from the light by height / tan(elevation) is the shadow's
    polygon on the ground; the ground plane maps to the image by the camera's fixed projection,
    so the polygon's corners are projected and the polygon filled (anti-aliased, and blurred by
    the light's penumbra at the box's distance, as `cast` blurs, with two box filters: a Gaussian
    of that width costs more than the rest of the frame). Under it the ground darkens by
    `loss` per channel, as under a baked shadow, but only as far as a baked shadow there has not
    darkened it already: two shadows from one light do not stack.
    """

    def __init__(
        self,
        camera: CameraConfig,
        ground: tuple[np.ndarray, np.ndarray],
        first_row: int,
        height: float,
        scene: SceneSpec,
        loss: np.ndarray,
        baked: tuple[np.ndarray, tuple[float, float], float],
    ) -> None:
        """`ground`: car-frame forward and left (m, float32 (H - first_row, W)) of the ground
        point each pixel of rows first_row.. sees; `baked`: the static shadow raster (uint8, 255 =
        full shadow), the world x, y of its corner and its cell (m)."""
        self._shape = (camera.height, camera.width)
        self._f = (camera.width / 2) / math.tan(math.radians(camera.fov_deg) / 2)
        pitch = math.radians(camera.pitch_deg)
        self._cos, self._sin, self._h = math.cos(pitch), math.sin(pitch), camera.mount_height
        self._row0 = first_row
        self._gx, self._gy = ground
        lx, ly = scene.light_direction()
        reach = height / math.tan(math.radians(scene.light_elevation_deg))
        self._sweep = np.array([-lx * reach, -ly * reach])  # where the top's shadow lands: away from the light
        self._penumbra = (LAMP_PENUMBRA if scene.indoor else SUN_PENUMBRA) * height  # m
        self._loss = np.asarray(loss, np.float32)
        self._baked, self._origin, self._res = baked

    def draw(self, ground: np.ndarray, x: float, y: float, c: float, s: float, footprint: np.ndarray) -> None:
        """Darken `ground` (uint8 RGB rows first_row.. of the frame, in place) under the shadow
        of the box standing on `footprint` ((4, 2) world corners, m), seen from a car at (x, y)
        heading (c, s)."""
        pts = np.vstack([footprint, footprint + self._sweep]) - (x, y)
        car = np.stack([pts[:, 0] * c + pts[:, 1] * s, pts[:, 1] * c - pts[:, 0] * s], axis=1)
        x_near = (NEAR + self._h * self._sin) / self._cos  # car-frame forward where the camera axis reaches NEAR
        if car[:, 0].max() < x_near:
            return
        poly = _clip_ahead(cv2.convexHull(car.astype(np.float32))[:, 0].astype(np.float64), x_near)
        fwd = poly[:, 0] * self._cos - self._h * self._sin
        up = -poly[:, 0] * self._sin - self._h * self._cos
        H, W = self._shape
        col = W / 2 - 0.5 - self._f * poly[:, 1] / fwd
        row = H / 2 - 0.5 - self._f * up / fwd
        centre = car[:4].mean(axis=0)
        depth = max(centre[0] * self._cos - self._h * self._sin, NEAR)
        sigma = self._penumbra * self._f / depth  # px
        pad = int(math.ceil(3 * sigma)) + 1
        r0, r1 = max(int(row.min()) - pad, self._row0), min(int(math.ceil(row.max())) + pad + 1, H)
        c0, c1 = max(int(col.min()) - pad, 0), min(int(math.ceil(col.max())) + pad + 1, W)
        if r0 >= r1 or c0 >= c1:
            return
        mask = np.zeros((r1 - r0, c1 - c0), np.uint8)
        corners = np.round(np.stack([col - c0, row - r0], axis=1) * 4).astype(np.int32)
        cv2.fillConvexPoly(mask, corners, 255, cv2.LINE_AA, shift=2)
        if sigma > 0.5:  # two box filters of this width have the variance of the penumbra's Gaussian
            box = 2 * int(round(math.sqrt(6 * sigma * sigma + 1) / 2)) + 1
            mask = cv2.blur(cv2.blur(mask, (box, box)), (box, box))
        if not mask.any():
            return
        rows, cols = slice(r0 - self._row0, r1 - self._row0), slice(c0, c1)
        gx, gy = self._gx[rows, cols], self._gy[rows, cols]
        i = ((x + gx * c - gy * s - self._origin[0]) / self._res).astype(np.int32)
        j = ((y + gx * s + gy * c - self._origin[1]) / self._res).astype(np.int32)
        rows_b, cols_b = self._baked.shape
        inside = (i >= 0) & (i < cols_b) & (j >= 0) & (j < rows_b)
        baked = np.where(inside, self._baked[j.clip(0, rows_b - 1), i.clip(0, cols_b - 1)], 0) * np.float32(1 / 255)
        deeper = np.maximum(mask * np.float32(1 / 255), baked)[..., None]
        factor = (1.0 - deeper * self._loss) / (1.0 - baked[..., None] * self._loss)
        block = ground[rows, cols]
        block[:] = np.clip(block * factor + 0.5, 0, 255).astype(np.uint8)


def _clip_ahead(poly: np.ndarray, x_min: float) -> np.ndarray:
    """The part of the convex polygon `poly` ((K, 2), car frame) with forward x >= x_min."""
    out = []
    for a, b in zip(poly, np.roll(poly, -1, axis=0)):
        if a[0] >= x_min:
            out.append(a)
        if (a[0] >= x_min) != (b[0] >= x_min):
            out.append(a + (x_min - a[0]) / (b[0] - a[0]) * (b - a))
    return np.array(out)
