"""`fastrlap doctor vehicle=real` without a car: each problem is one line with its fix."""

from __future__ import annotations

import socket
import threading
import time

import cv2
import numpy as np

from fastrlap.cli import main
from fastrlap.config import PoseSourceConfig, RealConfig
from fastrlap.vehicle.doctor import check_pose
from fastrlap.vehicle.pose_auth import sign_pose


def test_doctor_reports_a_missing_port_and_checks_the_camera(tmp_path, capsys):
    video = tmp_path / "cam.mp4"
    out = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (64, 48))
    for i in range(60):
        out.write(np.full((48, 64, 3), 4 * i, np.uint8))
    out.release()
    code = main(
        ["doctor", "vehicle=real", f"vehicle.real.port={tmp_path / 'ttyNONE'}", f"vehicle.real.camera.source={video}"]
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 1
    assert (
        lines[0].startswith("FAIL  port: serial port") and "does not exist -> plug in the car's USB cable" in lines[0]
    )
    camera = next(line for line in lines if line.startswith(("OK    camera", "FAIL  camera")))
    assert camera.startswith("OK    camera") and "fps" in camera, camera
    assert any(line.startswith("WARN  pose: odometry + IMU only") for line in lines)
    assert lines[-1] == "3 checks: 1 ok, 1 warning, 1 failed (fix: port)"


def test_doctor_refuses_the_simulator(capsys):
    assert main(["doctor"]) == 1
    assert "use vehicle=real" in capsys.readouterr().err


def test_pose_check_waits_for_external_messages():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    key = "f" * 64
    rc = RealConfig(pose=PoseSourceConfig(source="external", udp_host="127.0.0.1", udp_port=port, udp_key=key))
    silent = check_pose(rc, seconds=0.3)
    assert silent.status == "fail" and "0 pose messages" in silent.detail and "UDP port" in silent.fix

    stop = threading.Event()
    seq = [0]

    def tracker():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            while not stop.is_set():
                seq[0] += 1
                tx.sendto(
                    sign_pose(key.encode(), {"seq": seq[0], "t": time.time(), "x": 1.0, "y": 2.0, "yaw": 0.1}),
                    ("127.0.0.1", port),
                )
                time.sleep(0.02)

    thread = threading.Thread(target=tracker, daemon=True)
    thread.start()
    try:
        ok = check_pose(rc, seconds=0.5)
    finally:
        stop.set()
        thread.join()
    assert ok.status == "ok" and "external" in ok.detail, ok
