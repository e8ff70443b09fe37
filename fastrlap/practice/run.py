"""The run directory (formats in docs/design.md): `runs/<date>-<time>-<name>/` and the files in it.

Every command of one practice session reads and writes the same folder, so the paths are named
once here. `config.yaml` holds the resolved config the run was started with, and `track.yaml` a
copy of the simulator track it drives (vehicle=sim and hil): the folder alone says where the
policy was trained, so a later command can neither drive it on another track by default nor lose
the track when the original file is edited, moved or never copied to another machine.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from fastrlap.config import Config, to_typed, upgrade_keys
from fastrlap.errors import ConfigError, FastrlapError
from fastrlap.storage import AppendLog, TornTail, atomic_write, atomic_write_text, complete_lines
from fastrlap.types import LapRow


class RunDirError(FastrlapError):
    """A run directory that cannot be created or does not hold what a command needs."""


@dataclass(frozen=True)
class RunDir:
    path: Path

    @property
    def config(self) -> Path:
        return self.path / "config.yaml"

    @property
    def demo(self) -> Path:
        return self.path / "demo.npz"

    @property
    def demo_partial(self) -> Path:
        """Where an interrupted or rejected demo is kept (never read as a demo by mistake)."""
        return self.path / "demo.partial.npz"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints.json"

    @property
    def checkpoints_png(self) -> Path:
        return self.path / "checkpoints.png"

    @property
    def track(self) -> Path:
        """The run's own copy of its simulator track (absent on a real course)."""
        return self.path / "track.yaml"


def safe_name(name: str) -> str:
    """A file-name-safe run name: a track given as a path becomes its stem."""
    stem = Path(name).stem if ("/" in name or name.endswith((".yaml", ".yml"))) else name
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-.") or "run"


