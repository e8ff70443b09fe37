"""notebooks/lap_times.ipynb executed headless (nbclient) against a short simulated practice."""

import shutil
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from fastrlap.actions import to_action
from fastrlap.cli import compose
from fastrlap.practice.demo_lap import record_demo_lap
from fastrlap.practice.learner import SyncLearner
from fastrlap.practice.run import open_run_dir, read_laps, save_config, trajectories_path
from fastrlap.practice.session import practice
from fastrlap.practice.trajectory import read_trajectory
from fastrlap.sim.drivers import OracleDriver
from fastrlap.sim.track import load_track
from fastrlap.types import Pose
from fastrlap.vehicle.sim import SimVehicle
from tests.tiny_practice import TINY_AGENT

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "lap_times.ipynb"
TINY = [
    *TINY_AGENT,
    "agent.utd_ratio=2",
    "agent.replay_flush_every=50",
    "practice.checkpoint_every=50",
    "practice.summary_every=25",
]
TICKS = 240  # two laps of the oval at the oracle's pace (the first from a standing start)


@pytest.fixture(scope="module")
def practised(tmp_path_factory):
    """A run directory written by `practice()` itself; the policy's actions come from the oracle
    driver so that laps complete within a few hundred ticks (no learning needed for a report)."""
    cfg = compose(["track=oval", *TINY, "practice.start_training=1000000", f"practice.max_ticks={TICKS}"])
    run = open_run_dir(tmp_path_factory.mktemp("nb") / "20260101-120000-oval", create=True)
    save_config(run, cfg)
    track = load_track("oval")
    assert record_demo_lap(cfg, run, track) == 0
    car = SimVehicle(track, cfg.vehicle, seed=0)
    driver = OracleDriver(track, car.params)

    def oracle_act(self, obs, deterministic):
        st = car.last_reading.state
        cmd = driver(Pose(st.x, st.y, st.yaw), st.vx)
        return to_action(cmd.speed, cmd.steer, cfg.vehicle).astype(np.float32)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(SyncLearner, "act", oracle_act)
        summary = practice(run, car, cfg, oracle_lap=8.0, status=lambda s: None)
    car.close()
    return run, summary


def test_practice_records_every_tick_with_its_lap(practised):
    run, summary = practised
    tr = read_trajectory(trajectories_path(run))
    laps = read_laps(run)
    assert len(laps) >= 2 and len(tr) == summary.ticks == TICKS
    assert np.all(np.diff(tr.t) > 0) and np.all(np.diff(tr.lap) >= 0)
    assert tr.lap[0] == 1 and tr.lap[-1] == len(laps) + 1
    for row in laps:  # the lap's ticks span its lap time (10 Hz) and end where laps.csv says
        ticks = tr.lap_ticks(row.lap, row.practice_time_s, row.lap_time_s)
        assert abs(len(ticks) * 0.1 - row.lap_time_s) <= 0.25
        assert ticks.t[-1] < row.practice_time_s <= ticks.t[-1] + 0.1 + 1e-9
        assert abs(float(np.max(ticks.speed)) - row.max_speed_mps) < 0.5
    # Positions stay on the oval (within the track's bounds).
    edges = np.vstack([load_track("oval").left_edge, load_track("oval").right_edge])
    assert np.all(tr.xy() >= edges.min(axis=0) - 0.5) and np.all(tr.xy() <= edges.max(axis=0) + 0.5)


def execute(monkeypatch, runs: str) -> nbformat.NotebookNode:
    monkeypatch.setenv("FASTRLAP_RUNS", runs)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    ).execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code)  # every cell ran
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    return nb


def outputs(nb, kind):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if kind in o.get("data", {})]


def test_notebook_shows_every_figure_for_two_runs(practised, monkeypatch, tmp_path):
    run, _ = practised
    other = tmp_path / "20260101-130000-oval"
    shutil.copytree(run.path, other)
    nb = execute(monkeypatch, f"{run.path},{other}")
    # Per run: lap table, lap times, collisions, trajectories; then the comparison of both.
    assert len(outputs(nb, "image/png")) == 2 * 4 + 1
    markdown = "\n".join(o["data"]["text/markdown"] for o in outputs(nb, "text/markdown"))
    assert markdown.count("★") == 2 and "| oracle lap | 8.00 s |" in markdown
    assert run.path.name in markdown and other.name in markdown


def test_notebook_says_clearly_when_the_run_directory_is_missing(monkeypatch, tmp_path):
    nb = execute(monkeypatch, str(tmp_path / "no-such-run"))
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "Nothing to show" in text and str(tmp_path / "no-such-run") in text and "run_dir=" in text
    assert not outputs(nb, "image/png")
