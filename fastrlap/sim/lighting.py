"""Light that changes across and within episodes, and the camera's auto-exposure that chases it.

A policy trained under one fixed light learns the light. On a real car, the sun goes behind a
cloud, a hall's lamps flicker, and the colour of the light differs between a morning and an
overcast noon. `Lighting` is drawn once per episode from the episode's generator (level, colour
temperature, cloud or flicker pattern) and is then a pure function of time, so a seed gives the
same light at the same simulated second.

The camera does not see the light directly: a USB camera's auto-exposure meters the picture and
moves its gain towards a target with a lag. `AutoExposure` is that first-order loop with time
constant `tau`; a sudden change of light first shows as a too-bright or too-dark frame, which
then recovers (63 % of the way after `tau`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CLOUD_PERIODS = (23.0, 41.0, 67.0)  # s, incommensurate, so the clouds do not repeat within a run
EXPOSURE_TAU = 0.5  # s, time constant of the auto-exposure
EXPOSURE_TARGET = 118.0  # mean 0-255 grey the auto-exposure aims for
GAIN_RANGE = (0.35, 3.0)  # limits of the camera's gain (exposure time x analogue gain)


def kelvin_gains(kelvin: float) -> np.ndarray:
    """RGB multipliers (green = 1) of light at colour temperature `kelvin`, as a camera whose
    white balance is set for 5500 K renders it: warm lamps come out orange, shade comes out blue.
    A smooth fit of blackbody chromaticity over 2500-10000 K; enough for a tint, not colorimetry."""
    t = math.log(kelvin / 5500.0)
    red = math.exp(-0.55 * t)
    blue = math.exp(0.85 * t)
    return np.array([red, 1.0, blue], np.float32)


@dataclass(frozen=True)
class Lighting:
    """One episode's light: `level(t)` (1 = the nominal scene) and `tint(t)` (RGB gains)."""

    base: float  # mean level of the episode
    kelvin: float  # colour temperature of the light
    cloud_depth: float  # sun: how much a passing cloud dims the scene (0..1)
    flicker: float  # ceiling lights: relative amplitude of the lamps' flicker
    phases: tuple[float, ...]  # random phases of the cloud or flicker components

    @staticmethod
    def draw(rng: np.random.Generator, indoor: bool) -> Lighting:
        """Draw an episode's light from `rng`: outdoors sun with clouds, indoors lamps that flicker."""
        phases = tuple(float(p) for p in rng.uniform(0.0, 2 * math.pi, 4))
        if indoor:
            return Lighting(
                base=float(rng.uniform(0.8, 1.1)),
                kelvin=float(rng.uniform(3200.0, 5200.0)),
                cloud_depth=0.0,
                flicker=float(rng.uniform(0.01, 0.05)),
                phases=phases,
            )
        return Lighting(
            base=float(rng.uniform(0.75, 1.3)),
            kelvin=float(rng.uniform(4800.0, 7000.0)),
            cloud_depth=float(rng.uniform(0.0, 0.5)),
            flicker=0.0,
            phases=phases,
        )

    def cloud(self, t: float) -> float:
        """0 (clear) .. 1 (the sun fully behind a cloud) at time t (s)."""
        if self.cloud_depth == 0.0:
            return 0.0
        v = sum(math.sin(2 * math.pi * t / p + ph) for p, ph in zip(CLOUD_PERIODS, self.phases))
        return min(max(v / 2.0, 0.0), 1.0)  # clear sky about half of the time

    def level(self, t: float) -> float:
        """Scene brightness relative to the nominal one at time t (s)."""
        lamp = 1.0
        if self.flicker:
            # Mains flicker beats with the frame rate into slow pulsing, plus a lamp that wavers.
            lamp += self.flicker * (
                math.sin(2 * math.pi * 1.3 * t + self.phases[0])
                + 0.5 * math.sin(2 * math.pi * 0.17 * t + self.phases[1])
            )
        return self.base * lamp * (1.0 - self.cloud_depth * self.cloud(t))

    def tint(self, t: float) -> np.ndarray:
        """RGB gains at time t: the light's colour, cooler while a cloud hides the sun."""
        return kelvin_gains(self.kelvin * (1.0 + 0.25 * self.cloud(t) * (self.cloud_depth > 0)))

    def shifted(self, factor: float) -> Lighting:
        """The same light, `factor` times as bright."""
        return Lighting(self.base * factor, self.kelvin, self.cloud_depth, self.flicker, self.phases)


class AutoExposure:
    """First-order auto-exposure: the gain moves towards `target / (level · metered mean)`
    by 1 - exp(-dt/tau) of the way each frame."""

    def __init__(self, tau: float = EXPOSURE_TAU, target: float = EXPOSURE_TARGET) -> None:
        self.tau, self.target = tau, target
        self.gain: float | None = None
        self._t: float | None = None

    def reset(self) -> None:
        """Forget the state: the next frame is exposed as if the camera had settled on it."""
        self.gain, self._t = None, None

    def update(self, t: float, level: float, metered: float) -> float:
        """The gain for a frame at time t (s) of a scene at `level` whose unlit mean is `metered`."""
        want = min(max(self.target / max(level * metered, 1e-3), GAIN_RANGE[0]), GAIN_RANGE[1])
        if self.gain is None or self._t is None or t < self._t:
            self.gain = want
        else:
            self.gain += (want - self.gain) * (1.0 - math.exp(-(t - self._t) / self.tau))
        self._t = t
        return self.gain