def new_run_dir(root: str | Path, name: str, now: datetime | None = None) -> RunDir:
    """Create `root/<YYYYmmdd>-<HHMMSS>-<name>/`; a second run in the same second gets a suffix."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{stamp}-{safe_name(name)}"
    path, n = base, 1
    while True:
        try:
            path.mkdir(parents=True, exist_ok=False)
            return RunDir(path)
        except FileExistsError:
            n += 1
            path = base.with_name(f"{base.name}-{n}")
        except OSError as e:
            raise RunDirError(
                f"{path}: cannot create the run directory ({e.strerror}); choose another with run_dir=PATH"
            ) from None


def open_run_dir(path: str | Path, create: bool = False) -> RunDir:
    """An existing run directory (or a new one at an explicit `path` when `create`)."""
    p = Path(path)
    if create:
        try:
            p.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RunDirError(
                f"{p}: cannot create the run directory ({e.strerror}); choose another with run_dir=PATH"
            ) from None
    elif not p.is_dir():
        raise RunDirError(
            f"{p}: no such run directory; pass the folder `fastrlap record-demo` created, "
            f"e.g. run_dir=runs/<date>-<time>-<track>"
        )
    return RunDir(p)


def save_config(run: RunDir, cfg: Config) -> Path:
    """Write the resolved config as YAML (what the run was started with, overrides included)."""
    atomic_write_text(run.config, OmegaConf.to_yaml(OmegaConf.structured(cfg), resolve=True))
    return run.config


def keep_aside(path: Path, now: datetime | None = None) -> Path | None:
    """Rename `path` to `<stem>.<YYYYmmdd-HHMMSS><suffix>` beside it before it is replaced, so
    re-recording or re-extracting never destroys the previous file; None when there is none."""
    if not path.exists():
        return None
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    aside, n = path.with_name(f"{path.stem}.{stamp}{path.suffix}"), 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.stem}.{stamp}-{n}{path.suffix}")
    try:
        path.rename(aside)
    except OSError as e:
        raise RunDirError(
            f"{path}: cannot keep it aside as {aside.name} ({e.strerror}); check the folder's permissions"
        ) from None
    return aside


def save_track(run: RunDir, source: str | Path) -> Path:
    """Copy the track file the run drives into the run directory (atomically; a no-op when the
    run already drives its own copy)."""
    src = Path(source)
    if run.track.exists() and src.resolve() == run.track.resolve():
        return run.track
    try:
        data = src.read_bytes()
    except OSError as e:
        raise RunDirError(
            f"{run.track}: cannot store the run's copy of {src} ({e.strerror}); check that the "
            f"track file exists and is readable"
        ) from None
    return atomic_write(run.track, lambda f: f.write(data))


def load_run_config(run: RunDir, overrides: DictConfig | None = None) -> Config:
    """The typed config a run was started with, `overrides` (a partial config) on top.

    `track` becomes the run's own track.yaml where there is one, so every command on the run
    drives (and draws) the track the demo was recorded on."""
    if not run.config.is_file():
        raise RunDirError(
            f"{run.config} not found: {run.path} is not a run directory; pass the folder "
            f"record-demo or practice printed"
        )
    try:
        saved = upgrade_keys(OmegaConf.to_container(OmegaConf.load(run.config)))
        merged = OmegaConf.merge(OmegaConf.structured(Config), saved, overrides if overrides is not None else {})
        cfg = to_typed(merged)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise RunDirError(
            f"{run.config}: unreadable ({type(e).__name__}); restore it from a copy of the run or start a new run"
        ) from None
    except ConfigError as e:  # a value out of range: the file was edited or damaged
        raise RunDirError(f"{run.config}: {e}; fix that value or start a new run") from None
    except OmegaConfBaseException as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise RunDirError(f"{run.config}: not a valid run config ({first}); fix that key or start a new run") from None
    if run.track.is_file():
        cfg.track = str(run.track)
    return cfg


# ---------------------------------------------------------------------------------------------
# Practice logs: laps.csv, events.jsonl, summary.json, learner checkpoints (formats in docs/design.md)


def laps_path(run: RunDir) -> Path:
    return run.path / "laps.csv"


def events_path(run: RunDir) -> Path:
    return run.path / "events.jsonl"


def summary_path(run: RunDir) -> Path:
    return run.path / "summary.json"


def agent_dir(run: RunDir) -> Path:
    return run.path / "agent"


def replay_dir(run: RunDir) -> Path:
    return run.path / "replay"


def trajectories_path(run: RunDir) -> Path:
    """Per-tick poses and speeds of practice, for plots (appended as compressed chunks)."""
    return run.path / "trajectories"


@dataclass(frozen=True)
class RunSummary:
    """summary.json: where a practice run stands, rewritten as it goes and at its end.

    Fields are None where a file read back lacks them or holds something unusable (an older or
    hand-edited file); a session always writes every one of them, and the oracle's two keys only
    when the oracle's lap time is known, as summary.json always has.
    """

    demo_lap_s: float | None = None
    first_lap_practice_min: float | None = None  # min of practice when the first lap ended
    best_lap_s: float | None = None
    laps: int | None = None
    collisions: int | None = None
    recoveries: int | None = None
    practice_min: float | None = None
    ticks: int | None = None
    critic_updates: int | None = None
    replay_size: int | None = None  # transitions in the replay buffer
    wall_s_this_session: float | None = None
    oracle_lap_s: float | None = None

    @property
    def best_over_oracle(self) -> float | None:
        if self.best_lap_s is None or not self.oracle_lap_s:
            return None
        return self.best_lap_s / self.oracle_lap_s

    def to_json(self) -> str:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "oracle_lap_s"}
        if self.oracle_lap_s is not None:
            data.update(oracle_lap_s=self.oracle_lap_s, best_over_oracle=self.best_over_oracle)
        return json.dumps(data, indent=1)

    @staticmethod
    def from_json(data: object) -> RunSummary:
        """Whatever of a parsed summary.json is usable: a count must be an integer, a time a finite
        number; anything else (missing, null, text, NaN) reads as None."""
        if not isinstance(data, dict):
            return RunSummary()
        values = {}
        for f in fields(RunSummary):
            v = data.get(f.name)
            if "int" in str(f.type):
                values[f.name] = v if isinstance(v, int) and not isinstance(v, bool) else None
            else:
                ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                values[f.name] = float(v) if ok else None
        return RunSummary(**values)


class RunLog:
    """Appends laps and events as they happen (fsync'd: a kill -9 loses nothing already logged)
    and rewrites summary.json atomically. A torn last line a crash left in either log is cut off
    on opening; `torn` lists what was dropped, for the session to report."""

    def __init__(self, run: RunDir) -> None:
        self.run = run
        self._laps = AppendLog(laps_path(run), header=",".join(LapRow.columns()))
        self._events = AppendLog(events_path(run))
        self.torn: list[TornTail] = [log.torn for log in (self._laps, self._events) if log.torn is not None]

    def lap(self, row: LapRow) -> None:
        self._laps.append(row.csv_line())

    def event(self, t: float, kind: str, **data) -> None:
        self._events.append(json.dumps({"t": round(float(t), 4), "event": kind, **data}))

    def summary(self, summary: RunSummary) -> None:
        atomic_write_text(summary_path(self.run), summary.to_json())

    def close(self) -> None:
        self._laps.close()
        self._events.close()


def read_laps(run: RunDir) -> list[LapRow]:
    """Rows of laps.csv; a torn last line from a crash is ignored."""
    return read_laps_checked(run)[0]


def read_laps_checked(run: RunDir) -> tuple[list[LapRow], int]:
    """Rows of laps.csv and how many complete rows could not be parsed (damaged bytes): those
    are skipped, and a resume reports the count. A torn last line is not a row."""
    rows, bad = [], 0
    for rec in csv.DictReader(complete_lines(laps_path(run))):
        try:
            rows.append(LapRow.from_csv(rec))
        except (TypeError, ValueError, KeyError):
            bad += 1
    return rows, bad
