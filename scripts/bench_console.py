"""Field console: E-STOP click to neutral command, through a real browser, on a car-paced loop.

A simulated practice runs as on the car: the control loop holds its 10 Hz period on the wall
clock (the simulator's car with a wall clock, so the learner runs threaded as on the car), and a
human at the transmitter drives laps (the supervisor's TELEOP path). Headless chromium (Debian's
`chromium` + `chromium-driver`) opens the console with the token; each repeat clicks E-STOP and
measures the wall time from the click to the first neutral command the car receives, then
releases the stop through the API. The target is <= 200 ms; one control period (100 ms) is the
wait for the next tick, the rest is the browser, HTTP and the loop.
Prints a report, then one JSON line.

    python scripts/bench_console.py [--repeats 10]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
import statistics
import tempfile
import threading
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

import torch

from fastrlap.cli import compose
from fastrlap.console.server import TOKEN_HEADER
from fastrlap.practice.demo_lap import record_demo_lap
from fastrlap.practice.run import open_run_dir, save_config
from fastrlap.practice.session import practice
from fastrlap.sim.drivers import OracleDriver
from fastrlap.sim.track import load_track
from fastrlap.types import NEUTRAL, Command
from fastrlap.vehicle.base import WallClock
from fastrlap.vehicle.sim import SimVehicle

SETTINGS = [
    "track=oval",
    "agent.encoder=random",
    "agent.hidden_dim=32",
    "agent.num_qs=2",
    "agent.batch_size=16",
    "practice.start_training=50",
    "wandb.mode=disabled",
    "practice.dashboard=false",
    "practice.minutes=600",
    "practice.torch_threads=1",
]


class CarClock(WallClock):
    """The wall clock as the car has it; the simulator's advances of its own time are not needed."""

    def advance(self, dt: float) -> None:
        del dt


class HumanDriven(SimVehicle):
    """The simulator with a human at the transmitter who drives clean laps (the supervisor's
    TELEOP path: laps come quickly and the learner stores nothing); keeps every command with the
    time it arrived; `done` ends practice as Ctrl-C would. An e-stop holds the car against the
    human. `clock`: the car's wall clock instead of simulated time. (The console's browser test
    drives this vehicle too.)"""

    def __init__(self, track, cfg, clock: WallClock | None = None):
        super().__init__(track, cfg.vehicle, seed=0)
        if clock is not None:
            self.clock = clock
        self.human = OracleDriver(track, self.params, grip=0.7)
        self.sent: list[tuple[float, Command]] = []  # (perf_counter, command)
        self.done = threading.Event()

    def observe(self):
        if self.done.is_set():
            raise KeyboardInterrupt
        obs = super().observe()
        return replace(obs, teleop=self.human(obs.true_pose, obs.wheel_speed))

    def act(self, command: Command) -> None:
        self.sent.append((time.perf_counter(), command))
        super().act(command)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(what, timeout: float):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if value := what():
            return value
        time.sleep(0.01)
    raise TimeoutError(f"no result within {timeout} s")


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=390,844"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver")), options=opts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = compose([*SETTINGS, f"console.port={free_port()}"])
    track = load_track("oval")
    with tempfile.TemporaryDirectory() as tmp:
        run = open_run_dir(Path(tmp) / "run", create=True)
        save_config(run, cfg)
        record_demo_lap(cfg, run, track)
        car = HumanDriven(track, cfg, clock=CarClock())
        messages: list[str] = []
        worker = threading.Thread(target=practice, args=(run, car, cfg), kwargs={"status": messages.append})
        worker.start()
        driver = browser()
        latencies = []
        try:
            line = wait(lambda: next((m for m in messages if m.startswith("console:")), None), 120)
            base, control = re.search(r"(http://\S+/) .* (http://\S+#token=\S+)", line).groups()
            token = control.split("#token=")[1]
            driver.get(control)
            button = driver.find_element("id", "estop")
            wait(button.is_enabled, 30)
            for _ in range(args.repeats):
                time.sleep(1.0)  # driving again after the last release
                wait(lambda: car.sent and car.sent[-1][1] != NEUTRAL, 120)  # (the first time: practice has begun)
                t0 = time.perf_counter()
                button.click()
                t1 = wait(lambda t0=t0: next((t for t, c in car.sent[-5:] if t > t0 and c == NEUTRAL), None), 10)
                latencies.append(1e3 * (t1 - t0))
                req = urllib.request.Request(
                    base + "api/continue", method="POST", data=b"", headers={TOKEN_HEADER: token}
                )
                urllib.request.urlopen(req, timeout=10).close()
        finally:
            driver.quit()
            car.done.set()
            worker.join()
    period_ms = 1e3 / cfg.vehicle.control_hz
    print(f"E-STOP click -> neutral command, {len(latencies)} clicks, control period {period_ms:.0f} ms:")
    print("  " + "  ".join(f"{x:.0f}" for x in latencies) + " ms")
    result = {
        "repeats": len(latencies),
        "median_ms": round(statistics.median(latencies), 1),
        "max_ms": round(max(latencies), 1),
        "mean_ms": round(statistics.mean(latencies), 1),
        "control_period_ms": period_ms,
        "target_ms": 200.0,
    }
    print(f"  median {result['median_ms']} ms, max {result['max_ms']} ms (target <= 200 ms)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
