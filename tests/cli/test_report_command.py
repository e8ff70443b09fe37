"""`fastrlap report`: figures and report.md from a practised run; clear errors otherwise."""

import shutil

from fastrlap.cli import main
from tests.tiny_practice import TINY_AGENT

TINY = [
    *TINY_AGENT,
    "agent.utd_ratio=2",
    "agent.replay_flush_every=50",
    "practice.start_training=1000000",  # a report needs no learning
    "practice.checkpoint_every=50",
]


def test_report_after_a_short_practice_writes_figures_and_markdown(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["practice", "track=oval", f"run_dir={run}", *TINY, "practice.max_ticks=60"]) == 0
    assert len(list((run / "trajectories").glob("chunk-*.npz"))) == 2  # flushed at tick 50 and at the end
    other = tmp_path / "other"
    shutil.copytree(run, other)
    capsys.readouterr()
    assert main(["report", f"run_dir={run}", f"compare=[{other}]"]) == 0
    out = capsys.readouterr().out
    for name in ("lap_table", "lap_times", "collisions", "trajectories", "comparison"):
        png = run / f"report_{name}.png"
        assert png.read_bytes()[:4] == b"\x89PNG" and f"wrote {png}" in out
    md = (run / "report.md").read_text()
    assert md.startswith("# Practice report: run") and "| demo lap |" in md and "| oracle lap |" in md
    assert "No lap completed yet." in md and "## Comparison" in md and "| other (random encoder) |" in md
    assert not (other / "report.md").exists()  # only the run being reported on is written to


def test_report_on_a_missing_or_empty_run_directory_is_one_line(tmp_path, capsys):
    for path, hint in ((tmp_path / "nope", "no such run directory"), (tmp_path, "no practice logs")):
        assert main(["report", f"run_dir={path}"]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and str(path) in err[0] and hint in err[0] and "run_dir=" in err[0]
    assert main(["report"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "run_dir=" in err[0]
