"""External pose authentication: the shared key, the MAC, the clock and the sequence number."""

from __future__ import annotations

import json
import socket
import time

import pytest

from fastrlap.config import PoseSourceConfig
from fastrlap.vehicle.estimator import Estimator
from fastrlap.vehicle.pose_auth import (
    PoseAuthenticator,
    PoseKeyError,
    PoseRejected,
    PoseRejections,
    load_pose_key,
    sign_pose,
)
from fastrlap.vehicle.real import external_pose_receiver

KEY = "0123456789abcdef" * 4


def pose(seq, t, x=1.0):
    return {"seq": seq, "t": t, "x": x, "y": 2.0, "yaw": 0.5}


def test_good_poses_pass_and_every_kind_of_bad_one_is_refused_and_counted():
    auth = PoseAuthenticator(KEY.encode(), max_age=0.5)
    now = 1_700_000_000.0
    assert json.loads(auth.open(sign_pose(KEY.encode(), pose(10, now)), now))["x"] == 1.0
    bad = {
        "unauthenticated": [
            json.dumps(pose(11, now)).encode(),  # no MAC
            sign_pose(b"another key, long enough to be a key", pose(12, now)),
            sign_pose(KEY.encode(), pose(13, now, x=1.0)).replace(b'"x":1.0', b'"x":9.0'),
        ],
        "stale": [sign_pose(KEY.encode(), pose(14, now - 2.0)), sign_pose(KEY.encode(), pose(15, now + 2.0))],
        "replayed": [sign_pose(KEY.encode(), pose(10, now)), sign_pose(KEY.encode(), pose(3, now))],
        "malformed": [sign_pose(KEY.encode(), {"x": 1.0, "y": 2.0, "yaw": 0.0})],
    }
    for kind, datagrams in bad.items():
        for d in datagrams:
            with pytest.raises(PoseRejected) as exc:
                auth.open(d, now)
            assert exc.value.kind == kind, (kind, d)
    assert auth.rejections == PoseRejections(unauthenticated=3, stale=2, replayed=2, malformed=1)
    assert auth.rejections.describe() == "3 unauthenticated, 2 stale, 2 replayed, 1 malformed"
    assert PoseRejections().describe() == "none"
    assert auth.open(sign_pose(KEY.encode(), pose(16, now + 0.3)), now)  # a newer one still passes


def test_the_receiver_listens_on_loopback_by_default_and_feeds_only_authentic_poses(tmp_path):
    assert PoseSourceConfig().udp_host == "127.0.0.1"
    key_file = tmp_path / "pose.key"
    key_file.write_text(KEY + "\n")
    est = Estimator(source="external")
    rx = external_pose_receiver(est, PoseSourceConfig(source="external", udp_port=0, udp_key_file=str(key_file)))
    try:
        assert rx.host == "127.0.0.1"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            forged = json.dumps(pose(1, time.time(), x=-5.0)).encode()
            tx.sendto(forged, ("127.0.0.1", rx.port))
            good = sign_pose(KEY.encode(), pose(2, time.time(), x=3.0))
            tx.sendto(good, ("127.0.0.1", rx.port))
            tx.sendto(good, ("127.0.0.1", rx.port))  # recorded and played back
            deadline = time.monotonic() + 3.0
            while rx.rejections.total < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
        assert rx.messages == 1 and rx.rejections == PoseRejections(unauthenticated=1, replayed=1)
        assert est.estimate().pose.x == pytest.approx(3.0)
    finally:
        rx.close()


@pytest.mark.parametrize(
    "key, key_file, match",
    [
        ("", "", "needs a shared key to authenticate poses: create one with `openssl rand -hex 32"),
        ("", "missing.key", "pose key file .*missing.key not found: create one"),
        ("short", "", "udp_key holds a key of 5 characters, fewer than 32"),
        (KEY, "pose.key", "both set"),
    ],
)
def test_external_pose_refuses_to_start_without_a_usable_key(tmp_path, key, key_file, match):
    cfg = PoseSourceConfig(
        source="external", udp_port=0, udp_key=key, udp_key_file=str(tmp_path / key_file) if key_file else ""
    )
    with pytest.raises(PoseKeyError, match=match) as exc:
        external_pose_receiver(Estimator(source="external"), cfg)
    assert "\n" not in str(exc.value)


def test_a_key_file_is_read_without_its_newline(tmp_path):
    (tmp_path / "k").write_text(f"  {KEY}\n")
    assert load_pose_key("", str(tmp_path / "k")) == KEY.encode()


def test_the_car_does_not_open_its_link_without_a_pose_key():
    from fastrlap.config import RealConfig
    from fastrlap.vehicle.camera import FakeCamera
    from fastrlap.vehicle.real import RealVehicle

    class Link:
        port, connected, opened = "/dev/ttyUSB0", False, False

        def open(self):
            self.opened = True
            raise AssertionError("the link was opened")

    link = Link()
    car = RealVehicle(
        link,
        FakeCamera(),
        Estimator(source="external"),
        RealConfig(pose=PoseSourceConfig(source="external", udp_port=0)),
    )
    with pytest.raises(PoseKeyError, match="openssl rand"):
        car.open()
    assert not link.opened


def test_a_rejected_pose_is_an_error_the_command_line_prints_as_one_line():
    from fastrlap.errors import FastrlapError

    assert issubclass(PoseRejected, FastrlapError)
