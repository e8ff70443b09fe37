"""`fastrlap sim view`: a still of the first-person camera and a video of a scripted lap.

The video puts the policy's-eye view beside a top-down map so users (and the docs) can see what
the simulator shows the car and where it is, in the camera look practice uses (realistic by
default; `vehicle.sim.camera.look=clean` shows the flat-shaded one).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from fastrlap.config import Config
from fastrlap.errors import FastrlapError
from fastrlap.sim.camera import SimCamera
from fastrlap.sim.drivers import DemoDriver, OracleDriver
from fastrlap.sim.dynamics import car_params
from fastrlap.sim.render import top_down
from fastrlap.sim.track import load_track
from fastrlap.sim.world import World
from fastrlap.types import Pose
from fastrlap.video import Mp4Writer

PANEL = 384  # px, height of each half of a video frame


def _fit(img: np.ndarray, height: int) -> np.ndarray:
    w = max(1, int(round(img.shape[1] * height / img.shape[0])))
    return cv2.resize(img, (w, height), interpolation=cv2.INTER_NEAREST if img.shape[0] < height else cv2.INTER_AREA)


def write_view(cfg: Config) -> list[Path]:
    """Write `view.png` (the camera at the start line) and `lap.mp4` (one scripted lap, H.264 so that
    it plays in a browser)."""
    track = load_track(cfg.track)
    params = car_params(cfg.vehicle)
    world = World(track, params, cfg.vehicle.sim, cfg.vehicle.control_hz, seed=cfg.seed)
    camera = SimCamera(track, cfg.vehicle.sim.camera)
    rng = np.random.default_rng(cfg.seed)
    camera.new_episode(rng)

    def look(st) -> np.ndarray:
        return _fit(camera.frame(st.x, st.y, st.yaw, t=world.t, speed=st.vx, yaw_rate=st.yaw_rate, rng=rng), PANEL)

    if cfg.view.driver == "oracle":
        driver = OracleDriver(track, params)
    elif cfg.view.driver == "demo":
        driver = DemoDriver(track, params, seed=cfg.seed)
    else:
        raise FastrlapError(f"view.driver={cfg.view.driver!r}: use oracle or demo")
    out = Path(cfg.view.out_dir)
    out.mkdir(parents=True, exist_ok=True)

    st = world.state
    still = out / "view.png"
    if not cv2.imwrite(str(still), cv2.cvtColor(look(st), cv2.COLOR_RGB2BGR)):
        raise FastrlapError(f"{still}: could not write the image; check that the folder is writable")

    base, to_px = top_down(track)
    map_scale = PANEL / base.shape[0]
    base = _fit(base, PANEL)
    video = out / "lap.mp4"
    trail: list[tuple[int, int]] = []
    travelled, s_prev = 0.0, track.project(st.x, st.y).s
    with Mp4Writer(video, cfg.vehicle.control_hz) as writer:
        for _ in range(int(cfg.view.seconds * cfg.vehicle.control_hz)):
            view = look(st)
            top = base.copy()
            px = to_px(np.array([[st.x, st.y]]))[0] * map_scale
            trail.append((int(px[0]), int(px[1])))
            for a, b in zip(trail, trail[1:]):
                cv2.line(top, a, b, (255, 80, 0), 2)
            cv2.circle(top, trail[-1], 6, (255, 0, 0), -1)
            frame = np.concatenate([view, top], axis=1)
            cv2.putText(
                frame,
                f"t={world.t:5.1f}s  v={st.vx:4.1f} m/s",
                (8, 22),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.6,
                (255, 255, 255),
                2,
            )
            writer.write(frame)
            st = world.step(driver(Pose(st.x, st.y, st.yaw), st.vx)).state
            s_now = track.project(st.x, st.y).s
            travelled += (s_now - s_prev + track.length / 2) % track.length - track.length / 2
            s_prev = s_now
            if travelled >= track.length:
                break
    return [still, video]
