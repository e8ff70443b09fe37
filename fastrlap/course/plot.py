"""Course maps: the one function that draws a track (edges, walls, obstacles) on a map, and
`fastrlap checkpoints show`'s PNG of the demo path, the checkpoints and their goal radii.

Every map the project draws (this PNG, the report's trajectory maps) goes through `draw_track`,
so a wall or an obstacle the car can hit is on all of them or on none. Drawn with matplotlib's
Agg canvas directly (no pyplot, no global backend), so it works on a headless machine and inside
tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Polygon

from fastrlap.course.checkpoints import CourseSpec

EDGE_COLOR = "0.55"  # an open edge: the car may cross it (and slows on what lies beyond)
WALL_COLOR = "0.15"  # a barrier: the car stops against it
OBSTACLE_COLOR = "#c2007a"  # magenta: apart from the checkpoints' orange and the speed colours


@dataclass(frozen=True)
class TrackOutline:
    """What a map shows of a track, in metres: both edges as closed loops (M, 2), the wall
    segments (K, 2, 2) where a barrier stands along an edge, and each obstacle box's (4, 2) corners.

    A plain record rather than the simulator's `Track`, so that `course/` keeps no dependency on
    `sim/` (a course on a real car may have no simulator track at all)."""

    left: np.ndarray
    right: np.ndarray
    walls: np.ndarray
    obstacles: tuple[np.ndarray, ...]

    @classmethod
    def of(cls, track) -> TrackOutline:
        """From a `fastrlap.sim.track.Track`, whose `wall_segments` lists the edge walls first and
        then four sides per obstacle box (drawn here as filled boxes instead)."""
        segments = track.wall_segments()
        return cls(
            left=track.left_edge,
            right=track.right_edge,
            walls=segments[: len(segments) - 4 * len(track.obstacles)],
            obstacles=tuple(ob.corners for ob in track.obstacles),
        )

    def points(self) -> np.ndarray:
        """Every point the outline draws, (K, 2) m: what a map's extent must hold."""
        return np.vstack([self.left, self.right, *self.obstacles])


def load_outline(track: str) -> TrackOutline:
    """The outline of a simulator track by name or YAML path; raises `TrackError` when not found."""
    from fastrlap.sim.track import load_track

    return TrackOutline.of(load_track(track))


def map_aspect(points: list[np.ndarray]) -> float:
    """Height over width of the box holding all `points` ((N, 2) m each), kept within 0.3-2 so a
    long straight still gets a readable map: what sizes a figure so its equal-aspect maps fill it."""
    if not points:
        return 1.0
    span = np.ptp(np.vstack(points), axis=0)
    return float(np.clip(span[1] / max(span[0], 1e-6), 0.3, 2.0))


def draw_track(ax, outline: TrackOutline) -> None:
    """Draw the track's edges (thin), its walls (thick, dark) and obstacles (filled boxes) on `ax`.
    The edges, walls and obstacles carry the labels "track edge", "wall" and "obstacle" (once
    each, and only when the track has them) so that a legend explains them."""
    for edge, label in ((outline.left, "track edge"), (outline.right, None)):
        loop = np.vstack([edge, edge[:1]])
        ax.plot(loop[:, 0], loop[:, 1], color=EDGE_COLOR, lw=0.8, zorder=1, label=label)
    if len(outline.walls):
        ax.add_collection(
            LineCollection(outline.walls, colors=WALL_COLOR, linewidths=1.6, capstyle="round", zorder=1.5, label="wall")
        )
    if outline.obstacles:
        # A box is a few pixels on a whole-track map, so a marker of fixed size marks each one; the
        # box itself, drawn over it at true size and yaw, covers the marker where the map is large.
        centres = np.array([c.mean(axis=0) for c in outline.obstacles])
        ax.plot(
            centres[:, 0],
            centres[:, 1],
            "s",
            ms=5,
            mfc=OBSTACLE_COLOR,
            mec="k",
            mew=0.8,
            ls="none",
            zorder=2.5,
            label="obstacle",
        )
    for corners in outline.obstacles:
        ax.add_patch(Polygon(corners, closed=True, facecolor=OBSTACLE_COLOR, edgecolor="k", lw=1.0, zorder=2.6))
    ax.update_datalim(outline.points())
    ax.autoscale_view()


def checkpoints_figure(
    spec: CourseSpec, demo_path: np.ndarray | None = None, outline: TrackOutline | None = None, title: str = ""
) -> Figure:
    """The course map: track (if known), demo path (N, 2) m (if given), checkpoints, gates and goal radii."""
    shown = [np.array([(c.x, c.y) for c in spec.checkpoints]).reshape(-1, 2)]
    shown += [a for a in (demo_path, outline.points() if outline is not None else None) if a is not None and len(a)]
    fig = Figure(figsize=(8, 1.2 + 7.2 * map_aspect(shown)), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    if outline is not None:
        draw_track(ax, outline)
    if demo_path is not None and len(demo_path):
        ax.plot(demo_path[:, 0], demo_path[:, 1], color="tab:blue", lw=1.2, label="demo path")
    arrow = 0.6 * min(spec.spacing, 2.0)
    for i, cp in enumerate(spec.checkpoints):
        start = i == 0
        color = "tab:red" if start else "tab:orange"
        ax.add_patch(Circle((cp.x, cp.y), spec.goal_radius, fill=False, color=color, lw=1.0, alpha=0.8))
        h = np.array([math.cos(cp.heading), math.sin(cp.heading)])
        n = np.array([-h[1], h[0]]) * spec.gate_half_width
        ax.plot([cp.x - n[0], cp.x + n[0]], [cp.y - n[1], cp.y + n[1]], color=color, lw=0.8, ls=":")
        ax.annotate(
            "",
            xy=(cp.x + arrow * h[0], cp.y + arrow * h[1]),
            xytext=(cp.x, cp.y),
            arrowprops=dict(arrowstyle="->", color=color, lw=1.2),
        )
        ax.text(cp.x, cp.y, "S/F" if start else str(i), fontsize=8, ha="center", va="center", color="k")
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    lap = f", demo lap {spec.demo_lap_time:.2f} s" if spec.demo_lap_time is not None else ""
    ax.set_title(
        title
        or f"{spec.track or 'course'}: {len(spec.checkpoints)} checkpoints every "
        f"{spec.spacing:.2f} m, goal radius {spec.goal_radius:.2f} m{lap}",
        fontsize=10,
    )
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncol=len(handles), fontsize=8, frameon=False)
    return fig


def plot_checkpoints(
    spec: CourseSpec,
    out: str | Path,
    demo_path: np.ndarray | None = None,
    outline: TrackOutline | None = None,
    title: str = "",
) -> Path:
    """Write `checkpoints_figure` to `out` (PNG)."""
    out = Path(out)
    checkpoints_figure(spec, demo_path, outline, title).savefig(out, bbox_inches="tight")
    return out
