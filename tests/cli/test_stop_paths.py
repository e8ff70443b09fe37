"""Whatever ends record-demo or practice — the end, Ctrl-C, an error — the car is closed (neutral,
then the port). The car here is the simulator behind a recorder of stop/close calls; the same
paths on the real serial link are checked against the firmware in tests/hil/test_hil_cli.py."""

from __future__ import annotations

import pytest

import fastrlap.cli as cli
import fastrlap.practice.demo_lap as demo_lap
from fastrlap.cli import main


class Recorder:
    def __init__(self, vehicle):
        self.vehicle = vehicle
        self.calls: list[str] = []

    def stop(self):
        self.calls.append("stop")
        self.vehicle.stop()

    def close(self):
        self.calls.append("close")
        self.vehicle.close()

    def __getattr__(self, name):
        return getattr(self.vehicle, name)


@pytest.fixture
def cars(monkeypatch):
    made: list[Recorder] = []
    real_make = cli.make_vehicle

    def make(cfg, track, paced=False, listen_only=False):
        made.append(Recorder(real_make(cfg, track, paced=paced, listen_only=listen_only)))
        return made[-1]

    monkeypatch.setattr(cli, "make_vehicle", make)  # practice and evaluate
    monkeypatch.setattr(demo_lap, "make_vehicle", make)  # the demo lap
    return made


def test_an_error_in_the_demo_driver_stops_and_closes_the_car(cars, monkeypatch, tmp_path):
    import fastrlap.sim.drivers as drivers

    def broken(self, pose, speed):
        raise RuntimeError("driver bug")

    monkeypatch.setattr(drivers.DemoDriver, "__call__", broken)
    with pytest.raises(RuntimeError, match="driver bug"):
        main(["record-demo", f"run_dir={tmp_path}"])
    assert cars[0].calls == ["stop", "close"]
    assert (tmp_path / "config.yaml").exists() and not (tmp_path / "demo.npz").exists()


@pytest.mark.parametrize("ending", [KeyboardInterrupt, RuntimeError])
def test_practice_closes_the_car_however_it_ends(cars, monkeypatch, tmp_path, ending):
    assert main(["record-demo", "track=oval", f"run_dir={tmp_path}"]) == 0
    import fastrlap.practice.session as session

    def ends(*args, **kwargs):
        raise ending("stop here")

    monkeypatch.setattr(session, "practice", ends)
    if ending is KeyboardInterrupt:
        assert main(["practice", f"run_dir={tmp_path}"]) == 130  # Ctrl-C and SIGTERM take this path
    else:
        with pytest.raises(RuntimeError):
            main(["practice", f"run_dir={tmp_path}"])
    assert cars[-1].calls == ["close"]
