"""Linear probes: how much of what a racing car must see can a linear read-out find in an encoder?

Frames come from the race tracks, which the prior data never shows (held out by construction):
random poses on each track (anywhere across the width, heading off the course direction by up
to ±0.6 rad), rendered by the simulator's camera, stacked as a still frame (`FrameStack.reset`,
what the policy sees at an episode start). Two labels a driver needs:

* **free distance ahead** (m, capped at `MAX_FREE`): how far the car can go straight on before
  it leaves the track or reaches a box — the "is there room" signal;
* **nearer edge on the left** (bool): whether the left edge is closer than the right one, along
  the car's own lateral axis — "is the wall left or right".

`probe` fits ridge regression / a ridge classifier on the standardised embeddings of a random
70% of the frames (pooled over the tracks) and scores the other 30%; the ridge strength is
chosen by 3-fold cross-validation inside the 70%. (Leaving whole tracks out instead mostly
measures how each track's look shifts the read-out's offset: every track has its own surfaces.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fastrlap.agent.encoder import Encoder, FrameStack
from fastrlap.config import CameraConfig
from fastrlap.pretrain.geometry import blocked, free_distances
from fastrlap.sim.render import Renderer
from fastrlap.sim.track import Track

HEADING_SPREAD = 0.6  # rad, heading offsets are drawn from ±this
ALPHAS = (1.0, 10.0, 100.0, 1000.0, 10000.0)


@dataclass
class ProbeSet:
    """Frames (as encoder stacks) and labels from one track."""

    track: str
    stacks: np.ndarray  # (N, 3K, S, S) uint8
    free: np.ndarray  # (N,) m
    left_nearer: np.ndarray  # (N,) bool


def probe_set(track: Track, camera: CameraConfig, encoder_spec, n: int, rng: np.random.Generator) -> ProbeSet:
    """`n` random poses on `track` with their stacks and labels."""
    renderer = Renderer(track, camera)
    stack = FrameStack(encoder_spec)
    stacks, poses = [], []
    while len(stacks) < n:
        s = float(rng.uniform(0.0, track.length))
        lateral = float(rng.uniform(-0.85, 0.85)) * track.width / 2
        x, y = track.point_at(s, lateral)
        heading = track.heading_at(s) + float(rng.uniform(-HEADING_SPREAD, HEADING_SPREAD))
        if blocked(track, np.float64(x), np.float64(y)):
            continue  # inside a box
        stacks.append(stack.reset(renderer.render(x, y, heading, rng=rng)))
        poses.append((x, y, heading))
    x, y, heading = (np.asarray(v)[:, None] for v in zip(*poses))
    free = free_distances(track, x, y, heading)[:, 0]
    sides = free_distances(track, x, y, heading + np.array([np.pi / 2, -np.pi / 2]), limit=track.width * 3)
    return ProbeSet(track.name, np.stack(stacks), free, sides[:, 0] < sides[:, 1])


def embed(encoder: Encoder, stacks: np.ndarray, batch: int = 256) -> np.ndarray:
    return np.concatenate([encoder.embed(stacks[i : i + batch]) for i in range(0, len(stacks), batch)])


def _ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    """Weights (D + 1,) of ridge regression with an unpenalised bias, via the dual when N < D."""
    xm, ym = x.mean(0), y.mean()
    xc, yc = x - xm, y - ym
    n, d = xc.shape
    if n < d:
        w = xc.T @ np.linalg.solve(xc @ xc.T + alpha * np.eye(n), yc)
    else:
        w = np.linalg.solve(xc.T @ xc + alpha * np.eye(d), xc.T @ yc)
    return np.concatenate([w, [ym - xm @ w]])


def _predict(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    return x @ w[:-1] + w[-1]


def _standardise(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu, sd = train.mean(0), train.std(0) + 1e-6
    return (train - mu) / sd, (test - mu) / sd


def _fit(x: np.ndarray, y: np.ndarray, score, folds: int = 3) -> np.ndarray:
    """Ridge weights with alpha chosen by `folds`-fold cross-validation inside (x, y)."""
    part = np.arange(len(y)) % folds
    best, best_alpha = -np.inf, ALPHAS[0]
    for alpha in ALPHAS:
        scores = []
        for f in range(folds):
            xtr, xva = _standardise(x[part != f], x[part == f])
            scores.append(score(y[part == f], _predict(_ridge(xtr, y[part != f], alpha), xva)))
        if np.mean(scores) > best:
            best, best_alpha = float(np.mean(scores)), alpha
    return _ridge(x, y, best_alpha)


def r2(y: np.ndarray, pred: np.ndarray) -> float:
    return float(1.0 - ((y - pred) ** 2).sum() / max(((y - y.mean()) ** 2).sum(), 1e-12))


def accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    return float(((pred > 0.5) == (y > 0.5)).mean())


def probe(embeddings: dict[str, np.ndarray], sets: list[ProbeSet], seed: int = 0) -> dict[str, float]:
    """Held-out scores: R² of the free distance ahead and left/right accuracy on 30% of the frames."""
    z = np.concatenate([embeddings[s.track] for s in sets])
    free = np.concatenate([s.free for s in sets])
    left = np.concatenate([s.left_nearer for s in sets]).astype(np.float64)
    order = np.random.default_rng(seed).permutation(len(free))
    cut = int(0.7 * len(order))
    tr, te = order[:cut], order[cut:]
    ztr, zte = _standardise(z[tr], z[te])
    w_free = _fit(ztr, free[tr], r2)
    w_left = _fit(ztr, left[tr], accuracy)
    return {"free_r2": r2(free[te], _predict(w_free, zte)), "left_acc": accuracy(left[te], _predict(w_left, zte))}
