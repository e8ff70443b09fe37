"""Figure: what the simulated camera shows in each look, side by side on a few tracks.

Top row `vehicle.sim.camera.look=clean`, bottom row `realistic`, one column per track, each
frame seen from the same pose and seed. Writes docs/figures/camera_looks.png.

    python scripts/camera_looks.py [--tracks oval technical sweeper chicane prior/parking prior/office] [--out PATH]
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from fastrlap.config import CAMERA_LOOKS, CameraConfig
from fastrlap.sim.camera import SimCamera
from fastrlap.sim.track import load_track

SCALE = 2  # each 128 px frame is shown at twice its size
LABEL = 22  # px of caption above each column


def frame(track_name: str, look: str, seed: int, along: float) -> np.ndarray:
    """The camera's frame `along` (fraction of the lap) after the start, looking down the track."""
    track = load_track(track_name)
    camera = SimCamera(track, replace(CameraConfig(), look=look))
    rng = np.random.default_rng(seed)
    camera.new_episode(rng)
    s = along * track.length
    x, y = track.point_at(s, 0.0)
    for t in np.arange(0.0, 3.0, 0.1):  # let the auto-exposure settle on this view
        camera.frame(float(x), float(y), track.heading_at(s), t=float(t), speed=2.5, rng=rng)
    return camera.frame(float(x), float(y), track.heading_at(s), t=3.0, speed=2.5, rng=rng)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--tracks", nargs="+", default=["oval", "technical", "sweeper", "chicane", "prior/parking", "prior/office"]
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--along", type=float, default=0.12)
    ap.add_argument(
        "--out", default=str(Path(__file__).resolve().parent.parent / "docs" / "figures" / "camera_looks.png")
    )
    args = ap.parse_args()
    columns = []
    for name in args.tracks:
        cells = [
            cv2.resize(
                frame(name, look, args.seed, args.along), None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_NEAREST
            )
            for look in CAMERA_LOOKS
        ]
        width = cells[0].shape[1]
        caption = np.full((LABEL, width, 3), 255, np.uint8)
        cv2.putText(caption, name, (6, LABEL - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        gap = np.full((4, width, 3), 255, np.uint8)
        columns.append(np.concatenate([caption, cells[0], gap, cells[1]], axis=0))
        columns.append(np.full((columns[-1].shape[0], 4, 3), 255, np.uint8))
    strip = np.concatenate(columns[:-1], axis=1)
    side = np.full((strip.shape[0], 84, 3), 255, np.uint8)
    h = 128 * SCALE
    for i, look in enumerate(CAMERA_LOOKS):
        cv2.putText(
            side, look, (4, LABEL + i * (h + 4) + h // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), cv2.cvtColor(np.concatenate([side, strip], axis=1), cv2.COLOR_RGB2BGR)):
        raise SystemExit(f"{out}: could not write the figure; check that the folder is writable")
    print(out)


if __name__ == "__main__":
    main()
