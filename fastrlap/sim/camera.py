"""The simulated car's camera: the scene renderer plus, in the realistic look, light and lens.

`vehicle.sim.camera.look` picks what the policy sees:

* `clean`: the renderer's frame as it is (flat shading, even surfaces, crisp lines), with the
  per-episode brightness jitter and Gaussian noise of the camera config;
* `realistic` (the default): weathered ground with shadows, clutter and a walker beside the track (all in the
  renderer's precomputed tables), then per frame the episode's changing light, a lagging
  auto-exposure, motion blur, lens distortion and vignetting, sensor noise and JPEG
  (`lighting.py`, `lens.py`).

Every random choice comes from the generator the caller passes (the vehicle's, seeded from the
run's seed) or from the track's name, so a seed still gives the same frames.
"""

from __future__ import annotations

import cv2
import numpy as np

from fastrlap.config import CameraConfig
from fastrlap.sim.lens import Lens
from fastrlap.sim.lighting import AutoExposure, Lighting
from fastrlap.sim.render import Renderer
from fastrlap.sim.scene import SceneSpec
from fastrlap.sim.track import Track

NOMINAL_LIGHT = Lighting(base=1.0, kelvin=5500.0, cloud_depth=0.0, flicker=0.0, phases=(0.0, 0.0, 0.0, 0.0))


class SimCamera:
    """Frames of `track` through `camera` (see the module docstring)."""

    def __init__(self, track: Track, camera: CameraConfig, scene: SceneSpec | None = None) -> None:
        """`scene` replaces the track's own venue (e.g. another light; see `Renderer`)."""
        self.config = camera
        self.renderer = Renderer(track, camera, scene)
        self.realistic = camera.look == "realistic"
        self.lighting = NOMINAL_LIGHT.shifted(camera.light_level)  # until an episode draws its own
        if self.realistic:
            self.lens = Lens(camera)
            self.exposure = AutoExposure()

    def new_episode(self, rng: np.random.Generator) -> None:
        """Draw the light of a new episode from rng (realistic look; the clean look draws nothing,
        so its random stream is what it always was). The auto-exposure starts settled."""
        if self.realistic:
            self.lighting = Lighting.draw(rng, self.renderer.scene.indoor).shifted(self.config.light_level)
            self.exposure.reset()

    def frame(
        self,
        x: float,
        y: float,
        yaw: float,
        t: float = 0.0,
        speed: float = 0.0,
        yaw_rate: float = 0.0,
        rng: np.random.Generator | None = None,
        brightness: float = 1.0,
    ) -> np.ndarray:
        """(H, W, 3) uint8 RGB from a car at (x, y, yaw) (m, rad) at time t (s), moving at `speed`
        (m/s) and `yaw_rate` (rad/s); noise from rng (none when None); `brightness` scales the
        episode's light."""
        if not self.realistic:
            return self.renderer.render(x, y, yaw, rng=rng, brightness=brightness)
        scene = self.renderer.render(x, y, yaw, t=t)
        level = self.lighting.level(t) * brightness
        metered = cv2.mean(scene)[1]  # green: the luminance a camera's meter mostly sees
        gain = self.exposure.update(t, level, metered)
        gains = self.lighting.tint(t) * np.float32(level * gain)
        return self.lens.develop(scene, gains, gain, speed, yaw_rate, rng)
