"""Lap-time report of one or more run directories: figures and a Markdown summary.

`fastrlap report` writes them into the run directory; `notebooks/lap_times.ipynb` shows the
same figures through the same functions. Figures are drawn on matplotlib's Agg canvas directly
(no pyplot, no global backend), so they work on a headless car and inside tests.

Each `*_figure` function takes loaded runs (`RunData`) and returns a `Figure`; `write_report`
saves them as PNGs next to `report.md`.
"""
from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from fastrlap.course.checkpoints import CheckpointsFileError, CourseSpec, load_checkpoints
from fastrlap.course.demo import DemoFileError, load_demo
from fastrlap.config import Config
from fastrlap.course.plot import TrackOutline, draw_track, load_outline, map_aspect
from fastrlap.practice.run import (RunDir, RunDirError, laps_path, load_run_config, read_laps, summary_path,
                                   trajectories_path)
from fastrlap.practice.supervisor import Mode
from fastrlap.practice.trajectory import Trajectory, read_trajectory_checked

REPORT_MD = "report.md"


@dataclass(frozen=True)
class DrivenPath:
    """A driven path: positions (N, 2) m and ground speeds (N,) m/s."""

    xy: np.ndarray
    speed: np.ndarray
    label: str


@dataclass
class RunData:
    """What the report needs from one run directory, read once."""

    path: Path
    laps: list[dict]  # laps.csv rows (read_laps)
    demo_lap_s: float | None = None  # s, from summary.json (or the demo file)
    oracle_lap_s: float | None = None  # s, simulator only
    first_lap_practice_min: float | None = None  # min of practice before the first lap (T2F)
    practice_min: float | None = None  # min of practice so far
    collisions: int | None = None
    encoder: str | None = None  # agent.encoder from config.yaml: "pretrained", "random" or a path
    trajectory: Trajectory | None = None
    demo_path: DrivenPath | None = None
    checkpoints: CourseSpec | None = None
    outline: TrackOutline | None = None  # the track's edges, walls and obstacles (simulator tracks)
    notes: list[str] = field(default_factory=list)  # what could not be read, shown in the report

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def best(self) -> dict | None:
        """The fastest lap's row (the first of equals)."""
        return min(self.laps, key=lambda r: r["lap_time_s"]) if self.laps else None


# ---------------------------------------------------------------------------------------------
# Finding and reading runs

def _has_practice(p: Path) -> bool:
    run = RunDir(p)
    return laps_path(run).is_file() or summary_path(run).is_file()


def newest_run(root: str | Path = "runs") -> Path | None:
    """The run directory under `root` whose practice logs were written last (None if there is none)."""
    root = Path(root)
    if not root.is_dir():
        return None
    runs = [p for p in root.iterdir() if p.is_dir() and _has_practice(p)]
    if not runs:
        return None

    def written(p: Path) -> float:
        files = [f for f in (laps_path(RunDir(p)), summary_path(RunDir(p))) if f.exists()]
        return max(f.stat().st_mtime for f in files)

    return max(runs, key=lambda p: (written(p), p.name))


def resolve_runs(spec: str, root: str | Path = "runs") -> list[Path]:
    """Run directories from `spec` (one path or a comma-separated list); empty `spec` means the
    newest run under `root`. A relative path that is not found from the working folder is
    looked up beside `root` (so `runs/<name>` works from `notebooks/` too). Raises `RunDirError`
    (one line, with the fix) when there is no run."""
    paths = []
    for s in spec.split(","):
        if s.strip():
            p = Path(s.strip()).expanduser()
            beside = Path(root).parent / p
            paths.append(beside if not p.is_absolute() and not p.exists() and beside.exists() else p)
    if paths:
        return paths
    newest = newest_run(root)
    if newest is None:
        raise RunDirError(f"no practice runs under {Path(root).resolve()}; run `fastrlap practice` first, or name "
                          f"run directories in FASTRLAP_RUNS (comma-separated)")
    return [newest]


def _float(data: dict, key: str) -> float | None:
    v = data.get(key)
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def _config(run: RunDir, notes: list[str]) -> Config | None:
    """The run's typed config (None, with a note, when it is missing or unreadable)."""
    if not run.config.is_file():
        return None
    try:
        return load_run_config(run)
    except RunDirError as e:
        notes.append(str(e))
        return None


