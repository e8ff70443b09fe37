"""The lap-time report on a synthetic run directory: reading, figures, Markdown, errors."""

import json
import math
import os

import numpy as np
import pytest
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgba

from fastrlap.config import Config
from fastrlap.practice.run import RunDirError, RunLog, RunSummary, open_run_dir, save_config, trajectories_path
from fastrlap.practice.supervisor import Mode
from fastrlap.practice.trajectory import TrajectoryRecorder
from fastrlap.report import figures, markdown
from fastrlap.report.load import load_run
from fastrlap.report.runs import resolve_runs
from fastrlap.report.write import write_report
from fastrlap.types import LapRow

LAPS = [  # (lap time s, collisions): lap 3 is the best
    (20.0, 3),
    (15.0, 1),
    (11.0, 0),
    (12.5, 2),
]


def make_run(path, oracle=8.0, laps=LAPS, demo_lap=40.0):
    """laps.csv, summary.json and trajectories of a car circling a 5 m circle, one lap per row."""
    run = open_run_dir(path, create=True)
    log = RunLog(run)
    rec = TrajectoryRecorder(trajectories_path(run))
    t = 0.0
    for k, (lap_time, collisions) in enumerate(laps, 1):
        n = int(round(lap_time * 10))
        for i in range(n):
            a = 2 * math.pi * i / n
            mode = Mode.RECOVERY if i < collisions else Mode.LEARNING
            rec.add(t, 5 * math.cos(a), 5 * math.sin(a), 2 * math.pi * 5 / lap_time + 0.01 * i, mode, k)
            t += 0.1
        log.lap(
            LapRow(
                lap=k,
                practice_time_s=t,
                lap_time_s=lap_time,
                collisions=collisions,
                recoveries=collisions,
                mean_speed_mps=31.4 / lap_time,
                max_speed_mps=40.0 / lap_time,
            )
        )
    rec.flush()
    log.summary(
        RunSummary(
            demo_lap_s=demo_lap,
            first_lap_practice_min=laps[0][0] / 60 if laps else None,
            best_lap_s=min(lt for lt, _ in laps) if laps else None,
            laps=len(laps),
            collisions=sum(c for _, c in laps),
            practice_min=t / 60,
            oracle_lap_s=oracle,
        )
    )
    log.close()
    return run


def test_missing_or_empty_run_directory_is_one_line_naming_it_and_the_fix(tmp_path):
    with pytest.raises(RunDirError) as e:
        load_run(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(e.value) and "\n" not in str(e.value) and "run_dir=" in str(e.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunDirError) as e:
        load_run(tmp_path / "empty")
    assert str(tmp_path / "empty") in str(e.value) and "fastrlap practice" in str(e.value)
    with pytest.raises(RunDirError, match="no practice runs"):
        resolve_runs("", tmp_path / "runs")


def test_resolve_runs_newest_by_default_lists_and_paths_beside_runs(tmp_path):
    old = make_run(tmp_path / "runs" / "20260101-000000-oval")
    new = make_run(tmp_path / "runs" / "20260102-000000-oval")
    os.utime(old.path / "laps.csv", (1e9, 1e9))
    os.utime(old.path / "summary.json", (1e9, 1e9))
    (tmp_path / "runs" / "only-a-demo").mkdir()  # a run without practice logs is not "newest"
    assert resolve_runs("", tmp_path / "runs") == [new.path]
    assert resolve_runs(f"{old.path}, {new.path}", tmp_path / "runs") == [old.path, new.path]
    rel = resolve_runs("runs/20260101-000000-oval", tmp_path / "runs")
    assert rel == [tmp_path / "runs" / "20260101-000000-oval"]


def test_summary_and_lap_table_mark_the_best_lap(tmp_path):
    data = load_run(make_run(tmp_path / "run").path)
    assert data.best.lap == 3 and data.oracle_lap_s == 8.0 and data.demo_lap_s == 40.0
    table = markdown.lap_table_markdown(data).splitlines()
    marked = [line for line in table if "★" in line]
    assert len(marked) == 1 and marked[0].startswith("| **3 ★** |") and "**11.00**" in marked[0]
    summary = markdown.summary_markdown(data)
    assert "11.00 s (lap 3)" in summary and "| best / oracle | 1.38 |" in summary
    fig = figures.lap_table_figure(data)
    cells = fig.axes[0].tables[0].get_celld()
    assert cells[3, 0].get_text().get_text() == "* 3" and cells[3, 2].get_text().get_text() == "11.00"
    assert cells[3, 0].get_text().get_fontweight() == "bold" and cells[1, 0].get_text().get_fontweight() != "bold"


def test_lap_time_figure_draws_demo_and_oracle_lines_only_when_known(tmp_path):
    def hlines(data):
        ax = figures.lap_time_figure(data).axes[0]
        return sorted(
            float(line.get_ydata()[0])
            for line in ax.lines
            if len(set(np.asarray(line.get_ydata(), float))) == 1 and len(line.get_ydata()) == 2
        )

    with_oracle = load_run(make_run(tmp_path / "a").path)
    assert hlines(with_oracle) == [8.0, 40.0]
    ax = figures.lap_time_figure(with_oracle).axes[0]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [lt for lt, _ in LAPS])
    car = load_run(make_run(tmp_path / "b", oracle=None).path)
    assert hlines(car) == [40.0]


