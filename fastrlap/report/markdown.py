"""The report in Markdown: the headline table, the lap table, the comparison table, and
`report.md` as a whole (the tables with the figures' PNGs between them)."""

from __future__ import annotations

from collections.abc import Sequence

from fastrlap.report.load import RunData, encoder_label, run_labels


def _fmt(v: float | None, unit: str = "", digits: int = 2) -> str:
    return "-" if v is None else f"{v:.{digits}f}{unit}"


def summary_markdown(data: RunData) -> str:
    """The run's headline figures as a Markdown table."""
    best = data.best
    ratio = best.lap_time_s / data.oracle_lap_s if best and data.oracle_lap_s else None
    rows = [
        ("demo lap", _fmt(data.demo_lap_s, " s")),
        ("first lap after (T2F)", _fmt(data.first_lap_practice_min, " min of practice")),
        ("best lap", f"{best.lap_time_s:.2f} s (lap {best.lap})" if best else "-"),
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
    lines = [
        "| lap | practice (min) | lap time (s) | collisions | recoveries | mean speed (m/s) | max speed (m/s) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in data.laps:
        cells = [
            str(r.lap),
            f"{r.practice_time_s / 60:.2f}",
            f"{r.lap_time_s:.2f}",
            str(int(r.collisions)),
            str(int(r.recoveries)),
            f"{r.mean_speed_mps:.2f}",
            f"{r.max_speed_mps:.2f}",
        ]
        if r is best:
            cells = [f"**{c}**" for c in cells]
            cells[0] = f"**{r.lap} ★**"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def comparison_markdown(runs: Sequence[RunData]) -> str:
    """Several runs' headline figures, one row per run."""
    lines = [
        "| run | demo lap (s) | first lap after (min) | best lap (s) | oracle (s) | laps | collisions |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r, label in zip(runs, run_labels(runs)):
        lines.append(
            f"| {label} | {_fmt(r.demo_lap_s)} | {_fmt(r.first_lap_practice_min)} | "
            f"{_fmt(r.best.lap_time_s if r.best else None)} | {_fmt(r.oracle_lap_s)} | {len(r.laps)} | "
            f"{'-' if r.collisions is None else r.collisions} |"
        )
    return "\n".join(lines)


def report_markdown(data: RunData, others: Sequence[RunData] = ()) -> str:
    """report.md: the headline and lap tables, notes on what could not be read, and the figures
    `write_report` saves beside it (the comparison only when `others` are given)."""
    md = [f"# Practice report: {data.name}", "", summary_markdown(data), ""]
    if data.notes:
        md += ["Notes: " + "; ".join(data.notes) + ".", ""]
    md += [
        "## Lap time vs practice time",
        "",
        "![lap times](report_lap_times.png)",
        "",
        "## Laps",
        "",
        lap_table_markdown(data),
        "",
        "![lap table](report_lap_table.png)",
        "",
        "## Collisions per lap",
        "",
        "![collisions](report_collisions.png)",
        "",
        "## Driven trajectories",
        "",
        "![trajectories](report_trajectories.png)",
        "",
    ]
    if others:
        md += [
            "## Comparison",
            "",
            comparison_markdown([data, *others]),
            "",
            "![comparison](report_comparison.png)",
            "",
        ]
    return "\n".join(md)
