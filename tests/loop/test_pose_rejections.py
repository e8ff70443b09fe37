"""Refused external poses during practice: counted in events.jsonl and said on the status line."""

import json
import shutil

from fastrlap.practice.run import open_run_dir
from fastrlap.practice.session import practice
from fastrlap.sim.track import load_track
from fastrlap.vehicle.pose_auth import PoseRejections
from fastrlap.vehicle.sim import SimVehicle


class UnderAttack(SimVehicle):
    """The simulator, with a pose receiver that refuses three forged datagrams per control tick."""

    ticks = 0

    def observe(self):
        self.ticks += 1
        return super().observe()

    def pose_rejections(self) -> PoseRejections:
        return PoseRejections(unauthenticated=3 * self.ticks, replayed=1)


def test_refused_poses_are_logged_with_their_counts_at_most_once_a_second(tmp_path, demo_run, tiny):
    path = tmp_path / "run"
    shutil.copytree(demo_run.path, path)
    cfg = tiny("oval", "practice.max_ticks=25")
    messages = []
    practice(open_run_dir(path), UnderAttack(load_track("oval"), cfg.vehicle, seed=0), cfg, status=messages.append)
    events = [json.loads(line) for line in (path / "events.jsonl").read_text().splitlines()]
    rejected = [e for e in events if e["event"] == "pose_rejected"]
    # 25 ticks of 0.1 s: one event a second, not one per tick
    assert [(e["unauthenticated"], e["replayed"], e["stale"], e["malformed"]) for e in rejected] == [
        (3, 1, 0, 0),
        (33, 1, 0, 0),
        (63, 1, 0, 0),
    ]
    assert rejected[0]["detail"] == "external poses rejected: 3 unauthenticated, 1 replayed"
    assert rejected[0]["detail"] in messages
