"""The report's figures, one function per figure, each taking loaded runs (`RunData`) and
returning a matplotlib `Figure`.

Drawn on matplotlib's Agg canvas directly (no pyplot, no global backend), so they work on a
headless car and inside tests; `to_png` gives the bytes the notebook displays.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from fastrlap.course.plot import draw_track, map_aspect
from fastrlap.practice.supervisor import Mode
from fastrlap.report.load import DrivenPath, RunData, lap_path, run_labels


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def to_png(fig: Figure) -> bytes:
    """The figure as PNG bytes (for `IPython.display.Image` in the notebook)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def _no_data(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=10, color="0.3")
    ax.set_xticks([])
    ax.set_yticks([])


TABLE_ROW_IN = 0.22  # height of a lap-table row, inches


def lap_table_figure(data: RunData) -> Figure:
    """Every lap (lap, practice time, lap time, collisions, recoveries, speeds), best lap marked."""
    rows = data.laps
    # The table fills its axes (one header row and one row per lap, each TABLE_ROW_IN tall) under
    # the title, so the figure is as tall as its rows: one lap is a strip, not a mostly blank page.
    fig = _figure(8.0, 0.45 + TABLE_ROW_IN * (1 + max(1, len(rows))))
    fig.set_layout_engine("constrained")
    ax = fig.add_subplot(1, 1, 1)
    ax.set_axis_off()
    best = data.best
    ax.set_title(
        f"{data.name}: laps" + (f" (* best: lap {best.lap}, {best.lap_time_s:.2f} s)" if best else ""), fontsize=10
    )
    if not rows:
        _no_data(ax, "no lap completed yet")
        return fig
    cells = [
        [
            ("* " if r is best else "") + str(r.lap),
            f"{r.practice_time_s / 60:.2f}",
            f"{r.lap_time_s:.2f}",
            f"{int(r.collisions)}",
            f"{int(r.recoveries)}",
            f"{r.mean_speed_mps:.2f}",
            f"{r.max_speed_mps:.2f}",
        ]
        for r in rows
    ]
    cols = ["lap", "practice (min)", "lap time (s)", "collisions", "recoveries", "mean (m/s)", "max (m/s)"]
    table = ax.table(cellText=cells, colLabels=cols, bbox=(0.0, 0.0, 1.0, 1.0), cellLoc="right")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    i_best = rows.index(best) + 1
    for j in range(len(cols)):
        table[0, j].set_facecolor("0.85")
        table[i_best, j].set_facecolor("#ffe08a")
        table[i_best, j].get_text().set_fontweight("bold")
    return fig


def _lap_time_axes(ax, data: RunData, color=None, label: str | None = None, references: bool = True) -> None:
    rows = data.laps
    if rows:
        t = np.array([r.practice_time_s for r in rows]) / 60.0
        lt = np.array([r.lap_time_s for r in rows])
        (line,) = ax.plot(t, lt, "o-", ms=4, lw=1.2, color=color, label=label or "practice laps")
        best = data.best
        ax.plot(
            [best.practice_time_s / 60.0],
            [best.lap_time_s],
            marker="*",
            ms=14,
            ls="none",
            color=line.get_color(),
            markeredgecolor="k",
            label=f"best {best.lap_time_s:.2f} s (lap {best.lap})" if references else None,
        )
    if references:
        if data.demo_lap_s is not None:
            ax.axhline(data.demo_lap_s, color="tab:blue", ls="--", lw=1.0, label=f"demo lap {data.demo_lap_s:.2f} s")
        if data.oracle_lap_s is not None:
            ax.axhline(data.oracle_lap_s, color="tab:green", ls=":", lw=1.2, label=f"oracle {data.oracle_lap_s:.2f} s")


def lap_time_figure(data: RunData) -> Figure:
    """Lap time against practice time, with the demo lap and (simulator) the oracle as lines."""
    fig = _figure(8.0, 4.5)
    ax = fig.add_subplot(1, 1, 1)
    _lap_time_axes(ax, data, color="tab:red")
    if not data.laps:
        ax.text(0.5, 0.5, "no lap completed yet", ha="center", va="center", transform=ax.transAxes, color="0.3")
    ax.set_xlabel("practice time (min)")
    ax.set_ylabel("lap time (s)")
    ax.set_ylim(0, 1.25 * ax.get_ylim()[1])  # headroom for the legend above the demo line
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
    ax.set_title(f"{data.name}: lap time vs practice time", fontsize=10)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="upper right")
    return fig


