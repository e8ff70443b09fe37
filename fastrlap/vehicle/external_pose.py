"""External pose for the estimator: signed UDP poses from an indoor tracking system.

The UDP pose is one JSON object per datagram (docs/hardware.md), `{"seq": n, "t": unix s, "x": m,
"y": m, "yaw": rad, "pos_std": m (optional), "yaw_std": rad (optional)}`, signed with a shared
key; `UdpPoseReceiver` takes only what `pose_auth` authenticates and feeds it to an `Estimator`.
"""

from __future__ import annotations

import json
import math
import socket
import threading
import time
from dataclasses import dataclass

from fastrlap.types import Pose
from fastrlap.vehicle.estimator import Estimator, EstimatorError
from fastrlap.vehicle.pose_auth import PoseAuthenticator, PoseRejected, PoseRejections


# ---------------------------------------------------------------------- external pose (UDP)
@dataclass(frozen=True)
class PoseMessage:
    pose: Pose
    pos_std: float  # m
    yaw_std: float  # rad


def parse_pose_message(data: bytes, default_pos_std: float = 0.02, default_yaw_std: float = 0.03) -> PoseMessage:
    """One UDP datagram: a JSON object with x, y (m), yaw (rad), optional pos_std, yaw_std."""
    try:
        obj = json.loads(data.decode("utf-8"))
        if not isinstance(obj, dict):
            raise ValueError("not a JSON object")
        x, y, yaw = float(obj["x"]), float(obj["y"]), float(obj["yaw"])
        pos_std = float(obj.get("pos_std", default_pos_std))
        yaw_std = float(obj.get("yaw_std", default_yaw_std))
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise EstimatorError(
            f'bad pose message {data[:60]!r} ({type(exc).__name__}: {exc}); send {{"x": m, "y": m, "yaw": rad}} as JSON'
        ) from None
    if not all(math.isfinite(v) for v in (x, y, yaw, pos_std, yaw_std)) or pos_std <= 0 or yaw_std <= 0:
        raise EstimatorError(f"bad pose message {data[:60]!r}: values must be finite and the stds positive")
    return PoseMessage(pose=Pose(x, y, yaw), pos_std=pos_std, yaw_std=yaw_std)


class UdpPoseReceiver:
    """Listens on a UDP port and feeds every authentic, fresh, valid pose into an estimator.

    `host` is loopback unless configured otherwise: a tracker on another machine needs the
    address of the interface it sends to, and then the key is what keeps others out.
    """

    def __init__(
        self,
        estimator: Estimator,
        port: int,
        auth: PoseAuthenticator,
        host: str = "127.0.0.1",
        clock=time.monotonic,
        wall=time.time,
    ) -> None:
        self.estimator = estimator
        self.auth = auth
        self.clock = clock
        self.wall = wall
        self.messages = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._sock.bind((host, port))
        except OSError as exc:
            self._sock.close()
            raise EstimatorError(
                f"cannot listen for external poses on UDP {host}:{port} ({exc}): pick a free "
                f"vehicle.real.pose.udp_port, and for udp_host an address of this machine"
            ) from None
        self._sock.settimeout(0.2)
        self.host, self.port = self._sock.getsockname()[:2]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"udp pose {self.port}", daemon=True)
        self._thread.start()

    @property
    def rejections(self) -> PoseRejections:
        return self.auth.rejections

    @property
    def errors(self) -> int:
        """Datagrams refused, whatever the reason."""
        return self.auth.rejections.total

    @property
    def last_error(self) -> str:
        return self.auth.last_rejection

    def handle(self, datagram: bytes) -> bool:
        """Feed one datagram to the estimator if it is an authentic, fresh, new, valid pose."""
        try:
            body = self.auth.open(datagram, self.wall())
        except PoseRejected:
            return False
        try:
            msg = parse_pose_message(body)
        except EstimatorError as exc:
            self.auth.count_malformed(str(exc))
            return False
        self.messages += 1
        self.estimator.update_pose(self.clock(), msg.pose, msg.pos_std, msg.yaw_std)
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, _ = self._sock.recvfrom(2048)
            except TimeoutError:
                continue
            except OSError:
                return  # socket closed
            self.handle(data)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0)
        self._sock.close()
