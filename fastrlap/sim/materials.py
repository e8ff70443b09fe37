"""Weathered ground for the realistic camera look: what years of use do to a floor or a road.

The clean look paints each surface as even noise around one colour, with crisp edge lines. Real
venues are uneven at every scale, and a policy that keys on a perfect white line fails where
the tape is scuffed off. `Finish` adds, on top of `textures.paint_surface`:

* concrete: oil and water stains (metre scale) and hairline cracks;
* asphalt: rectangular repair patches in another tone, and oil drips;
* carpet and tile: traffic wear, dark spots, dirty grout; dirt: damp patches; grass: dry spots;
* edge markings in the venue's style (`SceneSpec.markings`): fresh paint, shiny tape indoors,
  worn paint with faded stretches and missing sections, or none (the surfaces simply meet along
  a ragged boundary, as asphalt meets a lawn);
* shadow: the ground is darkened (and tinted like skylight) where `shadow` says the light is
  blocked.

Like `textures.py`, every detail is pre-filtered for the raster cell it is painted on, and every
random value comes from the track's `Painter`, so the same track gives the same ground.
"""

from __future__ import annotations

import numpy as np

from fastrlap.sim.scene import SceneSpec
from fastrlap.sim.textures import Grid, Painter, _fade, _mix, paint_surface

TAPE_COLOURS = ((235, 235, 228), (40, 90, 200), (235, 200, 40))  # white, blue, yellow gaffer tape
MISSING_SECTION = 1.5  # m, stretches of worn paint that are gone altogether
RAGGED_EDGE = 0.06  # m, how far a boundary without a line wanders either side of the edge
SUN_SHADOW = np.array([0.62, 0.58, 0.45], np.float32)  # light lost in a sun shadow, per channel: skylight is blue
LAMP_SHADOW = np.array([0.4, 0.4, 0.38], np.float32)  # diffuse hall light: shallower, neutral


def _blotches(n: np.ndarray, threshold: float, softness: float = 0.08) -> np.ndarray:
    """0..1 coverage where a noise field rises above `threshold`, with soft rims."""
    return np.clip((n - threshold) / softness, 0.0, 1.0)


class Finish:
    """Weathering, markings and shadow of one track's ground (see the module docstring)."""

    def __init__(self, scene: SceneSpec, shadow_at) -> None:
        self.scene = scene
        self._shadow_at = shadow_at  # Grid -> float32 (rows, cols) 0..1

    def surface(self, p: Painter, name: str, grid: Grid, detail: float) -> np.ndarray:
        """RGB float32 of surface `name` with its wear (see `textures.paint_surface`)."""
        rgb = paint_surface(p, name, grid, detail)

        def n(key, wavelength, **kw):
            return p.noise(grid, key, wavelength, detail=detail, **kw)

        if name in ("concrete", "asphalt", "gravel", "sand"):
            stain = _blotches(n("stain", 2.2) + 0.6 * n("stain2", 0.7), 0.16)
            _mix(rgb, (52, 48, 44), 0.35 * stain)
        if name == "concrete":
            # A crack is where a smooth noise field crosses zero: a thin wandering line.
            width = 0.012 / 1.3  # m of crack in units of the field's gradient
            crack = np.clip(1.0 - np.abs(n("crack", 1.3)) / (width * 0.5 + 0.3 * detail), 0.0, 1.0)
            crack *= _fade(0.012 * 8, detail) * (n("crackmask", 4.0) > 0.05)
            _mix(rgb, (70, 68, 64), 0.8 * crack)
        if name == "asphalt":
            patch = n("patch", 1.8, nearest=True) > 0.32
            rgb[patch] *= np.float32(0.72)
            drips = _blotches(n("drip", 0.25), 0.3)
            _mix(rgb, (30, 30, 32), 0.5 * drips)
        if name in ("carpet", "tile", "wood"):
            worn = _blotches(n("wear", 3.0), 0.05, 0.3)
            rgb *= (1.0 - 0.12 * worn)[..., None]
            spots = _blotches(n("spot", 0.12), 0.38, 0.05)
            _mix(rgb, (60, 55, 50), 0.5 * spots)
        if name == "dirt":
            damp = _blotches(n("damp", 1.5), 0.12, 0.2)
            rgb *= (1.0 - 0.3 * damp)[..., None]
        if name == "grass":
            dry = _blotches(n("dry", 2.5) + 0.4 * n("dry2", 0.5), 0.15, 0.15)
            _mix(rgb, (150, 140, 80), 0.6 * dry)
        return rgb

    def boundary(self, p: Painter, grid: Grid, a: np.ndarray, detail: float) -> np.ndarray:
        """|lateral| as the painter should see it: without a line, the surfaces meet raggedly."""
        if self.scene.markings != "none":
            return a
        return a + (2 * RAGGED_EDGE) * p.noise(grid, "ragged", 0.15, detail=detail)

    def line(
        self, p: Painter, grid: Grid, coverage: np.ndarray, along: np.ndarray, default_colour, detail: float
    ) -> tuple[tuple[int, int, int], np.ndarray]:
        """(colour, coverage) of the edge line after wear; `coverage` is the fresh line's."""
        style = self.scene.markings
        if style == "none":
            return default_colour, np.zeros_like(coverage)
        if style == "tape":
            colour = TAPE_COLOURS[int(p.cell_value("tape", np.zeros(1), np.zeros(1))[0] * 5.99 + 3) % 3]
            scuff = _blotches(p.noise(grid, "scuff", 0.2, detail=detail), 0.3, 0.1)
            return colour, coverage * (1.0 - 0.7 * scuff)
        if style == "worn":
            section = np.floor(np.where(np.isfinite(along), along, 0.0) / MISSING_SECTION)
            present = p.cell_value("missing", section, np.zeros_like(section)) > -0.3
            fade = 0.55 + 0.45 * np.clip(2.5 * p.noise(grid, "fade", 0.35, detail=detail) + 0.4, 0.0, 1.0)
            return default_colour, coverage * present * fade
        return default_colour, coverage

    def shade(self, grid: Grid, rgb: np.ndarray) -> np.ndarray:
        """Darken rgb (in place) where the ground lies in shadow."""
        shadow = self._shadow_at(grid)
        rgb *= 1.0 - shadow[..., None] * shadow_loss(self.scene)
        return rgb


def shadow_loss(scene: SceneSpec) -> np.ndarray:
    """Fraction of the light lost in a full shadow, per RGB channel, under the venue's light."""
    return SUN_SHADOW if scene.lighting == "sun" else LAMP_SHADOW