def collisions_figure(data: RunData) -> Figure:
    """Collisions and recoveries (pseudo-resets) per lap."""
    fig = _figure(8.0, 3.5)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_title(f"{data.name}: collisions per lap", fontsize=10)
    rows = data.laps
    if not rows:
        _no_data(ax, "no lap completed yet")
        return fig
    laps = np.array([r.lap for r in rows])
    ax.bar(laps - 0.2, [r.collisions for r in rows], width=0.4, color="tab:red", label="collisions")
    ax.bar(laps + 0.2, [r.recoveries for r in rows], width=0.4, color="tab:gray", label="recoveries")
    ax.set_xlabel("lap")
    ax.set_ylabel("count")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def _draw_course(ax, data: RunData) -> None:
    if data.outline is not None:
        draw_track(ax, data.outline)
    if data.checkpoints is not None:
        cps = np.array([(c.x, c.y) for c in data.checkpoints.checkpoints])
        ax.plot(cps[1:, 0], cps[1:, 1], "o", ms=3, color="tab:orange", mfc="none", label="checkpoint")
        ax.plot(cps[:1, 0], cps[:1, 1], "s", ms=6, color="tab:red", mfc="none", label="start/finish")
    ax.set_aspect("equal")
    ax.tick_params(labelsize=7)


def _speed_line(ax, path: DrivenPath, norm: Normalize) -> LineCollection:
    seg = np.stack([path.xy[:-1], path.xy[1:]], axis=1)
    lc = LineCollection(seg, cmap="viridis", norm=norm, linewidths=2.0)
    lc.set_array(0.5 * (path.speed[:-1] + path.speed[1:]))
    ax.add_collection(lc)
    ax.autoscale_view()
    return lc


def _aspect(data: RunData, panels) -> float:
    """Height over width of what the maps show (sizes the figure so the maps fill it)."""
    pts = [p.xy for _, p, _ in panels if p is not None]
    if data.outline is not None:
        pts.append(data.outline.points())
    if data.trajectory is not None and len(data.trajectory):
        pts.append(data.trajectory.xy())
    return map_aspect(pts)


def trajectory_figure(data: RunData) -> Figure:
    """The demo, first and best laps over the track and checkpoints, coloured by speed, and where
    the car crashed or got stuck (the start of every recovery) during the whole practice."""
    laps = data.laps
    panels: list[tuple[str, DrivenPath | None, str]] = [
        ("demo", data.demo_path, "the demo lap was not found"),
        (
            "first lap",
            lap_path(data, laps[0]) if laps else None,
            "no lap completed yet" if not laps else "trajectory not recorded for this lap",
        ),
        (
            "best lap",
            lap_path(data, data.best) if laps else None,
            "no lap completed yet" if not laps else "trajectory not recorded for this lap",
        ),
    ]
    speeds = [p.speed for _, p, _ in panels if p is not None]
    vmax = max([float(np.max(s)) for s in speeds if len(s)] + [0.5])
    norm = Normalize(vmin=0.0, vmax=vmax)
    # Each map is about 4.1 in wide beside the colour bar; its height follows the track's shape,
    # plus room for its title and ticks, so the equal-aspect maps fill the figure without gaps.
    fig = _figure(11.0, 0.9 + 2 * (4.1 * _aspect(data, panels) + 0.55))
    fig.set_layout_engine("constrained")
    axes = [fig.add_subplot(2, 2, i + 1) for i in range(4)]
    mappable = None
    for ax, (title, path, missing) in zip(axes, panels):
        _draw_course(ax, data)
        if path is None:
            ax.set_title(f"{title}: {missing}", fontsize=9)
            continue
        mappable = _speed_line(ax, path, norm)
        ax.set_title(path.label if title == "demo" else f"{title}: {path.label}", fontsize=9)
    ax = axes[3]
    _draw_course(ax, data)
    traj = data.trajectory
    if traj is not None and len(traj):
        ax.plot(traj.x, traj.y, color="0.6", lw=0.5, alpha=0.7)
        rec = traj.mode_is(Mode.RECOVERY)
        starts = np.flatnonzero(rec & ~np.concatenate([[False], rec[:-1]]))
        ax.plot(traj.x[starts], traj.y[starts], "x", color="tab:red", ms=6, mew=1.5, label="recovery began")
        ax.set_title(f"all practice ({traj.t[-1] / 60:.1f} min): {len(starts)} recoveries (x)", fontsize=9)
    else:
        ax.set_title("all practice: trajectory not recorded", fontsize=9)
    if mappable is not None:
        fig.colorbar(mappable, ax=axes, shrink=0.6, label="speed (m/s)")
    handles, labels = axes[3].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.suptitle(f"{data.name}: driven trajectories", fontsize=11)
    return fig


