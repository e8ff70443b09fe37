"""`fastrlap <command> [hydra overrides]` — the one place that assembles concrete objects.

Each command receives the typed `Config`, converted and checked once here. Commands with two
words (`sim view`) are looked up by their first two arguments. `--help` after a command lists its
settings, `--cfg` prints the composed configuration; overrides are checked before anything runs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Collection
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fastrlap import __version__
from fastrlap.config import Config, compose_tree, config_dir, config_groups, to_typed
from fastrlap.errors import ConfigError, FastrlapError
from fastrlap.practice.demo_lap import extract_checkpoints_into, record_demo_lap, resolve_teleop
from fastrlap.practice.vehicles import check_vehicle, course_track, make_vehicle
from fastrlap.settings import settings_table, split_options
from fastrlap.signals import StopSignals

if TYPE_CHECKING:
    from fastrlap.practice.run import RunDir, RunSummary
    from fastrlap.practice.sweep import Sweep


@dataclass(frozen=True)
class Subcommand:
    """One `fastrlap <name>` command of the command line (not the car's `fastrlap.types.Command`)."""

    name: str
    summary: str
    run: Callable[[Config], int | None]
    section: str = ""  # config section whose fields may be given bare (`steps=` for `pretrain.steps=`)
    settings: tuple[str, ...] = ()  # the keys (or groups of keys) `--help` lists; () = all of them


def _sim_view(cfg: Config) -> int:
    from fastrlap.sim.view import write_view

    out = write_view(cfg)
    for path in out:
        print(f"wrote {path}")
    return 0


def _check_sim(cfg: Config) -> None:
    """Commands that only run in the simulator."""
    if cfg.vehicle.kind != "sim":
        raise FastrlapError(
            f"vehicle={cfg.vehicle.kind} is not available for this command (it runs in the simulator); use vehicle=sim"
        )


def _record_demo(cfg: Config) -> int:
    from fastrlap.practice.run import new_run_dir, open_run_dir, save_config, save_track
    from fastrlap.practice.runlock import RunLock
    from fastrlap.practice.session import check_encoder

    resolve_teleop(cfg)
    check_encoder(cfg)  # the demo is recorded for practice with this encoder
    track = course_track(cfg)
    name = track.name if track is not None else "real"
    run = open_run_dir(cfg.run_dir, create=True) if cfg.run_dir else new_run_dir("runs", name)
    with RunLock(run, "record-demo"):
        if run.demo.exists() and not cfg.force:
            raise FastrlapError(
                f"{run.demo} already exists; record it again with `fastrlap record-demo "
                f"run_dir={run.path} force=true` (the old one is kept aside), or leave run_dir "
                f"unset for a new run"
            )
        save_config(run, cfg)
        if track is not None:
            save_track(run, track.source)
        try:
            return record_demo_lap(cfg, run, track)
        except BaseException:
            _discard_unused(cfg, run)
            raise


def _discard_unused(cfg: Config, run) -> None:
    """A new run directory that holds only what was written before driving (config.yaml, its
    track copy: the car could not be opened, the transmitter never took over) is removed, so
    failed starts leave no empty runs behind."""
    from fastrlap.practice.runlock import LOCK_FILE

    setup = [run.config, run.track, run.path / LOCK_FILE]
    if not cfg.run_dir and {f.name for f in run.path.iterdir()} <= {p.name for p in setup}:
        for p in setup:
            p.unlink(missing_ok=True)
        run.path.rmdir()


def _practice_run(cfg: Config, hold: ExitStack):
    """The run directory practice works in: resume=, run_dir=, or a new one (demo recorded first).
    It stays locked to this process (`hold`) until practice ends."""
    from fastrlap.practice.run import new_run_dir, open_run_dir, save_config, save_track
    from fastrlap.practice.runlock import RunLock

    track = course_track(cfg)
    if cfg.resume:
        run = open_run_dir(cfg.resume)
        hold.enter_context(RunLock(run, "practice"))
        return run, track
    name = track.name if track is not None else "real"
    run = open_run_dir(cfg.run_dir, create=True) if cfg.run_dir else new_run_dir("runs", name)
    hold.enter_context(RunLock(run, "practice"))
    if not run.config.exists():
        save_config(run, cfg)
    if track is not None:
        save_track(run, track.source)
    if not run.demo.exists():
        try:
            code = record_demo_lap(cfg, run, track)
        except BaseException:
            _discard_unused(cfg, run)
            raise
        if code:
            raise FastrlapError(f"no demo lap was recorded in {run.path}; practice needs one")
    return run, track


def _practice(cfg: Config) -> int:
    """Practice on the simulator, the simulated board (hil) or the car (real: wall-clock minutes,
    the loop holds its period). Ctrl-C, SIGTERM and errors all end in `vehicle.close()`: neutral,
    then the port closes; a killed process leaves the firmware's 250 ms watchdog to stop the car."""
    from fastrlap.practice.session import check_encoder, practice
    from fastrlap.sim.drivers import speed_profile

    check_vehicle(cfg)
    check_encoder(cfg)
    with ExitStack() as hold:
        run, track = _practice_run(cfg, hold)
        vehicle = make_vehicle(cfg, track)
        try:
            oracle = speed_profile(track, vehicle.params).lap_time if track is not None else None
            minutes = {
                "sim": "simulated minutes",
                "hil": "minutes (wall clock, firmware under simavr)",
                "real": "minutes on the car (wall clock)",
            }[cfg.vehicle.kind]
            what = track.name if track is not None else "the demo's course"
            print(
                f"practising {what} for {cfg.practice.minutes:g} {minutes} in {run.path}"
                + (f" (oracle lap {oracle:.2f} s)" if oracle is not None else "")
                + f"; Ctrl-C stops, `fastrlap practice resume={run.path}` continues",
                flush=True,
            )
            summary = practice(run, vehicle, cfg, resume=bool(cfg.resume), oracle_lap=oracle)
        finally:
            vehicle.close()
    _print_summary(summary, run)
    return 0


def _print_summary(summary: RunSummary, run: RunDir) -> None:
    def fmt(v, unit=""):
        return "-" if v is None else f"{v:.2f}{unit}"

    from fastrlap.practice.run import read_laps

    laps = read_laps(run)
    if laps:
        best = min(r.lap_time_s for r in laps)
        print(f"{'lap':>4} {'at (min)':>9} {'time (s)':>9} {'collisions':>10} {'mean m/s':>9} {'max m/s':>8}")
        for r in laps:
            mark = "  <- best" if r.lap_time_s == best else ""
            print(
                f"{r.lap:>4} {r.practice_time_s / 60:>9.2f} {r.lap_time_s:>9.2f} {int(r.collisions):>10} "
                f"{r.mean_speed_mps:>9.2f} {r.max_speed_mps:>8.2f}{mark}"
            )
    print(
        f"demo lap {fmt(summary.demo_lap_s, ' s')} | first lap at {fmt(summary.first_lap_practice_min, ' min')}"
        f" | best lap {fmt(summary.best_lap_s, ' s')} | oracle {fmt(summary.oracle_lap_s, ' s')}"
        f" | laps {summary.laps} | collisions {summary.collisions}"
    )
    print(f"run directory: {run.path} (laps.csv, events.jsonl, summary.json)")


def practice_multirun(
    overrides: list[str], deadline: float | None = None, done: Collection[tuple[str, int, str]] = ()
) -> Sweep:
    """One practice run per combination of the values swept in `overrides` (`seed=0,1`), launched
    by Hydra (fastrlap.practice.sweep); returns the `Sweep` (its folder and each job's record).
    `deadline` and `done` (the (track, seed, encoder) combinations to skip) as in `multirun`."""
    from hydra.errors import HydraException

    from fastrlap.practice.sweep import multirun

    try:
        return multirun(_practice, overrides, deadline=deadline, done=done)
    except HydraException as e:  # an unknown launcher, a bad hydra.* override
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"cannot launch the sweep ({first})") from None


