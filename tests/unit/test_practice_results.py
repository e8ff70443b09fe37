import json

import numpy as np

from fastrlap.practice.results import stuck_resets, worst_cell_recoveries
from fastrlap.practice.run import RunDir
from fastrlap.practice.supervisor import Mode
from fastrlap.practice.trajectory import MODE_NAMES, Trajectory


def test_stuck_resets_counts_only_stuck_recoveries_inside_the_window(tmp_path):
    events = [
        {"t": 5.0, "event": "mode", "old": "LEARNING", "new": "RECOVERY", "reason": "stuck (< 0.3 m in 3 s)"},
        {"t": 6.0, "event": "mode", "old": "RECOVERY", "new": "LEARNING", "reason": "recovery done"},
        {"t": 20.0, "event": "mode", "old": "LEARNING", "new": "RECOVERY", "reason": "crash (42.4 m/s²)"},
        {"t": 59.0, "event": "mode", "old": "LEARNING", "new": "RECOVERY", "reason": "stuck (< 0.3 m in 3 s)"},
        {"t": 61.0, "event": "mode", "old": "LEARNING", "new": "RECOVERY", "reason": "stuck (< 0.3 m in 3 s)"},
    ]
    text = "\n".join(json.dumps(e) for e in events) + '\n{"t": 62.0, "ev'  # torn last line
    (tmp_path / "events.jsonl").write_text(text)
    assert stuck_resets(RunDir(tmp_path), within_s=60.0) == 2
    assert stuck_resets(RunDir(tmp_path / "missing"), within_s=60.0) == 0


def _drive(ticks: list[tuple[float, float, float, Mode]]) -> Trajectory:
    t, x, y, mode = zip(*ticks)
    return Trajectory(
        t=np.asarray(t),
        x=np.asarray(x, np.float32),
        y=np.asarray(y, np.float32),
        speed=np.zeros(len(t), np.float32),
        mode=np.asarray([MODE_NAMES.index(m.value) for m in mode], np.uint8),
        lap=np.ones(len(t), np.int32),
    )


def test_worst_cell_counts_recoveries_begun_in_one_2m_square_after_minute_5():
    L, R = Mode.LEARNING, Mode.RECOVERY
    ticks = [(10.0, 3.1, 3.1, L), (10.1, 3.1, 3.1, R)]  # before minute 5: not counted
    for k in range(4):  # the same corner, four times: each RECOVERY stretch counts once
        t0 = 400.0 + 20 * k
        ticks += [(t0, 3.0, 3.0, L), (t0 + 0.1, 3.2 + 0.1 * k, 3.5, R), (t0 + 0.2, 3.0, 3.0, R)]
    ticks += [(500.0, 9.0, 9.0, L), (500.1, 9.0, 9.0, R), (500.2, 4.5, 9.0, L)]  # elsewhere, once
    traj = _drive(ticks)
    assert len(traj.recovery_starts()) == 6
    assert worst_cell_recoveries(traj) == 4
    assert worst_cell_recoveries(traj, after_s=600.0) == 0
    assert worst_cell_recoveries(traj, after_s=0.0) == 5  # the minute-1 crash was in the same cell
