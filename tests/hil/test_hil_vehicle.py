"""vehicle=hil: RealVehicle over the real firmware under simavr, driving the simulator's car.

The speed loop closes over measured encoder ticks, the camera shows rendered frames, poses come
over UDP; and a host that dies mid-run leaves the car stopped by the firmware's watchdog.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from fastrlap.cli import compose
from fastrlap.sim.track import load_track
from fastrlap.types import Command
from fastrlap.vehicle import protocol as p
from fastrlap.vehicle.hil import FirmwareBoard, SimulatedCar, open_hil_vehicle

pytestmark = pytest.mark.hil


@pytest.fixture(scope="module")
def hil_cfg():
    return compose(["vehicle=hil"]).vehicle


def test_hil_vehicle_holds_speed_through_the_real_serial_path(firmware_build, hil_cfg):
    track = load_track("oval")
    with open_hil_vehicle(hil_cfg, track) as car:
        first = car.observe()
        assert first.frame.shape == (128, 128, 3) and first.frame.std() > 5  # a rendered view, not a blank
        speeds = []
        t0 = time.monotonic()
        while time.monotonic() - t0 < 3.0:
            obs = car.observe()
            assert not obs.estop, "telemetry went stale or the firmware failed safe"
            car.act(Command(speed=1.5, steer=0.0))
            speeds.append((obs.wheel_speed, car.car.wheel_speed))
            car.clock.wait_until(t0 + len(speeds) / car.control_hz)
        measured, true = np.array(speeds[-8:]).T
        assert abs(true.mean() - 1.5) < 0.25, true  # the host's PI holds the simulated car's speed
        assert np.abs(measured - true).max() < 0.2  # encoder ticks -> m/s on the host
        obs = car.observe()
        err = np.hypot(obs.pose.x - obs.true_pose.x, obs.pose.y - obs.true_pose.y)
        assert err < 0.3, (obs.pose, obs.true_pose)  # estimator fed by UDP poses and odometry
        assert not np.array_equal(obs.frame, first.frame)  # the view moved with the car
        stopped = time.monotonic()
        car.stop()
        neutral = car.board.wait_pulse("esc", lambda w: abs(w - 1500) <= 10, timeout=3.0)
        assert neutral.arrived - stopped < 1.0
        # stop() is a neutral command, not a wait for the watchdog: the firmware reports a command
        # timeout only when a stale command takes the car out of AUTO, and it reported none
        car.link.wait_telemetry(lambda t: t.mode == p.Mode.NEUTRAL, timeout=3.0)
        assert not any(f.fault == p.Fault.CMD_TIMEOUT for f in car.link.faults)


HOST = textwrap.dedent("""
    import sys, time
    from fastrlap.cli import compose
    from fastrlap.types import Command
    from fastrlap.vehicle.camera import FakeCamera
    from fastrlap.vehicle.estimator import Estimator
    from fastrlap.vehicle.real import RealVehicle
    from fastrlap.vehicle.serial_link import SerialLink

    # odometry alone: this host drives blind, and external poses would need the rig's key
    cfg = compose(["vehicle=hil", "vehicle.real.pose.source=odometry"]).vehicle
    car = RealVehicle(SerialLink(sys.argv[1]), FakeCamera(), Estimator(), cfg.real).open()
    while True:  # a control loop that never stops by itself
        car.observe()
        car.act(Command(speed=1.5, steer=0.0))
        print("tick", flush=True)
        time.sleep(0.1)