def test_collisions_figure_has_one_bar_per_lap(tmp_path):
    data = load_run(make_run(tmp_path / "run").path)
    ax = figures.collisions_figure(data).axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert heights[:4] == [c for _, c in LAPS]


def test_trajectory_figure_colours_the_first_and_best_lap_by_speed_and_marks_recoveries(tmp_path):
    data = load_run(make_run(tmp_path / "run").path)
    fig = figures.trajectory_figure(data)
    demo_ax, first_ax, best_ax, all_ax = fig.axes[:4]
    assert not demo_ax.collections and "demo" in demo_ax.get_title()  # no demo.npz in this run
    first = [c for c in first_ax.collections if isinstance(c, LineCollection)]
    best = [c for c in best_ax.collections if isinstance(c, LineCollection)]
    assert len(first) == 1 and len(best) == 1
    assert len(first[0].get_segments()) == 200 - 1 and len(best[0].get_segments()) == 110 - 1
    speeds = best[0].get_array()
    assert abs(float(np.min(speeds)) - 2 * math.pi * 5 / 11.0) < 0.02  # m/s of lap 3
    assert "lap 3" in best_ax.get_title() and "lap 1" in first_ax.get_title()
    # One x where each recovery begins: laps 1, 2 and 4 each start with a stretch of RECOVERY ticks.
    crosses = [line for line in all_ax.lines if line.get_marker() == "x"][0]
    assert len(crosses.get_xdata()) == 3 and "3 recoveries" in all_ax.get_title()


def test_laps_are_read_as_typed_rows_with_the_columns_of_laps_csv(tmp_path):
    data = load_run(make_run(tmp_path / "run").path)
    assert all(isinstance(r, LapRow) for r in data.laps) and isinstance(data.best, LapRow)
    second = data.laps[1]
    assert (second.lap, second.lap_time_s, second.collisions, second.recoveries) == (2, 15.0, 1, 1)
    assert second.practice_time_s == pytest.approx(35.0) and second.max_speed_mps == pytest.approx(
        40.0 / 15.0, abs=1e-4
    )  # 4 decimals in the file


def test_write_report_writes_pngs_and_markdown_and_compares_runs(tmp_path):
    a = make_run(tmp_path / "a")
    b = make_run(tmp_path / "b", laps=[(30.0, 4), (25.0, 0)])
    written = write_report(a.path)
    names = sorted(p.name for p in written)
    assert names == [
        "report.md",
        "report_collisions.png",
        "report_lap_table.png",
        "report_lap_times.png",
        "report_trajectories.png",
    ]
    for p in written:
        assert p.parent == a.path and p.stat().st_size > 0
    assert (a.path / "report_lap_times.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    written = write_report(a.path, compare=[b.path])
    md = (a.path / "report.md").read_text()
    assert (a.path / "report_comparison.png").exists() and "## Comparison" in md
    assert "| b | 40.00 | 0.50 | 25.00 | 8.00 | 2 | 4 |" in md
    with pytest.raises(RunDirError, match="missing"):
        write_report(a.path, compare=[tmp_path / "missing"])


def test_comparison_names_the_encoder_each_run_used(tmp_path):
    runs = []
    for name, weights in (("pre", "pretrained"), ("rand", "random"), ("own", "/weights/mine.pt")):
        run = make_run(tmp_path / name)
        cfg = Config()
        cfg.agent.encoder = weights
        save_config(run, cfg)
        runs.append(load_run(run.path))
    runs.append(load_run(make_run(tmp_path / "noconfig").path))
    md = markdown.comparison_markdown(runs)
    for label in (
        "| pre (pretrained encoder) |",
        "| rand (random encoder) |",
        "| own (encoder mine.pt) |",
        "| noconfig |",
    ):
        assert label in md
    ax = figures.comparison_figure(runs).axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()][:4] == [
        "pre (pretrained encoder)",
        "rand (random encoder)",
        "own (encoder mine.pt)",
        "noconfig",
    ]
    assert "| encoder | random encoder |" in markdown.summary_markdown(runs[1])


def test_a_run_with_no_lap_yet_still_reports(tmp_path):
    run = make_run(tmp_path / "run", laps=[])
    data = load_run(run.path)
    assert data.best is None and markdown.lap_table_markdown(data) == "No lap completed yet."
    write_report(run.path)
    md = (run.path / "report.md").read_text()
    assert "| laps | 0 |" in md and "No lap completed yet." in md


