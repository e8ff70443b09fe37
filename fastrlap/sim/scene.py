"""How a track's venue looks to the realistic camera: light, edge markings, floor shine, clutter.

A track YAML may carry an optional `scene:` mapping; every field has a default that follows
from the track's surfaces (an indoor floor gets ceiling lights and taped edges, a track through
grass gets no painted line at all), so existing tracks need no change. The clean camera look
ignores all of this.

    scene:
      lighting: sun          # sun | ceiling
      light_azimuth_deg: 35  # world direction the light comes from, CCW from +x
      light_elevation_deg: 40
      markings: worn         # paint | tape | worn | none
      shiny: false           # specular glare on the floor
      clutter: 1.0           # props per 4 m of track and side, relative
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

from fastrlap.errors import FastrlapError
from fastrlap.sim.textures import INDOOR_SURFACES

LIGHTINGS = ("sun", "ceiling")
ELEVATION_RANGE = (5.0, 90.0)  # degrees above the horizon a venue's light may stand
MARKINGS = ("paint", "tape", "worn", "none")
SHINY_SURFACES = frozenset({"tile", "wood"})


class SceneError(FastrlapError, ValueError):
    """A track's `scene:` mapping is malformed."""


@dataclass(frozen=True)
class SceneSpec:
    lighting: str  # sun | ceiling
    light_azimuth_deg: float  # where the light comes from (world, CCW from +x)
    light_elevation_deg: float  # above the horizon; shadows are height / tan(elevation) long
    markings: str  # paint | tape | worn | none
    shiny: bool  # the floor reflects the light as glare
    clutter: float  # density of props beside the track (0 = none)

    @property
    def indoor(self) -> bool:
        return self.lighting == "ceiling"

    def light_direction(self) -> tuple[float, float]:
        """Unit horizontal vector pointing towards the light (world)."""
        a = math.radians(self.light_azimuth_deg)
        return math.cos(a), math.sin(a)

    def shifted(self, azimuth_deg: float) -> SceneSpec:
        """The same venue with the light turned by `azimuth_deg` (a different time of day)."""
        return replace(self, light_azimuth_deg=(self.light_azimuth_deg + azimuth_deg) % 360.0)


def default_scene(surface: dict[str, str]) -> SceneSpec:
    """The venue that goes with a track's surfaces when its YAML says nothing."""
    indoor = surface["track"] in INDOOR_SURFACES or surface["offtrack"] in INDOOR_SURFACES
    if indoor:
        markings = "tape"
    elif surface["offtrack"] == "grass":
        markings = "none"  # the edge is where the asphalt meets the lawn
    else:
        markings = "worn"
    return SceneSpec(
        lighting="ceiling" if indoor else "sun",
        light_azimuth_deg=35.0,
        light_elevation_deg=65.0 if indoor else 40.0,
        markings=markings,
        shiny=surface["track"] in SHINY_SURFACES,
        clutter=1.0,
    )


def parse_scene(src: str, data, surface: dict[str, str]) -> SceneSpec:
    """Validate a track's optional `scene:` mapping over the defaults for its surfaces."""
    base = default_scene(surface)
    if data is None:
        return base
    names = {f.name for f in fields(SceneSpec)}
    if not isinstance(data, dict) or set(data) - names:
        raise SceneError(f"{src}: scene: expected a mapping with keys among {sorted(names)}, got {data!r}")
    out = {}
    for key, value in data.items():
        if key == "lighting" and value not in LIGHTINGS:
            raise SceneError(f"{src}: scene.lighting: {value!r} is not one of {LIGHTINGS}")
        if key == "markings" and value not in MARKINGS:
            raise SceneError(f"{src}: scene.markings: {value!r} is not one of {MARKINGS}")
        if key == "shiny" and not isinstance(value, bool):
            raise SceneError(f"{src}: scene.shiny: expected true or false, got {value!r}")
        if key in ("light_azimuth_deg", "light_elevation_deg", "clutter"):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise SceneError(f"{src}: scene.{key}: expected a finite number, got {value!r}")
            value = float(value)
        out[key] = value
    spec = replace(base, **out)
    if not ELEVATION_RANGE[0] <= spec.light_elevation_deg <= ELEVATION_RANGE[1]:
        raise SceneError(
            f"{src}: scene.light_elevation_deg: {spec.light_elevation_deg} is outside "
            f"{ELEVATION_RANGE[0]:g}..{ELEVATION_RANGE[1]:g} degrees"
        )
    if spec.clutter < 0:
        raise SceneError(f"{src}: scene.clutter: must be >= 0, got {spec.clutter}")
    return spec
