"""Write the prior environments parking, office, gym and yard (fastrlap/sim/tracks/prior/).

Each venue is half a loop drawn as straights and arcs (a turtle starting along +x, turning 180
degrees in all), shifted so that its two ends are mirror images through the origin, then
point-mirrored: the loop closes exactly and its heading is continuous where the halves meet.
The track follows the periodic spline through these control points. The venues differ in shape
from the race tracks and from each other, and their `scene:` settings together cover every
surface, both lighting kinds, every marking style and a range of clutter and light elevations
wider than the race tracks'.

    python scripts/prior_envs.py [--out DIR]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np

from fastrlap.sim.track import parse_track, tracks_dir

STRAIGHT_STEP = 2.0  # m between control points on a straight, at most
ARC_STEP_DEG = 20.0  # degrees of turn between control points on an arc, at most

Piece = tuple[float, ...]  # (length,) for a straight, (turn degrees, radius) for an arc; left is positive


class Venue(NamedTuple):
    name: str
    about: str  # the file's first comment line
    width: float  # m
    walls: str | list[dict]
    surface: dict[str, str]
    scene: dict  # the track's `scene:` mapping (fastrlap/sim/scene.py)
    scene_note: str  # comment after the scene mapping
    half: list[Piece]  # half the loop; the turns must add up to +180 degrees
    boxes: tuple[tuple[float, float], ...] = ()  # (fraction of the lap, lateral m) of boxes, and their mirror images


VENUES = [
    Venue(
        name="parking",
        about="a cross-shaped asphalt lane through a car park, concrete beside it.",
        width=2.6,
        walls="none",
        surface={"track": "asphalt", "offtrack": "concrete"},
        scene={
            "lighting": "sun",
            "light_azimuth_deg": 300,
            "light_elevation_deg": 55,
            "markings": "paint",
            "clutter": 2.5,
        },
        scene_note="a high sun, painted lines, crowded with parked cars, cones and benches",
        half=[
            (1.5,),
            (90.0, 2.0),
            (2.0,),
            (-90.0, 2.0),
            (2.5,),
            (90.0, 2.0),
            (1.5,),
            (90.0, 2.0),
            (2.5,),
            (-90.0, 2.0),
            (2.0,),
            (90.0, 2.0),
            (1.5,),
        ],
    ),
    Venue(
        name="office",
        about="a carpet lane around two rooms joined by a corridor, a box in each room, tiles beside it.",
        width=1.8,
        walls=[{"side": "outer", "from": 0.0, "to": 14.0}, {"side": "both", "from": 30.0, "to": 40.0}],
        surface={"track": "carpet", "offtrack": "tile"},
        scene={"lighting": "ceiling", "light_elevation_deg": 80, "markings": "none", "shiny": False, "clutter": 2.0},
        scene_note="lamps overhead, no lines, furniture and bins everywhere",
        half=[(3.0,), (-35.0, 3.0), (250.0, 2.6), (-35.0, 3.0), (3.0,)],
        boxes=((0.22, 0.55),),
    ),
    Venue(
        name="gym",
        about="a hexagon on a sports hall's polished wooden floor, mats beside it.",
        width=2.0,
        walls="both",
        surface={"track": "wood", "offtrack": "carpet"},
        scene={
            "lighting": "ceiling",
            "light_azimuth_deg": 10,
            "light_elevation_deg": 88,
            "markings": "paint",
            "clutter": 0.4,
        },
        scene_note="lamps straight overhead on a shiny floor, painted court lines; few things about",
        half=[(4.0,), (60.0, 2.5), (4.0,), (60.0, 2.5), (4.0,), (60.0, 2.5)],
    ),
    Venue(
        name="yard",
        about="an hourglass of sand through a dirt yard, a barrier along part of it.",
        width=2.2,
        walls=[{"side": "outer", "from": 8.0, "to": 24.0}],
        surface={"track": "sand", "offtrack": "dirt"},
        scene={
            "lighting": "sun",
            "light_azimuth_deg": 160,
            "light_elevation_deg": 12,
            "markings": "worn",
            "clutter": 1.5,
        },
        scene_note="a low evening sun casting long shadows",
        half=[(6.0,), (135.0, 2.2), (6.0,), (-90.0, 3.0), (4.0,), (135.0, 2.2), (6.0,)],
    ),
]


def half_points(half: list[Piece]) -> tuple[np.ndarray, float]:
    """Control points of the half loop from its start up to (not including) its end, and the
    heading (rad) at the end."""
    pos, heading = np.zeros(2), 0.0
    pts = [pos.copy()]
    for piece in half:
        if len(piece) == 1:
            n = max(1, math.ceil(piece[0] / STRAIGHT_STEP))
            step = piece[0] / n * np.array([math.cos(heading), math.sin(heading)])
            for _ in range(n):
                pos = pos + step
                pts.append(pos.copy())
        else:
            turn, radius = math.radians(piece[0]), piece[1]
            side = math.copysign(1.0, turn)
            centre = pos + side * radius * np.array([-math.sin(heading), math.cos(heading)])
            n = max(1, math.ceil(abs(piece[0]) / ARC_STEP_DEG))
            start = heading - side * math.pi / 2  # direction from the centre to the car
            for k in range(1, n + 1):
                a = start + turn * k / n
                pos = centre + radius * np.array([math.cos(a), math.sin(a)])
                pts.append(pos.copy())
            heading += turn
    pts = np.array(pts)
    return pts[:-1] - (pts[0] + pts[-1]) / 2, heading


def loop(venue: Venue) -> np.ndarray:
    """The whole loop's control points: the half and its point mirror."""
    half, end_heading = half_points(venue.half)
    turn = math.degrees(end_heading)
    if abs(turn - 180.0) > 1e-9:
        raise SystemExit(f"{venue.name}: the half loop turns {turn:g} degrees; it must turn 180")
    return np.round(np.vstack([half, -half]), 2) + 0.0  # + 0.0: no negative zeros in the file