# Dash patterns (dash, gap; in line widths) of the reference lines: demo laps dashed, oracle laps dotted.
REFERENCE_DASHES = {"demo lap": (6.0, 3.0), "oracle": (1.2, 2.4)}


def _reference_lines(ax, runs: Sequence[RunData], colors: list[str]) -> dict[str, list[Line2D | None]]:
    """Each run's demo and oracle lap as a horizontal line in the run's colour; per kind, one line
    (or None) per run. Runs that share a value (the same track's oracle) take turns along one
    dash pattern, so every run's colour shows instead of the last line drawn hiding the others."""
    lines: dict[str, list[Line2D | None]] = {}
    for what, values in (("demo lap", [r.demo_lap_s for r in runs]), ("oracle", [r.oracle_lap_s for r in runs])):
        dash, gap = REFERENCE_DASHES[what]
        period = dash + gap
        lines[what] = []
        for i, (value, color) in enumerate(zip(values, colors)):
            if value is None:
                lines[what].append(None)
                continue
            sharing = [j for j, v in enumerate(values) if v == value]
            k, m = sharing.index(i), len(sharing)
            style = (((m - k) % m) * period, (dash, m * period - dash))
            lines[what].append(ax.axhline(value, color=color, ls=style, lw=1.3, label=f"{what} {value:.2f} s"))
    return lines


def comparison_figure(runs: Sequence[RunData]) -> Figure:
    """Several runs side by side: lap time vs practice time, and best lap / time to first lap.

    The legend is a table under the plot, one row per run: its practice laps, then its demo lap
    (dashed) and its oracle lap (dotted), all in the run's colour."""
    fig = _figure(12.0, 4.5 + 0.22 * len(runs))
    fig.set_layout_engine("constrained")
    ax, bx = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    colors = [f"C{i % 10}" for i in range(len(runs))]
    labels = run_labels(runs)
    for data, color, label in zip(runs, colors, labels):
        _lap_time_axes(ax, data, color=color, label=label, references=False)
    references = _reference_lines(ax, runs, colors)
    ax.set_xlabel("practice time (min)")
    ax.set_ylabel("lap time (s)")
    ax.set_ylim(0, 1.1 * ax.get_ylim()[1])
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
    ax.set_title("lap time vs practice time", fontsize=10)
    # Column by column: the runs, their demo laps, their oracle laps (a blank where a run has none).
    blank = Line2D([], [], alpha=0.0)
    handles = [Line2D([], [], color=c, marker="o", ms=4, lw=1.2) for c in colors]
    texts = list(labels)
    for column in references.values():
        if any(column):
            handles += [line or blank for line in column]
            texts += [line.get_label() if line else "" for line in column]
    ax.legend(
        handles,
        texts,
        ncol=len(handles) // len(runs),
        fontsize=8,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.14),
        frameon=False,
    )
    x = np.arange(len(runs))
    best = [r.best.lap_time_s if r.best else np.nan for r in runs]
    t2f = [r.first_lap_practice_min if r.first_lap_practice_min is not None else np.nan for r in runs]
    bx.bar(x - 0.2, best, width=0.4, color=colors, label="best lap (s)")
    tx = bx.twinx()
    tx.bar(x + 0.2, t2f, width=0.4, color=colors, alpha=0.45, hatch="//", label="first lap at (min)")
    bx.set_xticks(x, [label.replace(" (", "\n(") for label in labels], fontsize=8)
    bx.set_ylabel("best lap (s), solid")
    tx.set_ylabel("first lap at (min of practice), hatched")
    bx.set_title("best lap and time to first lap", fontsize=10)
    for i, (b, _f) in enumerate(zip(best, t2f)):
        if np.isnan(b):
            bx.text(i - 0.2, 0, "no lap", ha="center", va="bottom", fontsize=7, rotation=90)
    return fig
