"""Simulator speed: control steps per second with the camera on, on one core, for each camera look.

One step = `SimVehicle.observe()` (render a 128x128 frame + sensors) + `act()` (one 10 Hz control
tick = 10 physics sub-steps at 100 Hz, contacts, IMU). The oracle driver supplies realistic
commands (a lap at the limit, not a car parked against a wall); its own time is excluded.
Time is this process's CPU time, so other work on a shared machine does not count against the
simulator (on an idle core it equals the wall-clock time); the load average is reported with it.
Prints a report per look (`vehicle.sim.camera.look`: clean, realistic), then one JSON line:
{"clean": {"steps_per_s": ...}, "realistic": {...}, "load": ...}.

    python scripts/bench_sim.py [--track oval] [--steps 2000] [--repeats 5] [--looks clean realistic]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from dataclasses import replace

import cv2
import torch

from fastrlap.config import VehicleConfig
from fastrlap.sim.drivers import OracleDriver
from fastrlap.sim.track import load_track
from fastrlap.types import Pose
from fastrlap.vehicle.sim import SimVehicle

TARGET = {"clean": 1000, "realistic": 1500}  # steps/s on one core


def run(track_name: str, look: str, steps: int) -> tuple[float, float, float]:
    """Returns (steps/s, ms per observe, ms per physics tick) over `steps` control steps."""
    track = load_track(track_name)
    cfg = VehicleConfig()
    cfg.sim.camera = replace(cfg.sim.camera, look=look)
    car = SimVehicle(track, cfg, seed=0)
    driver = OracleDriver(track, car.params)
    obs = car.observe()
    t_obs = t_act = 0.0
    for _ in range(steps):
        pose = obs.true_pose or Pose(0, 0, 0)
        cmd = driver(pose, car.last_reading.state.vx)
        t0 = time.process_time()
        car.act(cmd)
        t1 = time.process_time()
        obs = car.observe()
        t2 = time.process_time()
        t_act += t1 - t0
        t_obs += t2 - t1
    return steps / (t_obs + t_act), 1e3 * t_obs / steps, 1e3 * t_act / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--track", default="oval")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--looks", nargs="+", default=["clean", "realistic"], choices=sorted(TARGET))
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, as the target says
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    report = {"track": args.track}
    for look in args.looks:
        run(args.track, look, 50)  # warm caches (track raster, renderer tables)
        results = [run(args.track, look, args.steps) for _ in range(args.repeats)]
        sps = statistics.median(r[0] for r in results)
        obs_ms = statistics.median(r[1] for r in results)
        act_ms = statistics.median(r[2] for r in results)
        print(
            f"track {args.track}, look {look}: {args.repeats} runs x {args.steps} control steps, camera 128x128, "
            f"10 Hz control, 100 Hz physics, one core"
        )
        print(f"  observe (render + sensors): {obs_ms:.3f} ms/step   act (physics tick): {act_ms:.3f} ms/step")
        print(
            f"  median {sps:.0f} steps/s (runs: {', '.join(f'{r[0]:.0f}' for r in results)}); target >= {TARGET[look]}"
        )
        report[look] = {"steps_per_s": round(sps, 1), "observe_ms": round(obs_ms, 4), "act_ms": round(act_ms, 4)}
    report["load"] = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    print(json.dumps(report))


if __name__ == "__main__":
    main()
