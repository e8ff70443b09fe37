"""Every file of a real run directory x every kind of damage, on each command that reads it.

One tiny practice run is made per module; each case copies it, damages one file, runs the
command in-process and checks the guarantee: the command either recovers (and says what it
dropped or rebuilt, where something was) or refuses with one line naming the damaged file —
never a traceback, and no stored transition is deleted along the way.
"""

import io
import json
import shutil

import numpy as np
import pytest
import torch

from fastrlap.agent.sac import read_checkpoint, write_checkpoint
from fastrlap.cli import main
from fastrlap.practice.run import RunLog, open_run_dir
from fastrlap.types import LapRow

# file -> (commands that read it, damage kinds that apply: "version" only where the file has one)
FILES = {
    "config.yaml": (("practice", "report"), ("truncate", "flip", "delete", "torn")),
    "demo.npz": (("practice", "evaluate", "report"), ("truncate", "flip", "delete", "torn", "version")),
    "checkpoints.json": (("practice", "evaluate", "report"), ("truncate", "flip", "delete", "torn", "version")),
    "laps.csv": (("practice", "report"), ("truncate", "flip", "delete", "torn")),
    "events.jsonl": (("practice",), ("truncate", "flip", "delete", "torn")),
    "summary.json": (("practice", "report"), ("truncate", "flip", "delete", "torn")),
    "agent/learner.pt": (("practice", "evaluate"), ("truncate", "flip", "delete", "torn", "version")),
    "agent/loop_state.json": (("practice",), ("truncate", "flip", "delete", "torn", "version")),
    "replay/manifest.json": (("practice",), ("truncate", "flip", "delete", "torn", "version")),
    "replay/chunk_000000.npz": (("practice",), ("truncate", "flip", "delete", "torn")),
    "trajectories/chunk-000000.npz": (("practice", "report"), ("truncate", "flip", "delete", "torn", "version")),
}

# What a recovery must say it did, where it dropped or rebuilt something.
REPORTED = {
    ("laps.csv", "truncate"): "laps.csv: dropped a torn last record",
    ("laps.csv", "torn"): "laps.csv: dropped a torn last record",
    ("events.jsonl", "truncate"): "events.jsonl: dropped a torn last record",
    ("events.jsonl", "torn"): "events.jsonl: dropped a torn last record",
    ("agent/learner.pt", "delete"): "no learner.pt",
    ("replay/manifest.json", "truncate"): "manifest.json was missing or unreadable, rebuilt",
    ("replay/manifest.json", "flip"): "manifest.json was missing or unreadable, rebuilt",
    ("replay/manifest.json", "delete"): "manifest.json was missing or unreadable, rebuilt",
    ("replay/manifest.json", "torn"): "manifest.json was missing or unreadable, rebuilt",
    ("replay/chunk_000000.npz", "delete"): "lost missing chunk chunk_000000.npz",
}

CASES = [(f, c, k) for f, (commands, kinds) in FILES.items() for c in commands for k in kinds]


@pytest.fixture(scope="module")
def practised(demo_run, tmp_path_factory, tiny_overrides):
    """A run directory after a few seconds of practice, with one lap logged."""
    run = tmp_path_factory.mktemp("practised") / "run"
    shutil.copytree(demo_run.path, run)
    assert main(["practice", "track=oval", f"run_dir={run}", *tiny_overrides, "practice.max_ticks=60"]) == 0
    log = RunLog(open_run_dir(run))  # a lap row, so laps.csv damage has a record to hit
    log.lap(
        LapRow(
            lap=1,
            practice_time_s=5.5,
            lap_time_s=5.25,
            collisions=0,
            recoveries=0,
            mean_speed_mps=1.0412,
            max_speed_mps=2.5,
        )
    )
    log.close()
    for name in FILES:
        assert (run / name).is_file(), name
    return run


def _set_version(path, version):
    if path.suffix == ".json":
        data = json.loads(path.read_text())
        data["format_version" if "format_version" in data else "version"] = version
        path.write_text(json.dumps(data))
    elif path.suffix == ".npz":
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
        arrays["format_version"] = np.array(version)
        with open(path, "wb") as f:
            np.savez(f, **arrays)
    else:  # learner.pt: a checkpoint of an agent of another shape (another encoder, an older layout)
        state = read_checkpoint(path)
        state["dims"] = (3, 2, 1)
        buf = io.BytesIO()
        torch.save(state, buf)
        write_checkpoint(path, buf.getvalue())


def damage(path, kind):
    data = path.read_bytes()
    if kind == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif kind == "flip":
        b = bytearray(data)
        start, n = len(b) // 4, min(256, len(b) // 2)
        for k in range(start, start + n):
            b[k] ^= 0xFF
        path.write_bytes(bytes(b))
    elif kind == "delete":
        path.unlink()
    elif kind == "torn":  # a kill in the middle of writing the last line
        body = data.rstrip(b"\n")
        last = body.rfind(b"\n") + 1
        path.write_bytes(body[: last + (len(body) - last) // 2].rstrip(b"\n"))
    else:
        _set_version(path, 99)


def _command(command, run, overrides):
    if command == "practice":
        return ["practice", f"resume={run}", "practice.max_ticks=2"]
    if command == "evaluate":
        return ["evaluate", "track=oval", f"run_dir={run}", "laps=1", *overrides]
    return ["report", f"run_dir={run}"]


@pytest.mark.parametrize("name, command, kind", CASES, ids=[f"{c}-{f}-{k}" for f, c, k in CASES])
def test_damaged_file_is_recovered_with_a_report_or_refused_in_one_line(
    practised, tiny_overrides, tmp_path, capsys, monkeypatch, name, command, kind
):
    if command == "report":  # reading the run is under test here, not drawing: skip the slow PNG encoding
        from matplotlib.figure import Figure

        monkeypatch.setattr(Figure, "savefig", lambda fig, path, **kw: open(path, "wb").close())
    run = tmp_path / "run"
    shutil.copytree(practised, run)
    damage(run / name, kind)
    chunks_before = {p.name for p in (run / "replay").glob("chunk_*.npz")}
    capsys.readouterr()
    rc = main(_command(command, run, tiny_overrides))  # any exception escaping here is the traceback we forbid
    out = capsys.readouterr()
    text = out.out + out.err
    assert "Traceback" not in text
    if rc != 0:
        lines = out.err.strip().splitlines()
        assert len(lines) == 1, out.err
        assert name.split("/")[-1] in lines[0], lines[0]
    else:
        expected = REPORTED.get((name, kind)) if command == "practice" else None
        if expected is not None:
            assert expected in text, text
    assert rc in (0, 1) if command != "evaluate" else rc == 1
    kept = {p.name for p in (run / "replay").glob("chunk_*.npz")}
    assert chunks_before - {name.split("/")[-1]} <= kept, "stored transitions were deleted"