def _multirun(command: Subcommand, overrides: list[str]) -> int:
    """`fastrlap practice -m ...`: a line per job, then where the summary is; status 1 if any job
    did not finish."""
    from fastrlap.practice.sweep import SUMMARY_FILE, describe

    if command.name != "practice":
        raise ConfigError(
            f"-m sweeps practice only (e.g. fastrlap practice -m track=oval,technical seed=0,1), not {command.name}"
        )
    sweep = practice_multirun(_scoped(command, overrides))
    for job in sweep.jobs:
        print(describe(job))
    print(f"{len(sweep.jobs)} jobs, {len(sweep.failed)} not ok; summary: {sweep.folder / SUMMARY_FILE}")
    return 1 if sweep.failed else 0


def _evaluate(cfg: Config) -> int:
    """Timed laps with the learned policy on the run's vehicle and track; the run is locked
    meanwhile (evaluation.csv is written, and on a car one controller owns the port)."""
    from fastrlap.practice.run import open_run_dir
    from fastrlap.practice.runlock import RunLock
    from fastrlap.practice.session import evaluate

    check_vehicle(cfg)
    if not cfg.run_dir:
        raise FastrlapError("which run? pass run_dir=runs/<date>-<time>-<track> (a run that has practised)")
    run = open_run_dir(cfg.run_dir)
    with RunLock(run, "evaluate"):
        track = course_track(cfg)
        vehicle = make_vehicle(cfg, track)
        try:
            where = {
                "sim": "in the simulator",
                "hil": "on the simulated board (firmware under simavr, wall clock)",
                "real": "on the car (wall clock; RC override and e-stop active)",
            }[cfg.vehicle.kind]
            what = track.name if track is not None else "the demo's course"
            print(f"evaluating {run.path} on {what} {where}: {cfg.laps} laps, no learning; Ctrl-C stops", flush=True)
            times = evaluate(run, vehicle, cfg, cfg.laps)
        finally:
            vehicle.close()
    if times:
        print(
            f"{len(times)} laps: best {min(times):.2f} s, mean {sum(times) / len(times):.2f} s -> "
            f"{run.path / 'evaluation.csv'}"
        )
    return 0 if len(times) == cfg.laps else 1