def test_every_map_of_the_report_draws_the_walls_and_obstacles(tmp_path):
    from matplotlib.patches import Polygon

    from fastrlap.course.checkpoints import extract_checkpoints, save_checkpoints
    from fastrlap.course.plot import OBSTACLE_COLOR
    from fastrlap.sim.track import load_track

    track = load_track("chicane")
    run = make_run(tmp_path / "run")
    save_checkpoints(
        extract_checkpoints(np.vstack([track.xy, track.xy[:1]]), 3.0, 1.0, 1.0, track="chicane"), run.checkpoints
    )
    data = load_run(run.path)
    maps = figures.trajectory_figure(data).axes[:4]
    for ax in maps:
        boxes = [p for p in ax.patches if isinstance(p, Polygon) and p.get_facecolor() == to_rgba(OBSTACLE_COLOR)]
        assert sorted(map(tuple, (b.get_xy()[:4].mean(axis=0).round(6) for b in boxes))) == sorted(
            tuple(np.round(ob.center, 6)) for ob in track.obstacles
        )
        assert any(c.get_label() == "wall" and len(c.get_segments()) > 100 for c in ax.collections)
    legend = [t.get_text() for t in maps[0].figure.legends[0].get_texts()]
    assert legend[:3] == ["track edge", "wall", "obstacle"] and "recovery began" in legend


def test_comparison_draws_each_runs_demo_and_oracle_lines_in_the_runs_colour(tmp_path):
    a = load_run(make_run(tmp_path / "a", oracle=8.0, demo_lap=40.0).path)
    b = load_run(make_run(tmp_path / "b", oracle=8.0, demo_lap=35.0, laps=[(30.0, 4), (25.0, 0)]).path)
    fig = figures.comparison_figure([a, b])
    ax = fig.axes[0]
    run_colour = {line.get_label(): line.get_color() for line in ax.lines if line.get_label() in ("a", "b")}
    assert run_colour["a"] != run_colour["b"]

    def refs(value):
        return [line for line in ax.lines if list(line.get_ydata()) == [value, value]]

    demo_a, demo_b = refs(40.0), refs(35.0)
    assert len(demo_a) == len(demo_b) == 1
    assert demo_a[0].get_color() == run_colour["a"] and demo_b[0].get_color() == run_colour["b"]
    # Both runs share the oracle: one line per run colour, taking turns along the dotted pattern,
    # so that both colours show on the drawn line rather than the last one hiding the other.
    assert sorted(line.get_color() for line in refs(8.0)) == sorted(run_colour.values())
    fig.canvas.draw()
    img = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)
    x0, y = ax.transData.transform((0.0, 8.0))
    x1 = ax.transData.transform((ax.get_xlim()[1], 8.0))[0]
    row = img[img.shape[0] - int(round(y)) - 1 : img.shape[0] - int(round(y)) + 2, int(x0) + 5 : int(x1) - 5]
    row = row.reshape(-1, 3)
    for colour in run_colour.values():
        want = np.array(to_rgba(colour)[:3]) * 255
        assert (np.abs(row - want).max(axis=1) < 40).sum() > 20, colour
    # The legend reads as a table: the runs, then their demo laps, then their oracle laps.
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == ["a", "b", "demo lap 40.00 s", "demo lap 35.00 s", "oracle 8.00 s", "oracle 8.00 s"]


def test_lap_table_figure_is_as_tall_as_its_rows(tmp_path):
    """A one-lap table is a strip with little blank space; ten laps make a taller figure."""
    import io

    from matplotlib.image import imread

    def blank_rows_and_height(laps):
        data = load_run(make_run(tmp_path / f"run{len(laps)}", laps=laps).path)
        img = imread(io.BytesIO(figures.to_png(figures.lap_table_figure(data))))[..., :3]
        blank = (img > 0.98).all(axis=(1, 2))
        return blank.mean(), img.shape[0]

    blank_one, height_one = blank_rows_and_height(LAPS[:1])
    blank_ten, height_ten = blank_rows_and_height([(20.0 - i, 0) for i in range(10)])
    assert blank_one < 0.25 and blank_ten < 0.25
    assert 2.0 < height_ten / height_one < 8.0


def test_the_summary_is_typed_and_reads_old_or_damaged_files_field_by_field():
    written = RunSummary(
        demo_lap_s=40.0,
        first_lap_practice_min=None,
        best_lap_s=9.0,
        laps=3,
        collisions=2,
        recoveries=1,
        practice_min=5.0,
        ticks=3000,
        critic_updates=100,
        replay_size=3500,
        wall_s_this_session=61.5,
        oracle_lap_s=8.0,
    )
    data = json.loads(written.to_json())
    assert list(data)[-2:] == ["oracle_lap_s", "best_over_oracle"] and data["best_over_oracle"] == 9.0 / 8.0
    assert RunSummary.from_json(data) == written
    assert "oracle_lap_s" not in json.loads(RunSummary(laps=0).to_json())  # unknown oracle: no oracle keys
    # an older, shorter file with a damaged value: what is usable is kept, the rest is None
    old = RunSummary.from_json({"demo_lap_s": 38.5, "laps": 2, "collisions": "many", "practice_min": float("nan")})
    assert (old.demo_lap_s, old.laps, old.collisions, old.practice_min, old.ticks) == (38.5, 2, None, None, None)
    assert RunSummary.from_json([1, 2]) == RunSummary()
