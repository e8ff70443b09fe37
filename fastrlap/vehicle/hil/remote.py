"""A rig in another process: `RigServer` serves a `HilRig` over a Unix socket, `RemoteRig` uses it.

A rig normally lives inside the command that drives it. Served on its own (`fastrlap hil serve`),
the simulated car outlives a host that crashes or is killed — as a real car outlives its laptop,
which is what the firmware's watchdog is for.
"""

from __future__ import annotations

import socket
import threading
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from fastrlap.config import RealConfig, VehicleConfig
from fastrlap.errors import FastrlapError
from fastrlap.sim.dynamics import CarParams
from fastrlap.types import Pose
from fastrlap.vehicle.camera import Camera
from fastrlap.vehicle.hil.firmware import HilUnavailable
from fastrlap.vehicle.hil.rig import HilRig, rig_camera, rig_host_config


class RigServer:
    """Serves a `HilRig` to commands in other processes over a Unix socket.

    Requests are pickled tuples over `multiprocessing.connection` (`RemoteRig` sends them): the
    rig's pty, pose port and pose key, the car's parameters, a rendered frame, the true pose, the
    scripted transmitter. Each client has its own thread; a client that goes away (killed) releases the
    transmitter it held. The firmware and the simulated car keep running between clients.
    """

    def __init__(self, rig: HilRig, address: str) -> None:
        self.rig = rig
        self.address = str(address)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(self.address)
        self._sock.listen(4)
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="hil rig server", daemon=True)

    def start(self) -> RigServer:
        self._thread.start()
        return self

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            threading.Thread(
                target=self._serve, args=(Connection(client.detach()),), name="hil rig client", daemon=True
            ).start()

    def _handle(self, request: tuple, held: list[bool]):
        rig, name = self.rig, request[0]
        if name == "config":
            return {
                "link": rig.board.link,
                "pose_port": rig.pose_port,
                "pose_key": rig.pose_key,
                "track": rig.track.name,
            }
        if name == "params":
            return rig.params
        if name == "render":
            return rig.car.render()
        if name == "true_pose":
            return rig.true_pose()
        if name == "hold_transmitter":
            rig.hold_transmitter(*request[1:])
            held[0] = True
            return None
        if name == "release_transmitter":
            rig.release_transmitter()
            held[0] = False
            return None
        raise ValueError(f"unknown request {name!r}")

    def _serve(self, conn: Connection) -> None:
        held = [False]
        try:
            while not self._stop.is_set():
                request = conn.recv()
                try:
                    conn.send(("ok", self._handle(request, held)))
                except (ValueError, TypeError, FastrlapError) as exc:
                    conn.send(("error", f"{type(exc).__name__}: {exc}"))
        except (EOFError, OSError):
            pass  # the client closed or was killed
        finally:
            if held[0]:
                self.rig.release_transmitter()
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
        self._thread.join(timeout=2.0)
        Path(self.address).unlink(missing_ok=True)


class RemoteRig:
    """A `HilRig` served by another process (`RigServer`), with the same interface for the host side.

    `board` and `car` are None: they live in the serving process. `close()` only disconnects; the
    rig keeps running."""

    board = None
    car = None

    def __init__(self, vcfg: VehicleConfig, address: str) -> None:
        self.vcfg = vcfg
        self.address = address
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(address)
        except OSError as exc:
            sock.close()
            raise HilUnavailable(
                f"no hil rig at vehicle.hil.attach={address} ({exc.strerror}): start one with "
                f"`fastrlap hil serve vehicle=hil vehicle.hil.attach={address}`, or leave "
                f"vehicle.hil.attach empty"
            ) from None
        self._conn = Connection(sock.detach())
        self._lock = threading.Lock()
        info = self._call("config")
        self.link, self.pose_port, self.track_name = info["link"], info["pose_port"], info["track"]
        self.pose_key: str = info["pose_key"]
        self.params: CarParams = self._call("params")

    def _call(self, *request):
        with self._lock:
            try:
                self._conn.send(request)
                status, value = self._conn.recv()
            except (EOFError, OSError):
                raise HilUnavailable(f"the hil rig at {self.address} went away; start it again") from None
        if status != "ok":
            raise HilUnavailable(f"the hil rig at {self.address} refused {request[0]}: {value}")
        return value

    def host_config(self) -> RealConfig:
        return rig_host_config(self.vcfg.real, self.link, self.pose_port, self.pose_key)

    def render(self) -> np.ndarray:
        return self._call("render")

    def camera(self) -> Camera:
        return rig_camera(self.vcfg, self.render)

    def true_pose(self) -> Pose:
        return self._call("true_pose")

    def hold_transmitter(self, speed: float, seed: int = 0) -> None:
        self._call("hold_transmitter", speed, seed)

    def release_transmitter(self) -> None:
        self._call("release_transmitter")

    def close(self) -> None:
        self._conn.close()
