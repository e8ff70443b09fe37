"""Free distance along rays from the car: the geometry a driver must see, as labels.

`free_distances(track, x, y, headings)` marches straight lines from the car's position and
returns how far each one stays on the drivable surface (inside the track edges, outside every
box), capped at `limit`. It is vectorised over any number of (position, heading) pairs: the
track's projection raster (`Track.raster`, the lateral offset of every 5 cm cell) answers "is
this point off the track" for a whole array at once, so labelling 100k prior frames takes
seconds, not the minutes a per-point `Track.project` loop would.

Two users, one implementation:

* the linear probes (`probe.py`) score how well an encoder's features predict the free distance
  ahead on race-track frames;
* offline pretraining (`dataset.py`, `iql.py`) adds an auxiliary loss that predicts the free
  distance along `RAY_ANGLES` from the camera's frames of the *prior* environments — depth
  prediction as an auxiliary task (Mirowski et al. 2016, arXiv 1611.03673), because the IQL
  critic alone learned features with less of this geometry than a random encoder has
  (docs/experiments/encoder.md).
"""

from __future__ import annotations

import numpy as np

from fastrlap.sim.track import Track

MAX_FREE = 6.0  # m, free distance beyond this reads as MAX_FREE
MARCH_STEP = 0.05  # m between samples of each line (the raster's resolution)
# Ray directions relative to the car's heading (rad, positive = left): across the camera's
# 100-degree field of view, and one ray to each side where the nearer edge is.
RAY_ANGLES = (-1.5708, -0.75, -0.375, 0.0, 0.375, 0.75, 1.5708)


def blocked(track: Track, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """True where the point lies off the track (beyond either edge) or inside a box; any shape."""
    r = track.raster
    ix = np.floor((x - r.origin[0]) / r.resolution).astype(np.int64)
    iy = np.floor((y - r.origin[1]) / r.resolution).astype(np.int64)
    h, w = r.lateral.shape
    inside = (ix >= 0) & (ix < w) & (iy >= 0) & (iy < h)
    lateral = r.lateral[np.clip(iy, 0, h - 1), np.clip(ix, 0, w - 1)]
    out = ~inside | (np.abs(lateral) > track.width / 2)
    for box in track.obstacles:
        c, s = np.cos(box.yaw), np.sin(box.yaw)
        dx, dy = x - box.center[0], y - box.center[1]
        out |= (np.abs(c * dx + s * dy) <= box.size[0] / 2) & (np.abs(-s * dx + c * dy) <= box.size[1] / 2)
    return out


def free_distances(
    track: Track, x: np.ndarray, y: np.ndarray, headings: np.ndarray, limit: float = MAX_FREE
) -> np.ndarray:
    """Metres each straight line stays free (at most `limit`), shape of `headings`.

    `x`, `y` broadcast against `headings` (e.g. (N, 1) positions with (N, K) ray headings).
    The first blocked sample along a line ends it; a line never blocked reads `limit`.
    """
    headings = np.asarray(headings, dtype=np.float64)
    x = np.broadcast_to(np.asarray(x, dtype=np.float64), headings.shape)
    y = np.broadcast_to(np.asarray(y, dtype=np.float64), headings.shape)
    c, s = np.cos(headings), np.sin(headings)
    free = np.full(headings.shape, limit, dtype=np.float64)
    open_ = np.ones(headings.shape, dtype=bool)
    for d in np.arange(1, int(np.ceil(limit / MARCH_STEP))) * MARCH_STEP:
        idx = np.nonzero(open_)
        if not idx[0].size:
            break
        hit = blocked(track, x[idx] + d * c[idx], y[idx] + d * s[idx])
        hit_idx = tuple(i[hit] for i in idx)
        free[hit_idx] = d
        open_[hit_idx] = False
    return free


def ray_labels(track: Track, pose: np.ndarray, limit: float = MAX_FREE) -> np.ndarray:
    """(N, len(RAY_ANGLES)) float32: free distance along each ray from poses (N, 3) = x, y, yaw."""
    pose = np.asarray(pose, dtype=np.float64)
    headings = pose[:, 2:3] + np.asarray(RAY_ANGLES)[None, :]
    return free_distances(track, pose[:, 0:1], pose[:, 1:2], headings, limit).astype(np.float32)
