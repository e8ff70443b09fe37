"""What the user watches during practice: a live terminal view, plain log lines, and wandb.

The loop and the learner return numbers; this module decides where they go, so no computation prints. On a
terminal the view is a `rich` live panel; when stdout is not a terminal (CI, a service, a pipe)
it prints one plain line every `every_s` seconds instead. wandb runs offline by default (files in
the run directory, upload later with `wandb sync`); `wandb.mode=disabled` turns it off.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from fastrlap.config import WandbConfig
from fastrlap.practice.keys import HELP, KeyReader
from fastrlap.practice.loop import PracticeLoop


class Dashboard:
    """`keys`, when given and reading the terminal, adds the e-stop key to the view and, while the
    car is held, the line that says how to continue; a change of the e-stop or of the serial link
    shows at once, not at the next throttled refresh."""

    def __init__(self, total_seconds: float, live: bool | None = None, every_s: float = 10.0,
                 keys: KeyReader | None = None) -> None:
        self.total = total_seconds
        self.every_s = every_s
        self.keys = keys
        self._shown_stop = ""
        self.live = sys.stdout.isatty() if live is None else live
        self._last_print = -1e9
        self._t0 = time.monotonic()
        self._updates0: int | None = None
        self._rich = None
        if self.live:
            from rich.live import Live

            self._rich = Live(auto_refresh=False, transient=False)
            self._rich.start()

    def status(self, loop: PracticeLoop) -> dict[str, str]:
        st = loop.state
        wall = max(time.monotonic() - self._t0, 1e-9)
        if self._updates0 is None:
            self._updates0 = loop.learner.updates
        last = f"{st.lap_times[-1]:.2f} s" if st.lap_times else "-"
        best = f"{st.best_lap:.2f} s" if st.best_lap is not None else "-"
        speed = float(abs(loop.last_obs.wheel_speed)) if loop.last_obs is not None else 0.0
        return {
            "mode": loop.mode.value,
            "laps": str(st.laps),
            "last lap": last,
            "best lap": best,
            "speed": f"{speed:.1f} m/s",
            "collisions": str(st.collisions),
            "updates/s": f"{(loop.learner.updates - self._updates0) / wall:.0f}",
            # the replay buffer's size (demo and practice transitions), the number resume reports as loaded
            "buffer": str(len(loop.learner.replay)),
            "practice": f"{st.practice_time / 60:.2f} / {self.total / 60:.1f} min",
            **({"keys": HELP} if self._reading() else {}),
            **({"e-stop": self.keys.hold()} if self._reading() and self.keys.hold() else {}),
            **({"link": loop.link_message} if loop.link_message else {}),
            # a learner on another machine (learner=tcp://...): its link, weights version and backlog
            **({"learner": loop.learner.link_state} if hasattr(loop.learner, "link_state") else {}),
            **({"poses rejected": loop.pose_rejections.describe()} if loop.pose_rejections.total else {}),
        }

    def _reading(self) -> bool:
        """The key reader is reading the terminal (it may decline when it starts)."""
        return self.keys is not None and self.keys.enabled

    def update(self, loop: PracticeLoop) -> None:
        now = time.monotonic()
        stop = (self.keys.hold() if self._reading() else "") + loop.link_message
        changed, self._shown_stop = stop != self._shown_stop, stop
        if now - self._last_print < (0.5 if self.live else self.every_s) and not changed:
            return
        self._last_print = now
        fields = self.status(loop)
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

        self.run = wandb.init(project=cfg.project, mode=cfg.mode, dir=str(run_dir), config=config, name=name,
                              resume="allow", id=name)

    def lap(self, row: dict) -> None:
        if self.run is not None:
            self.run.log({f"lap/{k}": v for k, v in row.items()})

    def metrics(self, values: dict[str, float], practice_time: float) -> None:
        if self.run is not None and values:
            self.run.log({**{f"learner/{k}": v for k, v in values.items()}, "practice_min": practice_time / 60.0})

    def close(self) -> None:
        if self.run is not None:
            self.run.finish()
