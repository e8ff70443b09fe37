"""A disk that fills up during practice, and a run directory that turned read-only.

Both are injected where the writes reach the operating system (fsync of a temporary file, and
opening a file for writing), so the product's own write path is what is tested.
"""

import builtins
import errno
import json
import os
import shutil

from fastrlap.cli import main


def _files(run):
    return sorted(str(p.relative_to(run)) for p in run.rglob("*") if p.is_file())


def test_a_full_disk_ends_practice_in_one_line_leaves_no_partial_files_and_counts_the_loss(
    tmp_path, demo_run, tiny_overrides, monkeypatch, capsys
):
    run = tmp_path / "run"
    shutil.copytree(demo_run.path, run)
    real_fsync = os.fsync
    full = {"now": False}

    def fsync(fd):
        name = os.readlink(f"/proc/self/fd/{fd}")
        if name.endswith("chunk_000010.npz.tmp"):
            full["now"] = True  # the disk fills up during practice (the demo fills chunks 0-8)
        if full["now"] and name.endswith(".tmp"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    rc = main(["practice", "track=oval", f"run_dir={run}", *tiny_overrides, "practice.max_ticks=400"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1, err
    assert "is full" in err[0] and "could not be saved" in err[0] and f"resume={run}" in err[0]
    assert not [f for f in _files(run) if f.endswith(".tmp")]
    end = json.loads((run / "events.jsonl").read_text().splitlines()[-1])
    assert end["event"] == "end" and end["unsaved_transitions"] > 0
    assert f"{end['unsaved_transitions']} transitions" in err[0]
    on_disk = sum(c["count"] for c in json.loads((run / "replay" / "manifest.json").read_text())["chunks"])

    monkeypatch.undo()  # space freed: the run continues with everything saved before the disk filled
    assert main(["practice", f"resume={run}", "practice.max_ticks=2"]) == 0
    assert f"loaded {on_disk} transitions" in capsys.readouterr().out


def test_a_read_only_run_directory_on_resume_is_one_line_and_changes_nothing(
    tmp_path, demo_run, tiny_overrides, monkeypatch, capsys
):
    run = tmp_path / "run"
    shutil.copytree(demo_run.path, run)
    assert main(["practice", "track=oval", f"run_dir={run}", *tiny_overrides, "practice.max_ticks=5"]) == 0
    before = {f: (run / f).read_bytes() for f in _files(run)}
    real_open = builtins.open

    def read_only(file, mode="r", *args, **kwargs):
        if any(c in mode for c in "wax+") and str(file).startswith(str(run)):
            raise OSError(errno.EROFS, "Read-only file system", str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", read_only)
    capsys.readouterr()
    rc = main(["practice", f"resume={run}", "practice.max_ticks=2"])
    err = capsys.readouterr().err.strip().splitlines()
    monkeypatch.undo()
    assert rc == 1 and len(err) == 1, err
    assert "not writable" in err[0] and str(run) in err[0]
    assert {f: (run / f).read_bytes() for f in _files(run)} == before
