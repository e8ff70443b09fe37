"""`fastrlap checkpoints show`: a PNG of the demo path, the checkpoints and their goal radii.

Drawn with matplotlib's Agg canvas directly (no pyplot, no global backend), so it works on a
headless machine and inside tests.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Circle

from fastrlap.course.checkpoints import CourseSpec


def plot_checkpoints(spec: CourseSpec, out: str | Path, demo_path: np.ndarray | None = None,
                     edges: tuple[np.ndarray, np.ndarray] | None = None, title: str = "") -> Path:
    """Write the course map to `out` (PNG). demo_path: (N, 2) m; edges: left and right (M, 2) m, closed."""
    fig = Figure(figsize=(8, 8), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    if edges is not None:
        for edge in edges:
            loop = np.vstack([edge, edge[:1]])
            ax.plot(loop[:, 0], loop[:, 1], color="0.35", lw=1.0)
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
        ax.annotate("", xy=(cp.x + arrow * h[0], cp.y + arrow * h[1]), xytext=(cp.x, cp.y),
                    arrowprops=dict(arrowstyle="->", color=color, lw=1.2))
        ax.text(cp.x, cp.y, "S/F" if start else str(i), fontsize=8, ha="center", va="center", color="k")
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    lap = f", demo lap {spec.demo_lap_time:.2f} s" if spec.demo_lap_time is not None else ""
    ax.set_title(title or f"{spec.track or 'course'}: {len(spec.checkpoints)} checkpoints every "
                 f"{spec.spacing:.2f} m, goal radius {spec.goal_radius:.2f} m{lap}", fontsize=10)
    if demo_path is not None:
        ax.legend(loc="upper right", fontsize=8)
    out = Path(out)
    fig.savefig(out, bbox_inches="tight")
    return out