""")


def test_killing_the_host_mid_run_leaves_the_car_stopped_by_the_firmware_watchdog(firmware_build, hil_cfg, tmp_path):
    board = FirmwareBoard(firmware_build, tmp_path, imu=True)
    car = SimulatedCar(board, load_track("oval"), hil_cfg).start()
    host = subprocess.Popen(
        [sys.executable, "-c", HOST, board.link], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 15.0
        while car.wheel_speed < 1.2:
            assert host.poll() is None, host.stderr.read()
            assert time.monotonic() < deadline, f"the simulated car never got going ({car.wheel_speed:.2f} m/s)"
            time.sleep(0.05)
        assert board.latest("esc").width_us > 1550
        os.kill(host.pid, signal.SIGKILL)  # no finally, no neutral command: only the firmware can stop it
        killed = time.monotonic()
        host.wait()
        neutral = board.wait_pulse("esc", lambda w: abs(w - 1500) <= 10, timeout=1.0)
        # the firmware's watchdog, not the host, stopped it: its 250 ms bound is held in simulated time by
        # test_firmware_hil; in wall time a loaded machine adds its own delay, hence the room here
        assert neutral.arrived - killed < 1.0, neutral.arrived - killed
        while car.wheel_speed > 0.05:
            assert time.monotonic() - killed < 4.0, f"still rolling at {car.wheel_speed:.2f} m/s"
            time.sleep(0.05)
        assert abs(board.latest("esc").width_us - 1500) <= 10  # and it stays stopped
    finally:
        if host.poll() is None:
            host.kill()
            host.wait()
        car.close()
        board.close()


HOST_WITH_STOP_PATH = textwrap.dedent("""
    import sys, time
    from fastrlap.cli import compose
    from fastrlap.signals import StopSignals
    from fastrlap.types import Command
    from fastrlap.vehicle.camera import FakeCamera
    from fastrlap.vehicle.estimator import Estimator
    from fastrlap.vehicle.real import RealVehicle
    from fastrlap.vehicle.serial_link import SerialLink

    cfg = compose(["vehicle=hil", "vehicle.real.pose.source=odometry"]).vehicle  # as HOST: no poses
    StopSignals().__enter__()  # what `fastrlap <command>` installs for the whole command
    try:
        with RealVehicle(SerialLink(sys.argv[1]), FakeCamera(), Estimator(), cfg.real) as car:
            while True:
                car.observe()
                car.act(Command(speed=1.5, steer=0.0))
                time.sleep(0.1)
    except KeyboardInterrupt:
        sys.exit(130)
""")


def test_sigterm_takes_the_stop_path_before_the_watchdog(firmware_build, hil_cfg, tmp_path):
    board = FirmwareBoard(firmware_build, tmp_path, imu=True)
    car = SimulatedCar(board, load_track("oval"), hil_cfg).start()
    host = subprocess.Popen(
        [sys.executable, "-c", HOST_WITH_STOP_PATH, board.link],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 15.0
        while car.wheel_speed < 1.2:
            assert host.poll() is None, host.stderr.read()
            assert time.monotonic() < deadline, f"the simulated car never got going ({car.wheel_speed:.2f} m/s)"
            time.sleep(0.05)
        host.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        neutral = board.wait_pulse("esc", lambda w: abs(w - 1500) <= 10, timeout=1.0)
        assert host.wait(timeout=5) == 130
        # neutral came from the host's finally (one servo period), not the 250 ms watchdog
        assert neutral.arrived - sent < 0.2, neutral.arrived - sent
    finally:
        if host.poll() is None:
            host.kill()
            host.wait()
        car.close()
        board.close()


def test_a_served_rig_outlives_its_clients_and_stops_on_sigterm(firmware_build, tmp_path):
    from fastrlap.vehicle.hil import HilUnavailable, RemoteRig

    sock = tmp_path / "rig.sock"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fastrlap.cli",
            "hil",
            "serve",
            "vehicle=hil",
            f"vehicle.hil.attach={sock}",
            "track=oval",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = server.stdout.readline()
        assert "hil rig: oval" in line and f"vehicle.hil.attach={sock}" in line, server.stderr.read()
        vcfg = compose(["vehicle=hil", f"vehicle.hil.attach={sock}"]).vehicle
        for _ in range(2):  # a second client finds the same rig
            rig = RemoteRig(vcfg, str(sock))
            pose = rig.true_pose()
            assert rig.track_name == "oval" and abs(load_track("oval").project(pose.x, pose.y).n) < 0.5  # on the track
            assert rig.render().std() > 5  # a rendered view
            assert rig.host_config().port == rig.link and rig.params.wheelbase > 0
            rig.close()
        with pytest.raises(HilUnavailable, match="simulates track 'oval'"):
            open_hil_vehicle(vcfg, load_track("hairpin"))
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=10) == 128 + signal.SIGTERM  # the exit status of every command stopped so
        assert not sock.exists()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