def _report(cfg: Config) -> int:
    from fastrlap.report.write import write_report

    if not cfg.run_dir:
        raise FastrlapError("which run? pass run_dir=runs/<date>-<time>-<track> (a run that has practised)")
    for path in write_report(cfg.run_dir, cfg.compare):
        print(f"wrote {path}")
    return 0


def _console(cfg: Config) -> int:
    """Serve the field console's page for a finished run, read-only, until Ctrl-C or SIGTERM."""
    import threading

    from fastrlap.console.live import DEFAULT_PORT
    from fastrlap.console.replay import ReplaySource
    from fastrlap.console.server import ConsoleServer

    if not cfg.run_dir:
        raise FastrlapError("which run? pass run_dir=runs/<date>-<time>-<track> (a run that has practised)")
    port = DEFAULT_PORT if cfg.console.port is None else cfg.console.port  # 0: any free port
    with ConsoleServer(ReplaySource.load(cfg.run_dir), cfg.console.host, port) as server:
        print(f"console: {server.url} (replay of {cfg.run_dir}, read-only); Ctrl-C to stop", flush=True)
        threading.Event().wait()  # Ctrl-C ends it (exit status 130, as every command)
    return 0


def _checkpoints_show(cfg: Config) -> int:
    from fastrlap.course.checkpoints import load_checkpoints
    from fastrlap.course.demo import load_demo
    from fastrlap.course.plot import plot_checkpoints
    from fastrlap.practice.run import open_run_dir
    from fastrlap.report.load import track_outline

    if not cfg.run_dir:
        raise FastrlapError("which run? pass run_dir=runs/<date>-<time>-<track> (the folder record-demo printed)")
    run = open_run_dir(cfg.run_dir)
    spec = load_checkpoints(run.checkpoints)
    path = load_demo(run.demo).pose[:, :2] if run.demo.exists() else None
    # compose() took the run's own config (and track) when the run has one
    outline, note = track_outline(cfg if run.config.is_file() else None, spec)
    if note:
        print(f"note: {note}", file=sys.stderr)
    out = plot_checkpoints(spec, run.checkpoints_png, demo_path=path, outline=outline)
    print(f"wrote {out}")
    return 0


