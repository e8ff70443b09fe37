"""`HilVehicle`: the real car's host code (RealVehicle) connected to a rig, and opening one."""

from __future__ import annotations

import dataclasses

from fastrlap.config import VehicleConfig
from fastrlap.sim.dynamics import CarParams
from fastrlap.sim.track import Track
from fastrlap.types import Observation
from fastrlap.vehicle.estimator import Estimator
from fastrlap.vehicle.hil.firmware import HilUnavailable
from fastrlap.vehicle.hil.remote import RemoteRig
from fastrlap.vehicle.hil.rig import HilRig
from fastrlap.vehicle.real import RealVehicle
from fastrlap.vehicle.serial_link import SerialLink


class HilVehicle(RealVehicle):
    """RealVehicle connected to a `HilRig` (or a `RemoteRig`); closes the rig after itself.

    `observe()` adds the simulated car's true pose (the simulator's privilege, for the scripted
    demo driver and oracle checks), everything else is RealVehicle's."""

    def __init__(self, rig: HilRig | RemoteRig, **kw) -> None:
        super().__init__(**kw)
        self.rig = rig
        self.board = rig.board
        self.car = rig.car

    @property
    def params(self) -> CarParams:
        """The simulated car's physical parameters (scripted demo driver, oracle lap time)."""
        return self.rig.params

    def observe(self) -> Observation:
        return dataclasses.replace(super().observe(), true_pose=self.rig.true_pose())

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.rig.close()


def open_hil_vehicle(vcfg: VehicleConfig, track: Track, seed: int = 0, top_speed: float = 8.0) -> HilVehicle:
    """Build the firmware, start it under simavr with a simulated car on `track`, open RealVehicle.

    With `vehicle.hil.attach` the rig served at that socket is used instead (it must simulate the
    same track). The pose source is the world's noisy pose over UDP when
    `vehicle.real.pose.source` is `external`, else odometry + IMU alone."""
    if vcfg.hil.attach:
        rig: HilRig | RemoteRig = RemoteRig(vcfg, vcfg.hil.attach)
        if rig.track_name != track.name:
            rig.close()
            raise HilUnavailable(
                f"the hil rig at {vcfg.hil.attach} simulates track {rig.track_name!r}, this command "
                f"drives {track.name!r}: pass track={rig.track_name} or serve the rig with "
                f"track={track.name}"
            )
    else:
        rig = HilRig(vcfg, track, seed=seed, top_speed=top_speed)
    try:
        rc = rig.host_config()
        estimator = Estimator(source=rc.pose.source, fix_timeout=rc.pose.fix_timeout)
        estimator.reset(rig.true_pose())
        vehicle = HilVehicle(
            rig,
            link=SerialLink(rc.port, rc.baud),
            camera=rig.camera(),
            estimator=estimator,
            cfg=rc,
            control_hz=vcfg.control_hz,
            camera_dead_after=rc.camera.dead_after,
        )
    except BaseException:
        rig.close()
        raise
    return vehicle.open()  # on failure open() closes the vehicle, and with it the rig