def _flow(mapping: dict) -> str:
    items = []
    for k, v in mapping.items():
        text = str(v).lower() if isinstance(v, bool) else (f"{v:g}" if isinstance(v, float) else str(v))
        items.append(f"{k}: {text}")
    return "{" + ", ".join(items) + "}"


def render_yaml(venue: Venue) -> str:
    """The venue's YAML text (loaded once to check it and to measure its length)."""
    points = loop(venue)
    data = {
        "name": venue.name,
        "width": venue.width,
        "walls": venue.walls,
        "start": 0.0,
        "surface": venue.surface,
        "scene": venue.scene,
        "centerline": points.tolist(),
    }
    track = parse_track(data, source=venue.name)
    boxes = []
    for frac, lateral in venue.boxes:
        for s in (frac * track.length, (frac + 0.5) * track.length):
            x, y = track.point_at(s, lateral)
            boxes.append((round(float(x), 2), round(float(y), 2), round(track.heading_at(s), 2)))
    if boxes:
        data["obstacles"] = [{"center": [x, y], "size": [0.4, 0.4], "yaw": yaw} for x, y, yaw in boxes]
        track = parse_track(data, source=venue.name)
    lines = [
        f"# Prior environment: {venue.about}",
        f"# Length {track.length:.1f} m. Written by scripts/prior_envs.py: control points from arcs and straights,",
        "# then point-mirrored so the loop closes exactly; the track follows the periodic spline through them.",
        f"name: {venue.name}",
        f"width: {venue.width}",
    ]
    if isinstance(venue.walls, str):
        lines.append(f"walls: {venue.walls}")
    else:
        lines.append("walls:")
        lines += [f"- {_flow(sec)}" for sec in venue.walls]
    lines += ["start: 0.0", f"surface: {_flow(venue.surface)}", f"scene: {_flow(venue.scene)}  # {venue.scene_note}"]
    if boxes:
        lines.append("obstacles:")
        for x, y, yaw in boxes:
            lines += [f"- center: [{x}, {y}]", "  size: [0.4, 0.4]", f"  yaw: {yaw}"]
    lines.append("centerline:")
    lines += [f"  - [{x}, {y}]" for x, y in points.tolist()]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(tracks_dir() / "prior"), help="folder to write the YAML files to")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for venue in VENUES:
        path = out / f"{venue.name}.yaml"
        path.write_text(render_yaml(venue))
        print(path)


if __name__ == "__main__":
    main()
