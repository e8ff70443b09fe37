"""Per-tick trajectory chunks: round trip, resume numbering, crash safety, lap selection."""

import os
import signal
import subprocess
import sys
import time

import numpy as np

from fastrlap.practice.supervisor import Mode
from fastrlap.practice.trajectory import MODE_NAMES, TrajectoryRecorder, read_trajectory


def test_ticks_round_trip_through_chunks_and_a_resumed_recorder_appends(tmp_path):
    d = tmp_path / "trajectories"
    rec = TrajectoryRecorder(d)
    for k in range(5):
        rec.add(0.1 * k, k, -k, 0.5 * k, Mode.LEARNING if k < 3 else Mode.RECOVERY, 1)
    assert rec.flush().name == "chunk-000000.npz"
    assert rec.flush() is None  # nothing new, no empty chunk
    rec.add(0.5, 5.0, -5.0, 2.5, Mode.LEARNING, 2)
    rec.flush()
    again = TrajectoryRecorder(d)  # a resumed session
    again.add(0.6, 6.0, -6.0, 3.0, Mode.TELEOP, 2)
    assert again.flush().name == "chunk-000002.npz"

    tr = read_trajectory(d)
    assert len(tr) == 7
    np.testing.assert_allclose(tr.t, 0.1 * np.arange(7), atol=1e-12)
    np.testing.assert_allclose(tr.x, np.arange(7))
    np.testing.assert_allclose(tr.y, -np.arange(7))
    np.testing.assert_allclose(tr.speed, 0.5 * np.arange(7))
    assert tr.lap.tolist() == [1, 1, 1, 1, 1, 2, 2]
    assert [MODE_NAMES[m] for m in tr.mode] == ["LEARNING"] * 3 + ["RECOVERY"] * 2 + ["LEARNING", "TELEOP"]
    assert tr.mode_is(Mode.RECOVERY).tolist() == [False, False, False, True, True, False, False]


def test_missing_folder_torn_and_damaged_chunks_read_as_what_is_intact(tmp_path):
    d = tmp_path / "trajectories"
    assert len(read_trajectory(d)) == 0
    rec = TrajectoryRecorder(d)
    rec.add(1.0, 0.0, 0.0, 1.0, Mode.LEARNING, 1)
    rec.flush()
    (d / "chunk-000001.npz.tmp").write_bytes(b"PK\x03\x04 half a chunk")  # killed while writing
    (d / "chunk-000002.npz").write_bytes(b"not a zip at all")  # damaged on disk
    tr = read_trajectory(d)
    assert len(tr) == 1 and tr.t[0] == 1.0
    # The next chunk is numbered after every existing one, damaged or not.
    rec = TrajectoryRecorder(d)
    rec.add(2.0, 0.0, 0.0, 1.0, Mode.LEARNING, 1)
    assert rec.flush().name == "chunk-000003.npz"
    assert read_trajectory(d).t.tolist() == [1.0, 2.0]


def test_lap_ticks_leave_out_an_interrupted_attempt_at_the_same_lap(tmp_path):
    rec = TrajectoryRecorder(tmp_path)
    for k in range(30):  # lap 3 begun at t = 0..2.9 s, then the session was killed
        rec.add(0.1 * k, 0.0, 0.0, 1.0, Mode.LEARNING, 3)
    for k in range(50):  # resumed at t = 10 s: lap 3 driven in full, finishing at t = 14.9 s
        rec.add(10.0 + 0.1 * k, 0.0, 0.0, 1.0, Mode.LEARNING, 3)
    rec.add(15.0, 0.0, 0.0, 1.0, Mode.LEARNING, 4)
    rec.flush()
    tr = read_trajectory(tmp_path)
    assert len(tr.lap_ticks(3)) == 80
    lap3 = tr.lap_ticks(3, end_time=14.9, lap_time=4.9)
    assert len(lap3) == 50 and lap3.t[0] == 10.0
    assert len(tr.lap_ticks(4)) == 1


WRITER = """
import sys
from fastrlap.practice.supervisor import Mode
from fastrlap.practice.trajectory import TrajectoryRecorder
rec = TrajectoryRecorder(sys.argv[1])
k = 0
while True:
    for _ in range(200):
        rec.add(0.1 * k, float(k), 0.0, 1.0, Mode.LEARNING, 1)
        k += 1
    rec.flush()
    print(k, flush=True)
"""


def test_kill_9_while_writing_leaves_only_whole_chunks(tmp_path):
    d = tmp_path / "trajectories"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(d)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "200"  # at least one chunk is on disk
        time.sleep(0.3)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    chunks = sorted(d.glob("chunk-*.npz"))
    tr = read_trajectory(d)
    # Every renamed chunk is whole: the ticks are consecutive, 200 per chunk, none missing.
    assert len(tr) == 200 * len(chunks) and len(tr) >= 200
    np.testing.assert_allclose(tr.x, np.arange(len(tr)))
