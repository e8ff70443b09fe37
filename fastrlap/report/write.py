"""`fastrlap report`: the figures as `report_<figure>.png` and `report.md` in the run directory."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastrlap.report.figures import (
    collisions_figure,
    comparison_figure,
    lap_table_figure,
    lap_time_figure,
    trajectory_figure,
)
from fastrlap.report.load import load_run
from fastrlap.report.markdown import report_markdown

REPORT_MD = "report.md"


def write_report(run_dir: str | Path, compare: Sequence[str | Path] = ()) -> list[Path]:
    """Write `report_<figure>.png` and `report.md` into `run_dir`; returns the written paths.

    `compare`: other run directories drawn beside this one in `report_comparison.png`. Every run
    is read before anything is written, so a bad `compare` entry leaves the folder untouched."""
    data = load_run(run_dir)
    others = [load_run(p) for p in compare]
    figures = {
        "lap_table": lap_table_figure(data),
        "lap_times": lap_time_figure(data),
        "collisions": collisions_figure(data),
        "trajectories": trajectory_figure(data),
    }
    if others:
        figures["comparison"] = comparison_figure([data, *others])
    written = []
    for name, fig in figures.items():
        out = data.path / f"report_{name}.png"
        fig.savefig(out, bbox_inches="tight")
        written.append(out)
    out = data.path / REPORT_MD
    out.write_text(report_markdown(data, others))
    written.append(out)
    return written
