"""Recording the demo lap into a run directory: who drives it, on which vehicle, and the
checkpoints extracted from it.

`record-demo` and `practice` (on a run without a demo) record through `record_demo_lap`, and so do
the benchmark scripts and the tests that need a run with a demo, so all of them get the lap the
product records.
"""

from __future__ import annotations

import sys
from pathlib import Path

from fastrlap.config import Config
from fastrlap.errors import FastrlapError
from fastrlap.practice.vehicles import check_vehicle, make_vehicle


def resolve_teleop(cfg: Config) -> str:
    """Who drives the demo lap: `teleop` resolved for the vehicle (auto: the scripted driver in the
    simulator and on vehicle=hil, the transmitter on the car), or one line saying which pairs work."""
    import os

    check_vehicle(cfg)
    kind, teleop = cfg.vehicle.kind, cfg.teleop
    on_car = "on the car drive the demo with teleop=rc (the transmitter) or teleop=gamepad"
    if teleop == "auto":
        return "rc" if kind == "real" else "script"
    if teleop not in ("script", "keyboard", "gamepad", "rc"):
        raise FastrlapError(
            f"teleop={teleop!r}: use auto, script (the simulator's demo driver), keyboard (simulator), "
            f"gamepad, or rc (the transmitter, vehicle=real or hil)"
        )
    if teleop == "script" and kind == "real":
        raise FastrlapError(f"teleop=script is the simulator's scripted driver; {on_car}")
    if teleop == "keyboard" and kind != "sim":
        raise FastrlapError(f"teleop=keyboard drives the simulator (vehicle=sim); {on_car}")
    if teleop == "keyboard" and sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        raise FastrlapError(
            "teleop=keyboard needs a display for its window, and DISPLAY is not set; run it in a "
            "desktop session or use teleop=script"
        )
    if teleop == "rc" and kind == "sim":
        raise FastrlapError(
            "teleop=rc reads the RC transmitter through the car's firmware: use it with vehicle=real "
            "(or vehicle=hil, where a scripted driver holds the simulated transmitter); in the "
            "simulator use teleop=script, keyboard or gamepad"
        )
    return teleop


def human_input(cfg: Config, teleop: str):
    """The keyboard window or the gamepad, opened before the car so a missing device touches nothing."""
    if teleop == "keyboard":
        from fastrlap.course.keyboard import KeyboardDriver

        return KeyboardDriver(cfg.vehicle, cfg.course.demo_speed)
    if teleop == "gamepad":
        from fastrlap.vehicle.teleop import Gamepad, GamepadDriver

        pad = Gamepad(cfg.gamepad.device).open()
        try:
            # the simulator runs faster than real time: the driver holds the pace; the car paces itself
            pace = cfg.vehicle.control_hz if cfg.vehicle.kind == "sim" else None
            return GamepadDriver(pad, cfg.gamepad, cfg.vehicle.max_steer, pace_hz=pace)
        except BaseException:
            pad.close()
            raise
    return None


def record_demo_lap(cfg: Config, run, track) -> int:
    """Drive the demo lap and write demo.npz and checkpoints.json into `run`.

    Whatever ends it — the lap, Ctrl-C, SIGTERM, an error — the car gets neutral and the port is
    closed (`finally`); on the car the firmware's watchdog backs that up."""
    from fastrlap.course.demo import DemoInterrupted, record_demo, save_demo
    from fastrlap.practice.run import keep_aside

    teleop = resolve_teleop(cfg)
    kind = cfg.vehicle.kind
    track_ref = ""  # a real course has no track file
    if track is not None:
        # A track file is recorded by absolute path, so `checkpoints show` finds it from any folder.
        path = Path(cfg.track).expanduser()
        track_ref = str(path.resolve()) if path.suffix in (".yaml", ".yml") or path.exists() else cfg.track
    human = human_input(cfg, teleop)
    vehicle = None
    try:
        vehicle = make_vehicle(cfg, track, paced=True, listen_only=teleop == "rc")
        if teleop == "script":
            from fastrlap.sim.drivers import DemoDriver

            scripted = DemoDriver(track, vehicle.params, speed=cfg.course.demo_speed, seed=cfg.seed)
            driver = lambda obs: scripted(obs.true_pose or obs.pose, obs.wheel_speed)  # noqa: E731
        elif teleop == "rc":
            from fastrlap.vehicle.teleop import RcDriver, wait_for_rc_override

            if kind == "hil":
                vehicle.rig.hold_transmitter(cfg.course.demo_speed, cfg.seed)
                print("vehicle=hil: a scripted driver holds the simulated transmitter (mode switch on manual)")
            wait_for_rc_override(vehicle, cfg.vehicle.real.rc_wait)
            driver = RcDriver()
        else:
            driver = human
        where = f"of {track.name} ({track.length:.1f} m)" if track is not None else "on the car"
        print(
            f"recording a demo lap {where} with the {teleop} driver; Ctrl-C stops and keeps the partial demo",
            flush=True,
        )
        t0 = vehicle.clock.now()  # 0 in the simulator; wall-clock vehicles count from an arbitrary origin
        shown = [t0]

        def progress(obs, metres: float) -> None:
            if obs.t - shown[0] >= 10.0:
                shown[0] = obs.t
                print(f"  {obs.t - t0:5.1f} s  {metres:6.1f} m", flush=True)

        demo = record_demo(
            vehicle,
            driver,
            cfg.vehicle,
            cfg.course,
            run.demo_partial,
            track=track_ref,
            driver_name=teleop,
            on_tick=progress,
            estop_reason=vehicle.estop_reason if kind != "sim" else None,
        )
    except DemoInterrupted as e:
        print(f"fastrlap record-demo: {e}", file=sys.stderr)
        return 130
    finally:
        if vehicle is not None:
            vehicle.close()
        if human is not None:
            human.close()
    aside = keep_aside(run.demo)
    if aside is not None:
        print(f"the previous demo is kept as {aside}")
    save_demo(demo, run.demo)
    spec = extract_checkpoints_into(cfg, run, demo)
    print(f"demo lap time: {demo.lap_time:.2f} s ({spec.course_length:.1f} m in {len(demo)} ticks)")
    print(f"{len(spec.checkpoints)} checkpoints every {spec.spacing:.2f} m -> {run.checkpoints}")
    print(f"run directory: {run.path}")
    return 0


def extract_checkpoints_into(cfg: Config, run, demo):
    """Checkpoints of `demo`'s lap by `cfg.course`, written to the run's checkpoints.json (a
    previous file is kept aside)."""
    from fastrlap.course.checkpoints import extract_checkpoints, save_checkpoints
    from fastrlap.practice.run import keep_aside

    c = cfg.course
    try:
        spec = extract_checkpoints(
            demo.lap_path(),
            c.checkpoint_spacing,
            c.goal_radius,
            c.gate_half_width,
            demo_lap_time=demo.lap_time,
            track=demo.track,
        )
    except ValueError as e:  # an open lap, settings that cannot place checkpoints: one line with the fix
        raise FastrlapError(
            f"{run.demo}: {e}; record it again with `fastrlap record-demo run_dir={run.path} force=true`"
        ) from None
    aside = keep_aside(run.checkpoints)
    if aside is not None:
        print(f"the previous checkpoints are kept as {aside}")
    save_checkpoints(spec, run.checkpoints)
    return spec
