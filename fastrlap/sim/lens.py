"""What a cheap wide-angle USB camera does to the picture after the light: the optics and the
electronics between the scene and the bytes a policy gets.

* motion blur: a box blur whose width follows the image's motion during the exposure
  (yaw rate sweeps the whole frame sideways, speed streaks the near ground downwards);
* barrel distortion of the lens: one `cv2.remap` through fixed-point tables precomputed per
  camera geometry;
* exposure, colour and vignetting in one multiply: the lens's fall-off mask times the frame's
  RGB gains (light level x auto-exposure x tint). Gains are per channel, so they commute with
  the blur and the remap and can wait for this single pass;
* sensor noise: a bank of Gaussian noise drawn once and read at offsets from the caller's rng;
* JPEG compression at the quality of an MJPEG webcam stream (`cv2.imencode`/`imdecode`).

All tables are built once; a frame costs a handful of OpenCV calls on 128x128 pixels.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from fastrlap.config import CameraConfig

DISTORTION_K1 = 0.18  # radial coefficient: r_source = r (1 + k1 r^2), r = 1 at the image edge
DISTORTION_FIXED_RADIUS = 1.15  # this radius keeps its place (beyond it: the border repeats)
VIGNETTE = 0.38  # brightness lost at the corners (cos^4-like fall-off)
JPEG_QUALITY = 72  # typical of MJPEG webcam streams at small sizes
BASE_EXPOSURE_S = 0.012  # s of exposure at gain 1; a darker scene gets a longer exposure
MAX_EXPOSURE_S = 0.033  # one frame period at 30 fps
NEAR_GROUND_FRACTION = 0.4  # lowest part of the image that streaks with forward speed
STREAK_PX_PER_M = 110.0  # px of vertical streak there per m travelled during the exposure
SENSOR_NOISE_STD = 3.0  # 0-255 units of read noise at gain 1 (amplified with the gain)
NOISE_BANK_FRAMES = 16
NOISE_BANK_SEED = 20230419


def noise_bank(std: float, pixels: int) -> np.ndarray:
    """Gaussian noise (int16, `NOISE_BANK_FRAMES` frames of `pixels` values) drawn once per camera:
    a frame reads a slice at an offset from its own rng, 20x cheaper than fresh normals."""
    bank = np.random.default_rng(NOISE_BANK_SEED).standard_normal(NOISE_BANK_FRAMES * pixels)
    return np.rint(bank * std).clip(-255, 255).astype(np.int16)


def add_noise(frame: np.ndarray, bank: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """frame + a slice of `bank` at an offset drawn from rng, clipped to uint8 (a new array)."""
    n = frame.size
    start = int(rng.integers(0, len(bank) - n))
    noisy = frame.reshape(-1).astype(np.int16)
    noisy += bank[start : start + n]
    np.clip(noisy, 0, 255, out=noisy)
    return noisy.astype(np.uint8).reshape(frame.shape)


class Lens:
    """The per-frame camera model of the realistic look for one camera geometry."""

    def __init__(self, camera: CameraConfig) -> None:
        h, w = camera.height, camera.width
        self.focal_px = (w / 2) / math.tan(math.radians(camera.fov_deg) / 2)
        half = w / 2
        x = (np.arange(w, dtype=np.float32) + 0.5 - w / 2) / half
        y = (np.arange(h, dtype=np.float32) + 0.5 - h / 2) / half
        xx, yy = np.meshgrid(x, y)
        r2 = xx * xx + yy * yy
        k, r0 = DISTORTION_K1, DISTORTION_FIXED_RADIUS
        scale = (1 + k * r2) / (1 + k * r0 * r0)
        map_x = xx * scale * half + w / 2 - 0.5
        map_y = yy * scale * half + h / 2 - 0.5
        self._map1, self._map2 = cv2.convertMaps(map_x.astype(np.float32), map_y.astype(np.float32), cv2.CV_16SC2)
        fall = 1.0 - VIGNETTE * np.clip(r2 / 2.0, 0.0, 1.0) ** 1.5
        self._vignette = np.repeat(fall[..., None], 3, axis=2).astype(np.float32)
        self._scale = np.empty_like(self._vignette)
        self._near_row = int(round(h * (1 - NEAR_GROUND_FRACTION)))
        # The noise bank split into its positive and negative parts (uint8): two saturating
        # scaled adds apply it at any gain, cheaper than widening the frame to int16 and back.
        bank = noise_bank(math.hypot(SENSOR_NOISE_STD, camera.noise_std), h * w * 3)
        self._noise_up = np.maximum(bank, 0).astype(np.uint8)
        self._noise_down = np.maximum(-bank, 0).astype(np.uint8)

    def exposure_s(self, gain: float) -> float:
        """Exposure time (s) at auto-exposure gain `gain`: the shutter opens longer in the dark."""
        return min(BASE_EXPOSURE_S * gain, MAX_EXPOSURE_S)

    def develop(
        self,
        frame: np.ndarray,
        gains: np.ndarray,
        gain: float,
        speed: float,
        yaw_rate: float,
        rng: np.random.Generator | None,
    ) -> np.ndarray:
        """The bytes the camera delivers for the rendered scene `frame` (uint8 RGB, not modified):
        `gains` RGB multipliers (light x exposure x tint), auto-exposure `gain` (a darker scene
        gets a longer exposure, so more motion blur, and more amplified sensor noise), motion at
        `speed` m/s and `yaw_rate` rad/s, sensor noise from `rng` (none when None), JPEG."""
        exposure_s = self.exposure_s(gain)
        out = frame
        sweep = int(round(abs(yaw_rate) * exposure_s * self.focal_px))
        if sweep > 0:
            out = cv2.blur(out, (sweep + 1, 1))
        streak = int(round(abs(speed) * exposure_s * STREAK_PX_PER_M))
        if streak > 0:
            out = out.copy() if out is frame else out
            near = out[self._near_row :]
            near[:] = cv2.blur(near, (1, streak + 1))
        out = cv2.remap(out, self._map1, self._map2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        cv2.multiply(self._vignette, (float(gains[0]), float(gains[1]), float(gains[2]), 0.0), dst=self._scale)
        out = cv2.multiply(out, self._scale, dtype=cv2.CV_8U)
        if rng is not None:
            n = out.size
            start = int(rng.integers(0, len(self._noise_up) - n))
            up = self._noise_up[start : start + n].reshape(out.shape)
            down = self._noise_down[start : start + n].reshape(out.shape)
            out = cv2.scaleAdd(down, -gain, cv2.scaleAdd(up, gain, out))
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        return cv2.cvtColor(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