def track_outline(cfg: Config | None, spec: CourseSpec | None) -> tuple[TrackOutline | None, str]:
    """The outline of the track a run drove, and a note when it cannot be drawn.

    `cfg` is the run's own config (its `track` is the run's copy of the track file); a run from
    before such copies falls back to the track its checkpoints name. A real course has no track."""
    from fastrlap.sim.track import TrackError

    if cfg is not None and cfg.vehicle.kind == "real":
        return None, ""
    ref = cfg.track if cfg is not None else (spec.track if spec is not None else "")
    if not ref:
        return None, ""
    try:
        return load_outline(ref), ""
    except TrackError:
        return None, f"track {ref!r} not found; maps drawn without the track"


def encoder_label(data: RunData) -> str:
    """"random encoder", "pretrained encoder", the weights file's name, or "" when unknown."""
    if data.encoder is None:
        return ""
    if data.encoder == "random":
        return "random encoder"
    return "pretrained encoder" if data.encoder in ("pretrained", "") else f"encoder {Path(data.encoder).name}"


def load_run(path: str | Path) -> RunData:
    """Read a run directory. A missing folder, or one without practice logs (laps.csv,
    summary.json), is a one-line `RunDirError` naming the folder and the fix; the demo,
    checkpoints, track and trajectories are optional (their figures say what is missing)."""
    p = Path(path).expanduser()
    if not p.is_dir():
        raise RunDirError(f"{p}: no such run directory; pass a folder `fastrlap practice` wrote, "
                          f"e.g. run_dir=runs/<date>-<time>-<track>")
    if not _has_practice(p):
        raise RunDirError(f"{p}: no practice logs (laps.csv, summary.json) in this run directory; practise first "
                          f"with `fastrlap practice run_dir={p}`")
    run = RunDir(p)
    data = RunData(path=p, laps=read_laps(run))
    if summary_path(run).is_file():
        try:
            summary = json.loads(summary_path(run).read_text())
        except (OSError, ValueError):  # ValueError: not UTF-8, or not JSON
            summary = None
        if not isinstance(summary, dict):
            summary = {}
            data.notes.append("summary.json is unreadable")
        data.demo_lap_s = _float(summary, "demo_lap_s")
        data.oracle_lap_s = _float(summary, "oracle_lap_s")
        data.first_lap_practice_min = _float(summary, "first_lap_practice_min")
        data.practice_min = _float(summary, "practice_min")
        collisions = summary.get("collisions")
        data.collisions = int(collisions) if isinstance(collisions, int) else None
    if data.first_lap_practice_min is None and data.laps:
        data.first_lap_practice_min = data.laps[0]["practice_time_s"] / 60.0
    if data.collisions is None and data.laps:
        data.collisions = int(sum(r["collisions"] for r in data.laps))
    cfg = _config(run, data.notes)
    data.encoder = cfg.agent.encoder if cfg is not None else None
    data.trajectory, skipped = read_trajectory_checked(trajectories_path(run))
    if skipped:
        data.notes.append(f"trajectory chunk(s) {', '.join(skipped)} unreadable, left out of the maps")
    if run.demo.is_file():
        try:
            demo = load_demo(run.demo)
            xy = demo.lap_path() if demo.closed else demo.pose[:, :2]
            speed = np.hypot(demo.velocity[:, 0], demo.velocity[:, 1])[: len(xy)]
            speed = np.concatenate([speed, np.full(len(xy) - len(speed), speed[-1] if len(speed) else 0.0)])
            data.demo_path = DrivenPath(xy=xy, speed=speed, label=f"demo lap ({demo.lap_time:.2f} s)")
            if data.demo_lap_s is None and math.isfinite(demo.lap_time):
                data.demo_lap_s = float(demo.lap_time)
        except (DemoFileError, ValueError) as e:
            data.notes.append(f"demo not drawn: {str(e).splitlines()[0]}")
    if run.checkpoints.is_file():
        try:
            data.checkpoints = load_checkpoints(run.checkpoints)
        except CheckpointsFileError as e:
            data.notes.append(f"checkpoints not drawn: {str(e).splitlines()[0]}")
    data.outline, note = track_outline(cfg, data.checkpoints)
    if note:
        data.notes.append(note)
    return data


