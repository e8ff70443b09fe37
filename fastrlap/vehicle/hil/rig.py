"""`HilRig`: board, simulated car and transmitter together, without the host side."""

from __future__ import annotations

import dataclasses
import secrets
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from fastrlap.config import RealConfig, VehicleConfig
from fastrlap.sim.drivers import DemoDriver
from fastrlap.sim.dynamics import CarParams
from fastrlap.sim.track import Track
from fastrlap.types import Pose
from fastrlap.vehicle.camera import CallbackSource, Camera
from fastrlap.vehicle.hil.board import FirmwareBoard
from fastrlap.vehicle.hil.firmware import build_firmware
from fastrlap.vehicle.hil.plant import SimulatedCar
from fastrlap.vehicle.hil.transmitter import ScriptedTransmitter


def rig_host_config(rc: RealConfig, link: str, pose_port: int | None, pose_key: str) -> RealConfig:
    pose = dataclasses.replace(
        rc.pose, udp_port=pose_port or rc.pose.udp_port, udp_host="127.0.0.1", udp_key=pose_key, udp_key_file=""
    )
    return dataclasses.replace(rc, port=link, pose=pose)


def rig_camera(vcfg: VehicleConfig, render: Callable[[], np.ndarray]) -> Camera:
    rc, cam = vcfg.real, vcfg.sim.camera
    return Camera(
        CallbackSource(render, fps=rc.camera.fps or 15.0, description="hil camera (renderer)"),
        width=cam.width,
        height=cam.height,
        stale_after=rc.camera.stale_after,
    )


class HilRig:
    """The simulated board and car without the host side: what `open_hil_vehicle` and
    `fastrlap doctor vehicle=hil` connect to. `host_config()` is the `vehicle.real` section
    pointing at the rig (its pty, its UDP pose port and the key its poses are signed with, made
    afresh for each rig); `camera()` shows the renderer."""

    def __init__(self, vcfg: VehicleConfig, track: Track, seed: int = 0, top_speed: float = 8.0) -> None:
        elf = build_firmware()
        self.vcfg = vcfg
        self.track = track
        self.seed = seed
        self.workdir = tempfile.TemporaryDirectory(prefix="fastrlap-hil-")
        self.board: FirmwareBoard | None = None
        self.car: SimulatedCar | None = None
        self.transmitter: ScriptedTransmitter | None = None
        try:
            self.board = FirmwareBoard(elf, Path(self.workdir.name), imu=True)
            self.pose_port = _free_udp_port() if vcfg.real.pose.source == "external" else None
            self.pose_key = secrets.token_hex(32)
            self.car = SimulatedCar(
                self.board,
                track,
                vcfg,
                top_speed=top_speed,
                seed=seed,
                pose_port=self.pose_port,
                pose_key=self.pose_key.encode(),
            ).start()
        except BaseException:
            self.close()
            raise

    def host_config(self) -> RealConfig:
        return rig_host_config(self.vcfg.real, self.board.link, self.pose_port, self.pose_key)

    def camera(self) -> Camera:
        return rig_camera(self.vcfg, self.car.render)

    @property
    def params(self) -> CarParams:
        """The simulated car's physical parameters (scripted demo driver, oracle lap time)."""
        return self.car.world.params

    def true_pose(self) -> Pose:
        return self.car.true_pose()

    def hold_transmitter(self, speed: float, seed: int = 0) -> None:
        """A scripted human takes the transmitter and drives the simulator's slow demo lap at `speed` m/s."""
        self.release_transmitter()
        driver = DemoDriver(self.track, self.params, speed=speed, seed=seed)
        self.transmitter = ScriptedTransmitter(self.board, self.car, driver).start()

    def release_transmitter(self) -> None:
        if self.transmitter is not None:
            self.transmitter.release()
            self.transmitter = None

    def close(self) -> None:
        self.release_transmitter()
        if self.car is not None:
            self.car.close()
        if self.board is not None:
            self.board.close()
        self.workdir.cleanup()

    def __enter__(self) -> HilRig:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
