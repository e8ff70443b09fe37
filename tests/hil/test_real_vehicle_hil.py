"""RealVehicle over the real firmware under simavr: what the car's pins do for the loop's commands."""

from __future__ import annotations

import dataclasses
import time

import pytest

from fastrlap.config import RealConfig
from fastrlap.types import Command
from fastrlap.vehicle import protocol as p
from fastrlap.vehicle.camera import FakeCamera
from fastrlap.vehicle.estimator import Estimator
from fastrlap.vehicle.real import RealVehicle
from fastrlap.vehicle.serial_link import SerialLink

pytestmark = pytest.mark.hil

CFG = RealConfig(
    send_calibration=True,
    steer_min_us=1100,
    steer_center_us=1500,
    steer_max_us=1900,
    throttle_limit=500,
    steer_full_lock=0.5,
    wheel_diameter=0.1,
    ticks_per_rev=2.0,
)


def _drive(car: RealVehicle, command: Command, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        car.observe()
        car.act(command)
        time.sleep(0.1)


def test_real_vehicle_drives_the_firmware_outputs_and_reads_its_sensors(fw_sim):
    with RealVehicle(SerialLink(fw_sim.link), FakeCamera(fps=30.0), Estimator(), CFG) as car:
        assert car.calibration == p.Calibration(1100, 1500, 1900, 1000, 1500, 2000, 500, 0)
        obs = car.observe()
        assert obs.frame.shape == (128, 128, 3) and not obs.estop and obs.teleop is None
        assert obs.t - obs.frame_t < 0.2

        fw_sim.wheel(40)  # 40 ticks/s of pi*0.1/2 m: 6.28 m/s would be far above the target
        _drive(car, Command(speed=1.0, steer=0.25), 0.6)
        obs = car.observe()
        assert obs.wheel_speed == pytest.approx(40 * 3.14159 * 0.1 / 2, rel=0.02)
        want_steer, want_esc = car.calibration.auto_pulses(car.last_throttle, 500)
        assert want_steer == 1700
        assert abs(fw_sim.settled("steer") - 1700) <= 10
        assert abs(fw_sim.settled("esc") - want_esc) <= 10
        assert car.last_throttle < 0  # far too fast for 1 m/s: the speed loop brakes
        fw_sim.wheel(0)

        # The firmware's RC timings (100 ms to call the radio lost, the sticks' 1 s hold) run on the
        # simulated board's clock, which falls behind the wall clock on a loaded machine (the
        # harness pauses rather than race): wait on the firmware's reports, not on sleeps.
        fw_sim.rc(1700, 1500, 2000)  # the human flips the mode switch and steers left
        car.link.wait_telemetry(lambda t: t.mode == p.Mode.TELEOP and t.rc_steer_us > 1650, timeout=2.0)
        obs = car.observe()
        assert obs.teleop is not None and obs.teleop.steer == pytest.approx(
            0.2, abs=0.01
        )  # 1700 us as the MCU measures it and not obs.estop
        fw_sim.rc(0, 0, 0)  # the receiver loses the transmitter while the human drives
        car.link.wait_telemetry(lambda t: t.mode == p.Mode.FAILSAFE, timeout=2.0)
        obs = car.observe()
        assert obs.estop and obs.teleop is None
        fw_sim.rc(1500, 1500, 1000)  # back, switch on auto, sticks centred
        car.link.wait_telemetry(lambda t: t.mode != p.Mode.FAILSAFE, timeout=2.0)
        assert not car.observe().estop  # FAILSAFE ends as soon as the receiver's pulses are back
        # the sticks' hold keeps the car the human's until 1 s (firmware time) after the last
        # deflection; then the host may drive again
        car.link.wait_telemetry(lambda t: t.mode == p.Mode.NEUTRAL, timeout=3.0)
        _drive(car, Command(speed=0.5, steer=0.0), 0.3)
        assert not car.observe().estop
        assert fw_sim.settled("esc") > 1500  # driving again
    closed = time.monotonic()
    p_ = fw_sim.wait_pulse("esc", lambda w: abs(w - 1500) <= 10, timeout=1.0)
    assert p_.arrived - closed < 0.15  # close() sent neutral; it did not wait for the 250 ms watchdog


def test_a_calibration_the_firmware_refuses_is_one_clear_line(fw_sim):
    from fastrlap.vehicle.real import VehicleError

    hot = dataclasses.replace(CFG, esc_neutral_us=1700)  # would hold throttle open at "neutral"
    with pytest.raises(VehicleError, match="esc_neutral_us must lie within 1450-1550 us") as err:
        RealVehicle(SerialLink(fw_sim.link), FakeCamera(), Estimator(), hot).open()
    assert "\n" not in str(err.value)
    fw_sim.rc(1500, 1500, 2000)  # the human holds the car in manual: a new calibration is refused...
    with SerialLink(fw_sim.link) as link:
        link.wait_telemetry(lambda t: t.mode == p.Mode.TELEOP, timeout=2.0)
    with pytest.raises(VehicleError, match="transmitter has the car"):
        RealVehicle(SerialLink(fw_sim.link), FakeCamera(), Estimator(), CFG).open()
    # ...while the one the firmware already uses needs no sending, so the car still opens
    same = dataclasses.replace(CFG, steer_min_us=1000, steer_max_us=2000, throttle_limit=1000)
    with RealVehicle(SerialLink(fw_sim.link), FakeCamera(), Estimator(), same) as car:
        assert car.calibration == p.Calibration()


def test_missing_port_is_one_clear_line(tmp_path):
    from fastrlap.vehicle.real import VehicleError

    car = RealVehicle(SerialLink(str(tmp_path / "ttyNONE")), FakeCamera(), Estimator(), CFG)
    with pytest.raises(VehicleError, match="does not exist: plug in the car's USB cable") as err:
        car.open()
    assert "\n" not in str(err.value)