def lap_path(data: RunData, row: dict) -> DrivenPath | None:
    """The recorded ticks of one lap (a laps.csv row), or None when they were not recorded."""
    if data.trajectory is None or not len(data.trajectory):
        return None
    ticks = data.trajectory.lap_ticks(row["lap"], row["practice_time_s"], row["lap_time_s"])
    if len(ticks) < 2:
        return None
    return DrivenPath(xy=ticks.xy(), speed=ticks.speed, label=f"lap {row['lap']} ({row['lap_time_s']:.2f} s)")


# ---------------------------------------------------------------------------------------------
# Figures

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
    ax.set_title(f"{data.name}: laps" + (f" (* best: lap {best['lap']}, {best['lap_time_s']:.2f} s)" if best else ""),
                 fontsize=10)
    if not rows:
        _no_data(ax, "no lap completed yet")
        return fig
    cells = [[("* " if r is best else "") + str(r["lap"]), f"{r['practice_time_s'] / 60:.2f}",
              f"{r['lap_time_s']:.2f}", f"{int(r['collisions'])}", f"{int(r['recoveries'])}",
              f"{r['mean_speed_mps']:.2f}", f"{r['max_speed_mps']:.2f}"] for r in rows]
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
        t = np.array([r["practice_time_s"] for r in rows]) / 60.0
        lt = np.array([r["lap_time_s"] for r in rows])
        line, = ax.plot(t, lt, "o-", ms=4, lw=1.2, color=color, label=label or "practice laps")
        best = data.best
        ax.plot([best["practice_time_s"] / 60.0], [best["lap_time_s"]], marker="*", ms=14, ls="none",
                color=line.get_color(), markeredgecolor="k",
                label=f"best {best['lap_time_s']:.2f} s (lap {best['lap']})" if references else None)
    if references:
        if data.demo_lap_s is not None:
            ax.axhline(data.demo_lap_s, color="tab:blue", ls="--", lw=1.0, label=f"demo lap {data.demo_lap_s:.2f} s")
        if data.oracle_lap_s is not None:
            ax.axhline(data.oracle_lap_s, color="tab:green", ls=":", lw=1.2,
                       label=f"oracle {data.oracle_lap_s:.2f} s")


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
    laps = np.array([r["lap"] for r in rows])
    ax.bar(laps - 0.2, [r["collisions"] for r in rows], width=0.4, color="tab:red", label="collisions")
    ax.bar(laps + 0.2, [r["recoveries"] for r in rows], width=0.4, color="tab:gray", label="recoveries")
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
        ("first lap", lap_path(data, laps[0]) if laps else None,
         "no lap completed yet" if not laps else "trajectory not recorded for this lap"),
        ("best lap", lap_path(data, data.best) if laps else None,
         "no lap completed yet" if not laps else "trajectory not recorded for this lap"),
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


def _labels(runs: Sequence[RunData]) -> list[str]:
    """Run names (or full paths when two runs share a folder name) with the encoder they used."""
    names = [r.name for r in runs]
    names = names if len(set(names)) == len(names) else [str(r.path) for r in runs]
    return [f"{n} ({encoder_label(r)})" if encoder_label(r) else n for n, r in zip(names, runs)]


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
    labels = _labels(runs)
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
    ax.legend(handles, texts, ncol=len(handles) // len(runs), fontsize=8, loc="upper center",
              bbox_to_anchor=(0.5, -0.14), frameon=False)
    x = np.arange(len(runs))
    best = [r.best["lap_time_s"] if r.best else np.nan for r in runs]
    t2f = [r.first_lap_practice_min if r.first_lap_practice_min is not None else np.nan for r in runs]
    bx.bar(x - 0.2, best, width=0.4, color=colors, label="best lap (s)")
    tx = bx.twinx()
    tx.bar(x + 0.2, t2f, width=0.4, color=colors, alpha=0.45, hatch="//", label="first lap at (min)")
    bx.set_xticks(x, [label.replace(" (", "\n(") for label in labels], fontsize=8)
    bx.set_ylabel("best lap (s), solid")
    tx.set_ylabel("first lap at (min of practice), hatched")
    bx.set_title("best lap and time to first lap", fontsize=10)
    for i, (b, f) in enumerate(zip(best, t2f)):
        if np.isnan(b):
            bx.text(i - 0.2, 0, "no lap", ha="center", va="bottom", fontsize=7, rotation=90)
    return fig


