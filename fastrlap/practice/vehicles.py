"""Which vehicle a command drives: the simulator, the firmware under simavr (vehicle=hil) or the car.

Recording the demo, practice and evaluate all open their vehicle here, so the three take the same
checks (a known `vehicle.kind`, a track that holds a lap for this car) and the same stop paths.
"""

from __future__ import annotations

from fastrlap.config import Config
from fastrlap.errors import FastrlapError


def check_vehicle(cfg: Config) -> None:
    if cfg.vehicle.kind not in ("sim", "hil", "real"):
        raise FastrlapError(
            f"vehicle.kind={cfg.vehicle.kind!r}: use vehicle=sim, vehicle=hil (the firmware under "
            f"simavr) or vehicle=real (the car)"
        )


def course_track(cfg: Config):
    """The simulator's track (sim and hil), checked to hold a lap for this car and course, or None
    on the real car, whose course is wherever the demo lap goes (`track` then only names the run
    directory)."""
    from fastrlap.course.track_fit import check_track_fits
    from fastrlap.sim.dynamics import car_params
    from fastrlap.sim.track import load_track

    if cfg.vehicle.kind == "real":
        return None
    track = load_track(cfg.track)
    check_track_fits(track, car_params(cfg.vehicle), cfg.course)
    return track


def make_vehicle(cfg: Config, track, paced: bool = False, listen_only: bool = False):
    """The simulator, RealVehicle over the firmware under simavr (vehicle=hil), or the car
    (vehicle=real). `paced`: act() waits for the next control tick on the wall clock (for loops
    that do not keep time); `listen_only`: act() sends neutral (the human drives by RC)."""
    kind = cfg.vehicle.kind
    if kind in ("hil", "real"):
        from fastrlap.vehicle.real import PacedVehicle, RealVehicle

        if kind == "hil":
            from fastrlap.vehicle.hil import open_hil_vehicle

            vehicle = open_hil_vehicle(cfg.vehicle, track, seed=cfg.seed)
        else:
            vehicle = RealVehicle.from_config(cfg.vehicle).open()  # closes itself if opening fails
        return PacedVehicle(vehicle, listen_only=listen_only) if paced else vehicle
    from fastrlap.vehicle.sim import SimVehicle

    return SimVehicle(track, cfg.vehicle, seed=cfg.seed)
