"""`fastrlap practice vehicle=hil learner=tcp://...`: the learner link does not depend on the
vehicle; the car behind the real firmware under simavr feeds a learner in another process."""

from __future__ import annotations

import json

import pytest

from fastrlap.cli import main

pytestmark = pytest.mark.hil


def test_practice_on_the_simulated_board_with_a_learner_in_another_process(
    firmware_build, small_track, tmp_path, capsys, learner
):
    run = tmp_path / "run"
    common = ["vehicle=hil", "console.port=0", f"track={small_track}", f"run_dir={run}"]
    assert main(["record-demo", *common, "course.demo_speed=2.0"]) == 0
    assert (
        main(
            [
                "practice",
                *common,
                *learner.overrides,
                f"learner={learner.address}",
                f"learner_link.key_file={learner.key}",
                "practice.max_ticks=30",
                "practice.dashboard=false",
                "wandb.mode=disabled",
            ]
        )
        == 0
    )
    assert "learner link up" in capsys.readouterr().out
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    assert events[-1]["event"] == "end" and events[-1]["ticks"] == 30
    learner.stop()
    lines = (run / "learner_spool.log").read_text().splitlines()
    sent = max(int(x.split()[1]) for x in lines if x.startswith(("T ", "A ")))
    assert learner.stored() == sent > 30  # the demo and the practice transitions, each once
    assert not (run / "replay").exists() or not any((run / "replay").glob("chunk_*"))
