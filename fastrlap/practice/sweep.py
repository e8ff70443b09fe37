"""Sweeps: one practice run per combination of values (`fastrlap practice -m track=oval,technical seed=0,1`).

Hydra expands the sweep and a Hydra launcher plugin runs the jobs: joblib's pool of processes on
this machine by default (`hydra/launcher=joblib`, `hydra.launcher.n_jobs=N`), or Ray or SLURM
through submitit on a cluster (`hydra/launcher=ray`, `hydra/launcher=submitit_slurm`, from the
`cluster` extra). Each job practises in its own run directory under the sweep folder, named from
the track's name and the swept values (`0_oval_seed0`: a track given as a path gives its name,
never its folders), writes its output to practice.log and its result to job.json there, and
the sweep folder gets summary.jsonl, one line per job: its overrides, status and one-line error,
and the figures of practice/results.py (laps included, so the line is a benchmark result that
scripts/compare_encoders.py and results_table.py read as it is). A job that fails records its
error and the others carry on: a sweep of hours is not lost to one bad value.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from fastrlap.config import Config, config_dir, config_groups, register_configs, to_typed
from fastrlap.errors import ConfigError, FastrlapError
from fastrlap.practice.results import run_figures
from fastrlap.practice.run import RunDir, safe_name, summary_path
from fastrlap.settings import check_overrides
from fastrlap.sim.track import track_name
from fastrlap.storage import atomic_write_text

SWEEPS_ROOT = Path("runs") / "multirun"
SUMMARY_FILE = "summary.jsonl"
JOB_FILE = "job.json"
LOG_FILE = "practice.log"
_RESOLVER = "fastrlap_job_dir"
ALREADY_DONE = "this track, seed and encoder were practised already"

# What every job gets unless the command line says otherwise: jobs side by side share the cores
# (one torch thread each) and one terminal (no live view, no keyboard e-stop reading it).
JOB_DEFAULTS = {"practice.torch_threads": "1", "practice.dashboard": "false", "practice.estop_key": "false"}
# Hydra's own logging config would write a second log file per job; practice.log holds the output.
LAUNCH_DEFAULTS = {"hydra/launcher": "joblib", "hydra/job_logging": "none"}


@dataclass(frozen=True)
class Sweep:
    """A finished sweep: its folder and one record per job (the lines of its summary.jsonl)."""

    folder: Path
    jobs: list[dict]

    @property
    def failed(self) -> list[dict]:
        return [j for j in self.jobs if j["status"] != "ok"]


def job_dir_name(num: int, track: str, overrides: list[str], swept: list[str]) -> str:
    """`<n>_<track name>_<swept values>`, e.g. `0_oval_seed0` or `3_oval_encoder-random`: the job
    number keeps names unique; the track's name (not the path it was given as) and each swept
    value (a path by its file's stem) make it readable."""
    given = dict(o.split("=", 1) for o in overrides if "=" in o)
    parts = [safe_name(track_name(track))]
    for key in (k for k in swept if k != "track" and k in given):
        value = safe_name(given[key])
        parts.append(key.rsplit(".", 1)[-1] + ("" if value[:1].isdigit() else "-") + value)
    return f"{num}_" + "_".join(parts)


def _job_dir(num, *swept, _root_: DictConfig) -> str:
    return job_dir_name(int(num), str(_root_.track), list(_root_.hydra.overrides.task), list(swept))


# Registered on import: a launcher's worker process resolves the job's folder name, and imports
# this module (to run `_job`) before it does.
if not OmegaConf.has_resolver(_RESOLVER):
    OmegaConf.register_new_resolver(_RESOLVER, _job_dir)


def _split(overrides: list[str]) -> tuple[list[str], list[str]]:
    """(Hydra's own overrides: launcher, sweep folder..., the settings of the runs)."""
    own = [o for o in overrides if o.lstrip("+~").startswith(("hydra.", "hydra/"))]
    return own, [o for o in overrides if o not in own]


def _key(override: str) -> str:
    return override.split("=", 1)[0]


def swept_keys(settings: list[str]) -> list[str]:
    """The keys given several values (`seed=0,1`, `seed=range(0,3)`), in command-line order."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    return [o.key_or_group for o in parser.parse_overrides(settings) if o.is_sweep_override()]


def _sweep_folder(hydra_overrides: list[str]) -> Path:
    """`hydra.sweep.dir=` when given, else a new runs/multirun/<date>/<time>/ (fixed here, once:
    each job resolving `now` itself could land in another second's folder)."""
    given = [o.split("=", 1)[1] for o in hydra_overrides if _key(o) == "hydra.sweep.dir"]
    if given:
        return Path(given[-1])
    now = datetime.now()
    base = SWEEPS_ROOT / now.strftime("%Y-%m-%d") / now.strftime("%H-%M-%S")
    folder, n = base, 1
    while folder.exists():
        n += 1
        folder = base.with_name(f"{base.name}-{n}")
    return folder


def multirun(
    command: Callable[[Config], object],
    overrides: list[str],
    deadline: float | None = None,
    done: Collection[tuple[str, int, str]] = (),
) -> Sweep:
    """Run `command` (practice) once per combination of the swept values in `overrides`, through
    Hydra's sweeper and launcher; returns the sweep once every job has ended.

    `deadline` (a Unix time) stops jobs still practising then as Ctrl-C would (they save and
    report how far they got) and starts none after it: for benchmarks with a wall-clock budget.
    `done` holds (track name, seed, encoder) combinations that are skipped without practising
    (finished earlier): a benchmark continued after an interruption runs only what it lacks,
    although a sweep can only ask for whole products of values."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    own, settings = _split(overrides)
    for key in ("run_dir", "resume"):
        if any(_key(o) == key for o in settings):
            raise ConfigError(
                f"{key}= cannot be swept or shared: each job of a sweep practises in its own new run "
                f"directory under the sweep folder (hydra.sweep.dir=)"
            )
    check_overrides(settings, Config, config_groups(), sweeps=True)
    swept = swept_keys(settings)
    settings = [f"{k}={v}" for k, v in JOB_DEFAULTS.items() if k not in map(_key, settings)] + settings
    # Absolute, and each job works in this folder: a launcher's worker started earlier, or on
    # another host, may stand elsewhere, and relative paths (track=, the sweep folder) are the user's.
    folder, cwd = _sweep_folder(own).absolute(), os.getcwd()
    names = ",".join(["${hydra.job.num}", *swept])
    own = (
        [f"{k}={v}" for k, v in LAUNCH_DEFAULTS.items() if k not in map(_key, own)]
        + [o for o in own if _key(o) != "hydra.sweep.dir"]
        # the subdir quoted: Hydra's override grammar does not take a nested interpolation bare
        + [f"hydra.sweep.dir={folder}", f"hydra.sweep.subdir='${{{_RESOLVER}:{names}}}'"]
    )
    register_configs()
    GlobalHydra.instance().clear()
    job = partial(_job, command, deadline, frozenset(done), cwd)
    with initialize_config_dir(config_dir=str(config_dir()), job_name="practice", version_base=None):
        batches = GlobalHydra.instance().hydra.multirun(
            config_name="config", task_function=job, overrides=[*settings, *own]
        )
    jobs = sorted((r.return_value for batch in batches for r in batch), key=lambda j: j["job"])
    atomic_write_text(folder / SUMMARY_FILE, "".join(json.dumps(j) + "\n" for j in jobs))
    return Sweep(folder, jobs)


def _job(
    command: Callable[[Config], object],
    deadline: float | None,
    done: frozenset[tuple[str, int, str]],
    cwd: str,
    cfg: DictConfig,
) -> dict:
    """One job, in the launcher's worker: practise in the job's folder, never raise (Hydra's
    sweeper would stop the whole sweep at a failed job), and leave job.json behind."""
    before = os.getcwd()
    os.chdir(cwd)
    try:
        return _record_job(command, deadline, done, cfg)
    finally:
        os.chdir(before)


def _record_job(
    command: Callable[[Config], object],
    deadline: float | None,
    done: frozenset[tuple[str, int, str]],
    cfg: DictConfig,
) -> dict:
    from hydra.core.hydra_config import HydraConfig

    hydra = HydraConfig.get()
    run_dir = Path(hydra.runtime.output_dir)
    record = {
        "job": int(hydra.job.num),
        "overrides": list(hydra.overrides.task),
        "run_dir": str(run_dir),
        "track": track_name(str(cfg.track)),
        "seed": int(cfg.seed),
        "encoder": str(cfg.agent.encoder),
    }
    if (record["track"], record["seed"], record["encoder"]) in done:
        record.update(status="skipped", error=ALREADY_DONE)
    else:
        with open(run_dir / LOG_FILE, "a") as log, redirect_stdout(log), redirect_stderr(log):
            record.update(_practise(command, cfg, run_dir, deadline))
    if summary_path(RunDir(run_dir)).is_file():  # practice got as far as driving
        record.update(run_figures(run_dir))
    atomic_write_text(run_dir / JOB_FILE, json.dumps(record) + "\n")
    return record


def _practise(command: Callable[[Config], object], cfg: DictConfig, run_dir: Path, deadline: float | None) -> dict:
    """{"status": ok | failed | stopped | interrupted | skipped, "error": one line or None}."""
    if deadline is not None and time.time() >= deadline:
        return {"status": "skipped", "error": "the sweep's deadline passed before this job started"}
    fired = threading.Event()
    try:
        typed = replace(to_typed(cfg), run_dir=str(run_dir))
        with _stop_at(deadline, fired):
            command(typed)
    except FastrlapError as e:
        print(f"fastrlap practice: {e}")
        return {"status": "failed", "error": str(e)}
    except KeyboardInterrupt:
        return {"status": "stopped" if fired.is_set() else "interrupted", "error": None}
    except Exception as e:  # a bug in one job must not sink the sweep: its traceback goes to practice.log
        traceback.print_exc()
        lines = str(e).strip().splitlines()
        return {"status": "failed", "error": f"{type(e).__name__}: {lines[0] if lines else ''}"}
    return {"status": "stopped" if fired.is_set() else "ok", "error": None}


@contextmanager
def _stop_at(deadline: float | None, fired: threading.Event) -> Iterator[None]:
    """Ctrl-C (SIGINT to this process's main thread) at the Unix time `deadline`: practice ends as
    it does on Ctrl-C, saving everything, so the job still reports how far it got. A real signal,
    not a flag, so a main thread asleep in a system call wakes; SIGINT raises KeyboardInterrupt
    meanwhile even where the launcher's worker started with it ignored. The lock keeps the signal
    from being sent once the block is left."""
    if deadline is None:
        yield
        return
    lock, done = threading.Lock(), []
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.default_int_handler) if in_main else None

    def stop() -> None:
        with lock:
            if not done:
                fired.set()
                signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    timer = threading.Timer(max(0.0, deadline - time.time()), stop)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        with lock:
            done.append(True)
        timer.cancel()
        if in_main:
            signal.signal(signal.SIGINT, previous)


def describe(job: dict) -> str:
    """One line per job for the terminal."""

    def f(v, unit):
        return "-" if v is None else f"{v:.2f} {unit}"

    head = f"#{job['job']} {Path(job['run_dir']).name}: {job['status']}"
    if job["status"] in ("failed", "skipped"):
        return f"{head}: {job['error']}"
    return (
        f"{head} | T2F {f(job.get('t2f_min'), 'min')} | best lap {f(job.get('best_lap_s'), 's')} | "
        f"oracle {f(job.get('oracle_lap_s'), 's')} | laps {job.get('laps', 0)}"
    )
