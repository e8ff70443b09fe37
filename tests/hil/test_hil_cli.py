"""`fastrlap record-demo vehicle=hil` and `fastrlap practice vehicle=hil`: the product's commands
driving the simulated car through the real firmware, on a small track so the demo lap is short."""
from __future__ import annotations

import json

import numpy as np
import pytest

from fastrlap.cli import main

pytestmark = pytest.mark.hil

SMALL = """\
name: small
width: 1.6
walls: none
start: 0.0
centerline: [[-2, -2.2], [0, -2.2], [2, -2.2], [3.8, -1.2], [3.8, 1.2], [2, 2.2], [0, 2.2], [-2, 2.2], [-3.8, 1.2], [-3.8, -1.2]]
"""


def test_record_demo_and_practice_through_the_real_serial_path(firmware_build, tmp_path, capsys):
    track = tmp_path / "small.yaml"
    track.write_text(SMALL)
    run = tmp_path / "run"
    common = ["vehicle=hil", f"track={track}", f"run_dir={run}"]
    assert main(["record-demo", *common, "course.demo_speed=2.0"]) == 0
    demo = np.load(run / "demo.npz")
    assert json.loads(str(demo["meta"]))["closed"]
    t = demo["t"]
    assert np.diff(t).max() < 0.15 and abs(np.diff(t).mean() - 0.1) < 0.01  # one sample per 10 Hz tick of wall time
    err = np.hypot(*(demo["pose"][:, :2] - demo["true_pose"][:, :2]).T)
    assert err.max() < 0.25, err.max()  # the estimator (UDP poses + odometry) follows the simulated car
    moving = demo["command"][:, 0] > 1.0
    assert abs(np.median(demo["wheel_speed"][moving] - demo["command"][moving, 0])) < 0.2  # the host's speed loop
    capsys.readouterr()

    assert main(["practice", *common, "practice.max_ticks=30", "practice.dashboard=false", "wandb.mode=disabled"]) == 0
    out = capsys.readouterr().out
    assert "wall clock, firmware under simavr" in out
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    assert events[-1]["event"] == "end" and events[-1]["ticks"] == 30
    assert not [e for e in events if e["event"] == "mode" and e["new"] in ("STOPPED", "ERRORED")], events
