"""`fastrlap <command> [hydra overrides]` — the one place that assembles concrete objects.

Each command receives the typed `Config` (converted once here, DESIGN.md §2). Commands with two
words (`sim view`) are looked up by their first two arguments.
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fastrlap.config import Config, config_dir, register_configs, to_typed


class UserError(Exception):
    """A problem the user can fix; printed as one line, without a traceback."""


@dataclass(frozen=True)
class Command:
    name: str
    summary: str
    run: Callable[[Config], int | None]


def _sim_view(cfg: Config) -> int:
    from fastrlap.sim.view import write_view

    out = write_view(cfg)
    for path in out:
        print(f"wrote {path}")
    return 0


COMMANDS: dict[str, Command] = {
    c.name: c
    for c in [
        Command("sim view", "Write a first-person PNG and an MP4 of a scripted lap of a track.", _sim_view),
    ]
}


def compose(overrides: list[str]) -> Config:
    """Build the typed config from configs/ plus command-line overrides (Hydra compose API)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir()), version_base=None):
        cfg = hydra_compose(config_name="config", overrides=overrides)
    return to_typed(cfg)


def usage() -> str:
    width = max(len(n) for n in COMMANDS)
    lines = [
        "usage: fastrlap <command> [key=value ...]",
        "",
        "Learn to race an RC car from its own camera (FastRLAP). Commands:",
    ]
    lines += [f"  {name:<{width}}  {c.summary}" for name, c in COMMANDS.items()]
    lines += ["", "Overrides use Hydra syntax, e.g. `fastrlap sim view track=hairpin seed=3`."]
    return "\n".join(lines)


def _split(argv: list[str]) -> tuple[Command | None, list[str]]:
    for words in (2, 1):
        name = " ".join(argv[:words])
        if len(argv) >= words and name in COMMANDS:
            return COMMANDS[name], argv[words:]
    return None, argv


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    command, overrides = _split(argv)
    if command is None:
        print(f"fastrlap: unknown command {' '.join(argv[:2])!r}; run `fastrlap --help` for the list", file=sys.stderr)
        return 2
    if any(o in ("-h", "--help") for o in overrides):
        print(f"fastrlap {command.name}: {command.summary}")
        print(f"config tree: {Path(config_dir())} (any key can be overridden as key=value)")
        return 0
    try:
        cfg = compose(overrides)
        return int(command.run(cfg) or 0)
    except UserError as e:
        print(f"fastrlap {command.name}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"fastrlap {command.name}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
