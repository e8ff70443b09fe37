"""Whether a simulator track can hold a lap for this car and these course settings.

A track can be valid geometry (a closed loop whose edges do not cross) and still be useless for
practice: too short for the demo lap to count as one, narrower than the car, or with a box on
the starting spot. Without this check such a track is found out only when record-demo gives up
after `course.max_demo_seconds` of driving; here it is one line at load naming the file and the
problem.
"""

from __future__ import annotations

import math

import numpy as np

from fastrlap.config import CourseConfig
from fastrlap.sim.dynamics import CarParams
from fastrlap.sim.track import Track, TrackError

CLEARANCE = 0.1  # m the track must leave free on each side of the car


def check_track_fits(track: Track, car: CarParams, course: CourseConfig) -> None:
    """Raise `TrackError` (one line: the track file, the problem, the fix) when `track` cannot
    hold a lap: the demo's lap-closing rule (`course.min_demo_length` driven and more than twice
    `course.lap_close_radius` away from the start) must be reachable along the centerline, the
    checkpoints must lie farther apart than their reach, and the car must fit on the track at the
    start."""
    src = track.source
    need = car.width + 2 * CLEARANCE
    if track.width < need:
        raise TrackError(
            f"{src}: width {track.width:.2f} m is narrower than the car ({car.width:.2f} m wide, "
            f"{need:.2f} m with {CLEARANCE:.1f} m either side); widen the track"
        )
    if track.length < course.min_demo_length:
        raise TrackError(
            f"{src}: the loop is {track.length:.1f} m long, shorter than a demo lap must be "
            f"(course.min_demo_length={course.min_demo_length:g} m); make the loop longer or lower "
            f"course.min_demo_length"
        )
    start = track.point_at(track.start)
    reach = float(np.max(np.hypot(*(track.xy - start).T)))
    if reach <= 2 * course.lap_close_radius:
        raise TrackError(
            f"{src}: no point of the loop is farther than {reach:.1f} m from the start, so the demo "
            f"lap could never close (it must get more than 2 x course.lap_close_radius="
            f"{2 * course.lap_close_radius:g} m away); make the loop larger"
        )
    count = max(3, int(round(track.length / course.checkpoint_spacing)))
    if track.length / count <= course.goal_radius:
        raise TrackError(
            f"{src}: a {track.length:.1f} m loop holds {count} checkpoints only "
            f"{track.length / count:.2f} m apart, within their course.goal_radius="
            f"{course.goal_radius:g} m of each other; make the loop longer or lower course.goal_radius"
        )
    half = math.hypot(car.length, car.width) / 2
    for i, ob in enumerate(track.obstacles):
        if math.dist(ob.center, start) < ob.radius + half:
            raise TrackError(
                f"{src}: obstacles[{i}] at {list(ob.center)} stands on the starting spot "
                f"(s={track.start:.1f} m); move the box or the start"
            )
