"""Whole-or-nothing writes and torn-line repair of append-only logs."""

import errno
import os

import pytest

from fastrlap.errors import FastrlapError
from fastrlap.storage import AppendLog, StorageError, atomic_write, atomic_write_text, complete_lines


def _fail_fsync_of_tmp_files(monkeypatch, err: int) -> None:
    """The disk fills up (or turns read-only) under every temporary file being written."""
    real_fsync = os.fsync

    def fsync(fd):
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".tmp"):
            raise OSError(err, os.strerror(err))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)


@pytest.mark.parametrize("err, words", [(errno.ENOSPC, "full"), (errno.EROFS, "not writable")])
def test_a_failed_write_keeps_the_old_file_leaves_no_tmp_and_is_one_line(tmp_path, monkeypatch, err, words):
    target = tmp_path / "learner.pt"
    atomic_write_text(target, "old")
    _fail_fsync_of_tmp_files(monkeypatch, err)
    with pytest.raises(StorageError) as info:
        atomic_write(target, lambda f: f.write(b"x" * 100_000))
    assert isinstance(info.value, FastrlapError)
    message = str(info.value)
    assert "\n" not in message and str(target) in message and words in message
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["learner.pt"]


def test_an_error_inside_the_writer_removes_the_tmp_file(tmp_path):
    def broken(f):
        f.write(b"half")
        raise ValueError("bad weights")

    with pytest.raises(ValueError):
        atomic_write(tmp_path / "a.bin", broken)
    assert list(tmp_path.iterdir()) == []


def test_a_torn_last_line_is_cut_before_appending_and_reported(tmp_path):
    path = tmp_path / "laps.csv"
    path.write_text("lap,t\n1,10.5\n2,2")  # killed while writing lap 2
    log = AppendLog(path, header="lap,t")
    assert log.torn is not None and log.torn.text == "2,2"
    assert "dropped a torn last record" in log.torn.describe()
    log.append("2,21.25")
    log.close()
    assert path.read_text() == "lap,t\n1,10.5\n2,21.25\n"


def test_a_file_that_is_one_torn_line_keeps_nothing_of_it_and_gets_its_header(tmp_path):
    path = tmp_path / "laps.csv"
    path.write_text("lap,t" + "x" * 10_000)  # longer than one read-back window
    log = AppendLog(path, header="lap,t")
    assert log.torn is not None and len(log.torn.text) == 10_005
    log.close()
    assert path.read_text() == "lap,t\n"


def test_an_intact_log_is_left_alone(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text('{"a": 1}\n')
    log = AppendLog(path)
    log.append('{"b": 2}')
    log.close()
    assert log.torn is None and path.read_text() == '{"a": 1}\n{"b": 2}\n'


def test_readers_ignore_a_torn_last_line(tmp_path):
    path = tmp_path / "laps.csv"
    path.write_text("lap,t\n1,10.5\n2,1")
    assert complete_lines(path) == ["lap,t", "1,10.5"]
    assert complete_lines(tmp_path / "missing.csv") == []


def test_an_append_on_a_full_disk_is_one_line(tmp_path, monkeypatch):
    log = AppendLog(tmp_path / "events.jsonl")
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left")))
    with pytest.raises(StorageError, match="events.jsonl: the disk holding .* is full"):
        log.append('{"event": "lap"}')
    monkeypatch.undo()
    log.close()


def test_after_a_torn_lap_the_next_lap_is_kept_and_the_torn_one_is_not_read(tmp_path):
    from dataclasses import replace

    from fastrlap.practice.run import RunLog, open_run_dir, read_laps
    from fastrlap.types import LapRow

    run = open_run_dir(tmp_path)
    log = RunLog(run)
    row = LapRow(
        lap=1,
        practice_time_s=30.0,
        lap_time_s=30.0,
        collisions=0,
        recoveries=0,
        mean_speed_mps=1.0412,
        max_speed_mps=2.0,
    )
    log.lap(row)
    log.close()
    laps = tmp_path / "laps.csv"
    laps.write_text(laps.read_text() + "2,55.0,25.0,0,0,1.04")  # killed inside lap 2's mean speed
    assert [r.lap for r in read_laps(run)] == [1]
    log = RunLog(run)
    assert [t.path.name for t in log.torn] == ["laps.csv"]
    log.lap(replace(row, lap=2, practice_time_s=56.0, lap_time_s=26.0))
    log.event(56.0, "resume")
    log.close()
    assert [(r.lap, r.mean_speed_mps) for r in read_laps(run)] == [(1, 1.0412), (2, 1.0412)]


def test_lap_rows_are_typed_and_an_older_laps_csv_still_reads(tmp_path):
    from fastrlap.practice.run import open_run_dir, read_laps
    from fastrlap.types import LapRow

    run = open_run_dir(tmp_path)
    # as practice wrote it before rows were typed (counts written as floats by hand-edited files too)
    (tmp_path / "laps.csv").write_text(
        "lap,practice_time_s,lap_time_s,collisions,recoveries,mean_speed_mps,"
        "max_speed_mps\n1,60.5000,12.2500,2,1,3.1000,4.2000\n2,71.0,10.5,0.0,0,3.5,4.5\n"
    )
    rows = read_laps(run)
    assert rows == [LapRow(1, 60.5, 12.25, 2, 1, 3.1, 4.2), LapRow(2, 71.0, 10.5, 0, 0, 3.5, 4.5)]
    assert all(isinstance(r.collisions, int) for r in rows)
    assert rows[0].csv_line() == "1,60.5000,12.2500,2,1,3.1000,4.2000"