# ---------------------------------------------------------------------------------------------
# Markdown and the report folder

def _fmt(v: float | None, unit: str = "", digits: int = 2) -> str:
    return "-" if v is None else f"{v:.{digits}f}{unit}"


def summary_markdown(data: RunData) -> str:
    """The run's headline figures as a Markdown table."""
    best = data.best
    ratio = best["lap_time_s"] / data.oracle_lap_s if best and data.oracle_lap_s else None
    rows = [
        ("demo lap", _fmt(data.demo_lap_s, " s")),
        ("first lap after (T2F)", _fmt(data.first_lap_practice_min, " min of practice")),
        ("best lap", f"{best['lap_time_s']:.2f} s (lap {best['lap']})" if best else "-"),
        ("oracle lap", _fmt(data.oracle_lap_s, " s")),
        ("best / oracle", _fmt(ratio)),
        ("laps", str(len(data.laps))),
        ("collisions", "-" if data.collisions is None else str(data.collisions)),
        ("practice", _fmt(data.practice_min, " min")),
        ("encoder", encoder_label(data) or "-"),
    ]
    lines = ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(lines)


def lap_table_markdown(data: RunData) -> str:
    """laps.csv as a Markdown table; the best lap is bold and starred."""
    if not data.laps:
        return "No lap completed yet."
    best = data.best
    lines = ["| lap | practice (min) | lap time (s) | collisions | recoveries | mean speed (m/s) | max speed (m/s) |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in data.laps:
        cells = [str(r["lap"]), f"{r['practice_time_s'] / 60:.2f}", f"{r['lap_time_s']:.2f}", str(int(r["collisions"])),
                 str(int(r["recoveries"])), f"{r['mean_speed_mps']:.2f}", f"{r['max_speed_mps']:.2f}"]
        if r is best:
            cells = [f"**{c}**" for c in cells]
            cells[0] = f"**{r['lap']} ★**"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def comparison_markdown(runs: Sequence[RunData]) -> str:
    lines = ["| run | demo lap (s) | first lap after (min) | best lap (s) | oracle (s) | laps | collisions |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r, label in zip(runs, _labels(runs)):
        lines.append(f"| {label} | {_fmt(r.demo_lap_s)} | {_fmt(r.first_lap_practice_min)} | "
                     f"{_fmt(r.best['lap_time_s'] if r.best else None)} | {_fmt(r.oracle_lap_s)} | {len(r.laps)} | "
                     f"{'-' if r.collisions is None else r.collisions} |")
    return "\n".join(lines)


def write_report(run_dir: str | Path, compare: Sequence[str | Path] = ()) -> list[Path]:
    """Write `report_<figure>.png` and `report.md` into `run_dir`; returns the written paths.

    `compare`: other run directories drawn beside this one in `report_comparison.png`."""
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
    md = [f"# Practice report: {data.name}", "", summary_markdown(data), ""]
    if data.notes:
        md += ["Notes: " + "; ".join(data.notes) + ".", ""]
    md += ["## Lap time vs practice time", "", "![lap times](report_lap_times.png)", "",
           "## Laps", "", lap_table_markdown(data), "", "![lap table](report_lap_table.png)", "",
           "## Collisions per lap", "", "![collisions](report_collisions.png)", "",
           "## Driven trajectories", "", "![trajectories](report_trajectories.png)", ""]
    if others:
        md += ["## Comparison", "", comparison_markdown([data, *others]), "",
               "![comparison](report_comparison.png)", ""]
    out = data.path / REPORT_MD
    out.write_text("\n".join(md))
    written.append(out)
    return written
