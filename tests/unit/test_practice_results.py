import json

from fastrlap.practice.results import stuck_resets
from fastrlap.practice.run import RunDir


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
