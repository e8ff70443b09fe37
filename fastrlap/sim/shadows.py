"""Shadows of walls, boxes and props on the ground plane, precomputed once per track.

The light is directional (the sun, or a hall's ceiling lights seen as one high, diffuse light),
so a ground point is in shadow when something between it and the light, a horizontal distance
d away along the light's direction, stands taller than d·tan(elevation). On a raster of
occluder heights that is a running maximum over shifted copies: one `cv2.warpAffine` per cell
of shadow length. The map is blurred by the penumbra of the light (the sun's disc is half a
degree; lamps are broad) and sampled by the ground painter like any other texture.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from fastrlap.sim.textures import Grid

SUN_PENUMBRA = 0.01  # m of soft edge per m of occluder height (a 0.5 degree disc, plus scatter)
LAMP_PENUMBRA = 0.25  # the same under broad ceiling lights


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