def _checkpoints_extract(cfg: Config) -> int:
    """Checkpoints again from the run's saved demo (a lost or damaged checkpoints.json, or other
    course.* spacing); the previous file is kept aside."""
    from fastrlap.course.demo import load_demo
    from fastrlap.practice.run import open_run_dir
    from fastrlap.practice.runlock import RunLock

    if not cfg.run_dir:
        raise FastrlapError("which run? pass run_dir=runs/<date>-<time>-<track> (the folder record-demo printed)")
    run = open_run_dir(cfg.run_dir)
    with RunLock(run, "checkpoints extract"):
        spec = extract_checkpoints_into(cfg, run, load_demo(run.demo))
    print(f"{len(spec.checkpoints)} checkpoints every {spec.spacing:.2f} m -> {run.checkpoints}")
    return 0


def _pretrain_collect(cfg: Config) -> int:
    """Drive the prior environments with the exploration driver and write the prior dataset."""
    from fastrlap.pretrain.explore import check_prior_envs, collect

    _check_sim(cfg)
    p = cfg.pretrain
    envs = check_prior_envs(list(p.envs))
    print(
        f"collecting {p.steps} frames of low-speed exploration in {', '.join(envs)} into {p.out} "
        f"({p.look} camera look, seed {cfg.seed})"
    )

    def progress(stats) -> None:
        rate = stats.frames_per_second
        eta = (p.steps - stats.frames) / max(rate, 1e-9)
        print(
            f"  {stats.frames:>8}/{p.steps} frames  {rate:6.0f} frames/s  ETA {int(eta // 60)}m{int(eta % 60):02d}s  "
            f"episodes {stats.episodes}  bumps {stats.bumps}",
            flush=True,
        )

    stats = collect(
        p, cfg.vehicle, cfg.seed, p.out, progress=progress, progress_every=max(10, min(5000, p.steps // 20))
    )
    print(
        f"wrote {stats.frames} frames in {stats.episodes} episodes ({stats.bumps} bumps) to {p.out} "
        f"({stats.frames_per_second:.0f} frames/s, {stats.seconds:.0f} s)"
    )
    return 0


def _pretrain_train(cfg: Config) -> int:
    """Offline goal-conditioned IQL over a prior dataset; writes encoder.pt and metrics.csv."""
    from fastrlap.agent.encoder import EncoderSpec, resolve_device
    from fastrlap.pretrain.train import train

    device = resolve_device(cfg.device)
    spec = EncoderSpec(frame_size=cfg.agent.frame_size, frame_stack=cfg.agent.frame_stack)
    q = cfg.iql
    print(f"IQL on {q.data} for {q.steps} steps (batch {q.batch_size}) on {device}; writing {q.out}/", flush=True)
    result = train(q, spec, device, cfg.seed, progress=lambda line: print(line, flush=True))
    m = result.metrics
    print(
        f"{'stopped' if result.stopped else 'done'}: {result.steps} steps in {result.seconds:.0f} s"
        + (f", q_loss {m['q_loss']:.4f}, v_loss {m['v_loss']:.4f}" if m else "")
        + f"; encoder in {result.encoder_path} (use it: agent.encoder={result.encoder_path}; ship it: copy to "
        f"fastrlap/assets/encoder.pt)"
    )
    return 130 if result.stopped else 0


def _pretrain_recycle(cfg: Config) -> int:
    """Re-initialise the encoder's dormant last-layer channels (pretrain/recycle.py)."""
    from fastrlap.agent.encoder import EncoderSpec, resolve_device
    from fastrlap.pretrain.recycle import recycle_file

    q = cfg.iql
    spec = EncoderSpec(frame_size=cfg.agent.frame_size, frame_stack=cfg.agent.frame_stack)
    out = Path(q.out) / "encoder.pt"
    report = recycle_file(
        q.src or None, q.data, out, q.recycle_tau, q.recycle_frames, cfg.seed, spec, resolve_device(cfg.device)
    )
    print(
        f"{len(report.channels)} of {len(report.scores)} last-layer channels dormant on {report.frames} frames of "
        f"{q.data} (activity <= {report.tau}) and re-initialised: {report.channels}; encoder in {out} "
        f"(use it: agent.encoder={out}; ship it: copy to fastrlap/assets/encoder.pt)"
    )
    return 0


def _pretrain_import_recon(cfg: Config) -> int:
    """RECON HDF5 trajectories -> a prior dataset that `pretrain train` reads."""
    from fastrlap.pretrain.recon import iter_recon
    from fastrlap.pretrain.shards import write_trajectories

    p = cfg.pretrain
    if not p.src:
        raise FastrlapError("pretrain import-recon needs src=DIR, the folder of RECON's jackal_*.hdf5 files")
    frames = write_trajectories(
        p.out,
        iter_recon(p.src, size=cfg.agent.frame_size),
        ["recon"],
        p.frames_per_shard,
        meta={
            "source": "recon",
            "recon_folder": str(p.src),
            "seed": cfg.seed,
            "control_hz": 3.0,
            "cameras": [{"noise_std": 0.0}],
        },
    )
    print(f"wrote {frames} RECON frames to {p.out}; train on them with `fastrlap pretrain train data={p.out}`")
    return 0


def _doctor(cfg: Config) -> int:
    """Check the car's parts one by one; each problem is printed with its fix."""
    from fastrlap.vehicle.doctor import check_camera, check_link, check_pose

    kind = cfg.vehicle.kind
    if kind not in ("real", "hil"):
        raise FastrlapError(
            f"doctor checks a car: use vehicle=real (or vehicle=hil for the simulated board), not vehicle={kind}"
        )
    if kind == "hil":
        from fastrlap.sim.track import load_track
        from fastrlap.vehicle.hil import HilRig

        with HilRig(cfg.vehicle, load_track(cfg.track), seed=cfg.seed) as rig:
            rc = rig.host_config()
            checks = check_link(rc) + [check_camera(rig.camera()), check_pose(rc)]
    else:
        from fastrlap.vehicle.camera import Camera

        rc = cfg.vehicle.real
        cam = cfg.vehicle.sim.camera
        camera = Camera(
            rc.camera.source, width=cam.width, height=cam.height, stale_after=rc.camera.stale_after, fps=rc.camera.fps
        )
        checks = check_link(rc) + [check_camera(camera), check_pose(rc)]
    for check in checks:
        print(check.line())
    failed = [c.name for c in checks if c.status == "fail"]
    warned = sum(c.status == "warn" for c in checks)
    print(
        f"{len(checks)} checks: {len(checks) - len(failed) - warned} ok, {warned} warning{'' if warned == 1 else 's'}, {len(failed)} failed"
        + (f" (fix: {', '.join(failed)})" if failed else "")
    )
    return 1 if failed else 0


def _learner_serve(cfg: Config) -> int:
    from fastrlap.remote.server import serve

    return serve(cfg)


def _hil_serve(cfg: Config) -> int:
    """Run the simulated board and car at `vehicle.hil.attach` until Ctrl-C or SIGTERM, for
    commands in other processes to attach to with the same setting: the simulated car then
    outlives a host that crashes or is killed, as a real car outlives its laptop."""
    import time

    from fastrlap.sim.track import load_track
    from fastrlap.vehicle.hil import HilRig, RigServer

    if cfg.vehicle.kind != "hil":
        raise FastrlapError(f"hil serve runs the simulated board: add vehicle=hil (not vehicle={cfg.vehicle.kind})")
    address = cfg.vehicle.hil.attach
    if not address:
        raise FastrlapError(
            "hil serve needs the socket to serve on: vehicle.hil.attach=/tmp/rig.sock (the commands "
            "that drive the rig are given the same path)"
        )
    with HilRig(cfg.vehicle, load_track(cfg.track), seed=cfg.seed) as rig:
        try:
            server = RigServer(rig, address).start()
        except OSError as exc:
            raise FastrlapError(
                f"cannot serve on {address} ({exc.strerror}): pick another path, or delete it if no rig runs there"
            ) from None
        print(
            f"hil rig: {rig.track.name}, firmware on {rig.board.link}; drive it with vehicle=hil "
            f"vehicle.hil.attach={address} track={rig.track.name}",
            flush=True,
        )
        try:
            while True:
                time.sleep(0.5)
        except KeyboardInterrupt:
            print("hil rig: stopped", flush=True)
        finally:
            server.close()
    return 0


# What `--help` lists per command: the keys its code reads (vehicle= switches simulator and car).
_RUN = ("track", "seed", "run_dir")
_LEARNER = ("device", "agent")
_PRETRAIN_NET = ("seed", "device", "agent.frame_size", "agent.frame_stack", "iql")

COMMANDS: dict[str, Subcommand] = {
    c.name: c
    for c in [
        Subcommand(
            "sim view",
            "Write a first-person PNG and an MP4 of a scripted lap of a track.",
            _sim_view,
            settings=("track", "seed", "vehicle", "view"),
        ),
        Subcommand(
            "record-demo",
            "Record one slow demo lap into a new run directory and extract its checkpoints.",
            _record_demo,
            settings=(*_RUN, "force", "teleop", "vehicle", "course", "gamepad"),
        ),
        Subcommand(
            "checkpoints extract",
            "Extract a run's checkpoints again from its demo lap (the old checkpoints.json is kept aside).",
            _checkpoints_extract,
            settings=("run_dir",),
        ),
        Subcommand(
            "checkpoints show",
            "Draw a run's demo path and checkpoints to checkpoints.png.",
            _checkpoints_show,
            settings=("run_dir",),
        ),
        Subcommand(
            "practice",
            "Practise autonomously after the demo lap (records the demo first if the run has none); "
            "-m runs one practice per combination of swept values (-m track=oval,technical seed=0,1).",
            _practice,
            settings=(
                *_RUN,
                "resume",
                "teleop",
                *_LEARNER,
                "vehicle",
                "course",
                "practice",
                "wandb",
                "gamepad",
                "console",
                "learner",
                "learner_link",
            ),
        ),
        Subcommand(
            "evaluate",
            "Drive laps=N timed laps of a run with its learned policy, no learning, on the "
            "vehicle the run was recorded with: without vehicle= it drives in the simulator; vehicle=real "
            "drives the car on the wall clock (RC override, e-stop and recovery stay active), vehicle=hil the "
            "simulated board. Writes evaluation.csv.",
            _evaluate,
            settings=(*_RUN, "laps", *_LEARNER, "vehicle", "practice.max_ticks"),
        ),
        Subcommand(
            "learner serve",
            "Run the learner for cars that practise with learner=tcp://HOST:PORT (bind=ADDRESS "
            "run_dir=DIR device=auto); creates the shared key on first start.",
            _learner_serve,
            section="learner_link",
            settings=(
                "run_dir",
                "seed",
                "device",
                "agent",
                "practice.start_training",
                "practice.checkpoint_seconds",
                "learner_link",
            ),
        ),
        Subcommand(
            "report",
            "Write lap-time figures (PNG) and report.md into a run directory; compare=[dirs] adds other runs.",
            _report,
            settings=("run_dir", "compare"),
        ),
        Subcommand(
            "console",
            "Open the field console's page for a finished run (replay of laps, events and paths; read-only).",
            _console,
            settings=("run_dir", "console"),
        ),
        Subcommand(
            "doctor",
            "Check the car (vehicle=real) or the simulated board (vehicle=hil): port, firmware, "
            "telemetry, camera, pose source.",
            _doctor,
            settings=("track", "seed", "vehicle"),
        ),
        Subcommand(
            "hil serve",
            "Run the simulated board and car (vehicle=hil) at vehicle.hil.attach=SOCKET until "
            "Ctrl-C, for record-demo, practice, evaluate and doctor to attach to with the same setting.",
            _hil_serve,
            settings=("track", "seed", "vehicle"),
        ),
        Subcommand(
            "pretrain collect",
            "Drive the prior environments slowly toward random goals and write the prior "
            "dataset (envs=[...] steps=N out=DIR).",
            _pretrain_collect,
            section="pretrain",
            settings=("seed", "vehicle", "pretrain"),
        ),
        Subcommand(
            "pretrain train",
            "Pretrain the visual encoder with offline goal-conditioned IQL on a prior dataset "
            "(data=DIR steps=N out=DIR).",
            _pretrain_train,
            section="iql",
            settings=_PRETRAIN_NET,
        ),
        Subcommand(
            "pretrain recycle",
            "Re-initialise the encoder's dormant last-layer channels, measured on a prior "
            "dataset (src=WEIGHTS data=DIR out=DIR).",
            _pretrain_recycle,
            section="iql",
            settings=_PRETRAIN_NET,
        ),
        Subcommand(
            "pretrain import-recon",
            "Convert the public RECON dataset's HDF5 files into a prior dataset (src=DIR out=DIR).",
            _pretrain_import_recon,
            section="pretrain",
            settings=("seed", "agent.frame_size", "pretrain.src", "pretrain.out", "pretrain.frames_per_shard"),
        ),
    ]
}


def compose(overrides: list[str]) -> Config:
    """Build the typed config from configs/ plus command-line overrides (`compose_tree`); on an
    existing run directory, the run's own config under those overrides."""
    cfg = compose_tree(overrides)
    resume, run_dir = cfg.get("resume"), cfg.get("run_dir")
    if resume or (run_dir and (Path(run_dir) / "config.yaml").is_file()):
        return _run_config(cfg, overrides, resume or run_dir)
    return to_typed(cfg)


def _run_config(composed, overrides: list[str], folder: str) -> Config:
    """A command on an existing run continues with the config the run was started with, and its
    own track: a policy is only meaningful where its demo was recorded. Other command-line values
    win; a `track=` or `vehicle=` naming another track or vehicle is refused, since it would
    silently drive (or draw) the run somewhere it never was."""
    from omegaconf import OmegaConf

    from fastrlap.practice.run import RunDir, load_run_config
    from fastrlap.sim.track import track_data

    run = RunDir(Path(folder))
    if not run.config.is_file():
        raise FastrlapError(
            f"{run.config} not found: {folder} is not a run directory to resume; pass the folder practice printed"
        )
    given = dict(o.split("=", 1) for o in overrides if "=" in o and not o.startswith(("+", "~")))
    explicit = OmegaConf.create()
    for key in given:
        if key not in ("vehicle", "track"):
            OmegaConf.update(explicit, key, OmegaConf.select(composed, key), merge=True)
    cfg = load_run_config(run, explicit)
    saved = load_run_config(run)
    if cfg.vehicle.kind != saved.vehicle.kind or given.get("vehicle", saved.vehicle.kind) != saved.vehicle.kind:
        raise FastrlapError(
            f"{run.path} was recorded with vehicle={saved.vehicle.kind}; leave vehicle= out, or "
            f"start a new run directory for vehicle={given.get('vehicle', cfg.vehicle.kind)}"
        )
    if "track" in given and saved.vehicle.kind != "real" and track_data(given["track"]) != track_data(cfg.track):
        raise FastrlapError(
            f"track={given['track']} is not the track {run.path} was recorded on ({cfg.track}); "
            f"leave track= out to use the run's own, or start a new run directory for that track"
        )
    return cfg


def usage() -> str:
    width = max(len(n) for n in COMMANDS)
    lines = [
        "usage: fastrlap <command> [key=value ...]",
        "",
        "Learn to race an RC car from its own camera (FastRLAP). Commands:",
    ]
    lines += [f"  {name:<{width}}  {c.summary}" for name, c in COMMANDS.items()]
    lines += [
        "",
        "Settings follow the command as key=value, e.g. `fastrlap sim view track=hairpin seed=3`;",
        "`fastrlap <command> --help` lists them with their values and meanings, `--cfg` prints the",
        "composed configuration as YAML. `fastrlap --version` prints the version.",
    ]
    return "\n".join(lines)


def command_help(command: Subcommand, cfg: Config) -> str:
    """`fastrlap <command> --help`: what it does and the settings it reads, with their values."""
    lines = [
        f"usage: fastrlap {command.name} [key=value ...] [--cfg]",
        "",
        command.summary,
        "",
        "Settings (key=value after the command; values as composed with the overrides given):",
        settings_table(cfg, command.settings),
    ]
    if command.section:
        lines += ["", f"Keys under {command.section}. may be given bare (steps=N for {command.section}.steps=N)."]
    lines += ["", f"Config tree: {Path(config_dir())}; vehicle= chooses {', '.join(config_groups()['vehicle'])}."]
    return "\n".join(lines)


def _scoped(command: Subcommand, overrides: list[str]) -> list[str]:
    """`key=value` for a field of the command's config section becomes `section.key=value`."""
    if not command.section:
        return overrides
    from dataclasses import fields

    section_type = {f.name: f for f in fields(Config)}[command.section].default_factory
    names = {f.name for f in fields(section_type())}
    return [f"{command.section}.{o}" if o.split("=", 1)[0] in names else o for o in overrides]


def _split(argv: list[str]) -> tuple[Subcommand | None, list[str]]:
    for words in (2, 1):
        name = " ".join(argv[:words])
        if len(argv) >= words and name in COMMANDS:
            return COMMANDS[name], argv[words:]
    return None, argv


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except BrokenPipeError:
        # `fastrlap practice --help | head`: the reader left; say nothing more (and no traceback
        # when Python flushes stdout at exit).
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if argv[0] in ("-V", "--version"):
        print(f"fastrlap {__version__}")
        return 0
    command, args = _split(argv)
    if command is None:
        print(f"fastrlap: unknown command {' '.join(argv[:2])!r}; run `fastrlap --help` for the list", file=sys.stderr)
        return 2
    with StopSignals() as stops:  # from here on, Ctrl-C is one line and a status, never a traceback
        try:
            code = _configure_and_run(command, args)
        except FastrlapError as e:
            print(f"fastrlap {command.name}: {e}", file=sys.stderr)
            code = 2 if isinstance(e, ConfigError) else 1
        except KeyboardInterrupt:
            print(f"fastrlap {command.name}: interrupted", file=sys.stderr)
            code = 130
        return stops.exit_code(code)


def _configure_and_run(command: Subcommand, args: list[str]) -> int:
    """Compose and check the settings, then `--help`, `--cfg`, or run the command."""
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    options, overrides = split_options(args)
    if "multirun" in options and not options & {"help", "cfg"}:
        return _multirun(command, overrides)
    try:
        cfg = compose(_scoped(command, overrides))
    except (HydraException, OmegaConfBaseException) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"bad override ({first}); see `fastrlap {command.name} --help`") from None
    if "help" in options:
        print(command_help(command, cfg))
    elif "cfg" in options:
        print(OmegaConf.to_yaml(OmegaConf.structured(cfg)), end="")
    else:
        return int(command.run(cfg) or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
