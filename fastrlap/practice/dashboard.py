"""What the user watches during practice: a live terminal view, plain log lines, and wandb.

The loop and the learner return numbers; this module decides where they go, so no computation prints. On a
terminal the view is a `rich` live panel; when stdout is not a terminal (CI, a service, a pipe)
it prints one plain line every `every_s` seconds instead. wandb runs offline by default (files in
the run directory, upload later with `wandb sync`); `wandb.mode=disabled` turns it off.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict
from pathlib import Path

from fastrlap.config import WandbConfig
from fastrlap.practice.keys import HELP, KeyReader
from fastrlap.practice.live_state import LiveState
from fastrlap.types import LapRow


class Dashboard:
    """Shows the run's `LiveState` (practice/live_state.py, the figures the field console shows
    too). `keys`, when given and reading the terminal, adds the e-stop key to the view. Whoever
    holds the car (space key or console) shows with the line that says how to continue; a change
    of the e-stop or of the serial link shows at once, not at the next throttled refresh."""

    def __init__(self, live: bool | None = None, every_s: float = 10.0, keys: KeyReader | None = None) -> None:
        self.every_s = every_s
        self.keys = keys
        self._shown_stop = ""
        self.live = sys.stdout.isatty() if live is None else live
        self._last_print = -1e9
        self._rich = None
        if self.live:
            from rich.live import Live

            self._rich = Live(auto_refresh=False, transient=False)
            self._rich.start()

    def status(self, s: LiveState) -> dict[str, str]:
        last = f"{s.lap_times[-1]:.2f} s" if s.lap_times else "-"
        best = f"{s.best_lap:.2f} s" if s.best_lap is not None else "-"
        return {
            "mode": s.mode.value,
            "laps": str(s.laps),
            "last lap": last,
            "best lap": best,
            "speed": f"{s.speed:.1f} m/s",
            "collisions": str(s.collisions),
            "updates/s": f"{s.updates_per_s:.0f}",
            "buffer": str(s.buffer),
            "practice": f"{s.practice_time / 60:.2f} / {s.total_time / 60:.1f} min",
            **({"keys": HELP} if self.keys is not None and self.keys.enabled else {}),
            **({"e-stop": s.estop} if s.estop else {}),
            **({"link": s.link} if s.link else {}),
            **({"poses rejected": s.poses_rejected} if s.poses_rejected else {}),
            # a learner on another machine (learner=tcp://...): its link, weights version and backlog
            **({"learner": s.learner_link} if s.learner_link else {}),
            **({"learner pace": s.learner_pace} if s.learner_pace else {}),
        }

    def update(self, s: LiveState) -> None:
        now = time.monotonic()
        changed, self._shown_stop = s.urgent != self._shown_stop, s.urgent
        if now - self._last_print < (0.5 if self.live else self.every_s) and not changed:
            return
        self._last_print = now
        fields = self.status(s)
        if self._rich is not None:
            from rich.table import Table

            table = Table(title="fastrlap practice", show_header=False)
            for k, v in fields.items():
                table.add_row(k, v)
            self._rich.update(table, refresh=True)
        else:
            print("  ".join(f"{k} {v}" for k, v in fields.items()), flush=True)

    def close(self) -> None:
        if self._rich is not None:
            self._rich.stop()


class WandbLogger:
    """One scalar set per lap and learner metrics every call to `metrics` (offline by default)."""

    def __init__(self, cfg: WandbConfig, run_dir: Path, config: dict, name: str) -> None:
        self.run = None
        if cfg.mode == "disabled":
            return
        if cfg.mode not in ("offline", "online"):
            from fastrlap.errors import FastrlapError

            raise FastrlapError(f"wandb.mode={cfg.mode!r}: use offline, online or disabled")
        import wandb

        self.run = wandb.init(
            project=cfg.project, mode=cfg.mode, dir=str(run_dir), config=config, name=name, resume="allow", id=name
        )

    def lap(self, row: LapRow) -> None:
        if self.run is not None:
            self.run.log({f"lap/{k}": v for k, v in asdict(row).items()})

    def metrics(self, values: dict[str, float], practice_time: float) -> None:
        if self.run is not None and values:
            self.run.log({**{f"learner/{k}": v for k, v in values.items()}, "practice_min": practice_time / 60.0})

    def close(self) -> None:
        if self.run is not None:
            self.run.finish()
