"""Replay buffer: storage layout, sampling, capacity, memory bound, crash-safe persistence."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

from fastrlap.agent import replay as replay_mod
from fastrlap.agent.replay import ReplayBuffer, ReplayFormatError
from fastrlap.errors import FastrlapError
from fastrlap.types import Transition

E, P, A = 6, 3, 2


def make_episode_stream(n: int, episode_len: int = 5, seed: int = 0):
    """Transitions where s'_t == s_{t+1} inside an episode, as a control loop produces them."""
    rng = np.random.default_rng(seed)
    out = []
    obs = None
    for t in range(n):
        if obs is None:
            obs = (
                rng.normal(size=E).astype(np.float32),
                rng.normal(size=P).astype(np.float32),
                np.full(A, -1.0, np.float32),
                np.full(A, 1.0, np.float32),
            )
        nxt = (
            rng.normal(size=E).astype(np.float32),
            rng.normal(size=P).astype(np.float32),
            np.full(A, -0.5, np.float32) + t % 3 * 0.1,
            np.full(A, 0.5, np.float32),
        )
        end = (t + 1) % episode_len == 0
        out.append(
            Transition(
                embedding=obs[0],
                proprio=obs[1],
                action_lo=obs[2],
                action_hi=obs[3],
                action=rng.uniform(-0.5, 0.5, A).astype(np.float32),
                reward=float(t),
                next_embedding=nxt[0],
                next_proprio=nxt[1],
                next_action_lo=nxt[2],
                next_action_hi=nxt[3],
                done=end and t % 2 == 0,
                mask=0.0 if end and t % 2 == 0 else 1.0,
                source="demo" if t < 3 else "practice",
            )
        )
        obs = None if end else nxt
    return out


def assert_same(tr: Transition, ref: Transition):
    for name in ("embedding", "next_embedding"):
        np.testing.assert_allclose(getattr(tr, name), getattr(ref, name), rtol=1e-3, atol=1e-3)  # float16
    for name in ("proprio", "action", "action_lo", "action_hi", "next_proprio", "next_action_lo", "next_action_hi"):
        np.testing.assert_array_equal(getattr(tr, name), getattr(ref, name))
    assert (tr.reward, tr.done, tr.mask, tr.source) == (ref.reward, ref.done, ref.mask, ref.source)


def test_stored_transitions_read_back_and_share_observation_rows():
    stream = make_episode_stream(20, episode_len=5)
    buf = ReplayBuffer(E, P, A, capacity=100)
    for tr in stream:
        buf.insert(tr)
    assert len(buf) == 20
    for k, ref in enumerate(stream):
        assert_same(buf.transition(k), ref)
    # 20 transitions in 4 episodes: 20 next observations + 4 episode starts.
    assert buf._n_obs == 24
    assert buf.count("demo") == 3 and buf.count("practice") == 17


def test_capacity_evicts_oldest_first():
    stream = make_episode_stream(50, episode_len=7)
    buf = ReplayBuffer(E, P, A, capacity=16)
    for tr in stream:
        buf.insert(tr)
    assert len(buf) <= 16 and len(buf) >= 12
    kept = len(buf)
    for k in range(kept):
        assert_same(buf.transition(k), stream[50 - kept + k])


def test_sample_is_uniform_consistent_and_reuses_preallocated_tensors():
    stream = make_episode_stream(40, episode_len=6)
    buf = ReplayBuffer(E, P, A, capacity=64, seed=1)
    for tr in stream:
        buf.insert(tr)
    batch = buf.sample(4000)
    assert batch.embedding.dtype == torch.float32 and batch.embedding.shape == (4000, E)
    # Every sampled row is one whole stored transition (fields from the same index).
    t = batch.reward.long()
    for j in range(0, 4000, 97):
        ref = stream[int(t[j])]
        np.testing.assert_array_equal(batch.next_proprio[j].numpy(), ref.next_proprio)
        np.testing.assert_array_equal(batch.action[j].numpy(), ref.action)
        np.testing.assert_array_equal(batch.action_lo[j].numpy(), ref.action_lo)
        assert float(batch.mask[j]) == ref.mask
    counts = np.bincount(t.numpy(), minlength=40)
    assert counts.min() > 50 and counts.max() < 160  # 100 expected per transition
    again = buf.sample(4000)
    assert again.embedding.data_ptr() == batch.embedding.data_ptr()


def test_bad_transitions_are_rejected_with_one_line_errors():
    buf = ReplayBuffer(E, P, A, capacity=8)
    good = make_episode_stream(1)[0]
    bad_nan = Transition(**{**good.__dict__, "reward": float("nan")})
    bad_shape = Transition(**{**good.__dict__, "proprio": np.zeros(P + 1, np.float32)})
    bad_emb = Transition(**{**good.__dict__, "embedding": np.full(E, np.inf, np.float32)})
    for bad, what in ((bad_nan, "reward"), (bad_shape, "proprio"), (bad_emb, "embedding")):
        with pytest.raises(ValueError, match=what) as err:
            buf.insert(bad)
        assert "\n" not in str(err.value)
    assert len(buf) == 0
    with pytest.raises(ValueError, match="empty"):
        buf.sample(4)


def test_200k_car_transitions_fit_in_one_gigabyte():
    buf = ReplayBuffer(embedding_dim=1568, proprio_dim=11, action_dim=2, capacity=200_000)
    assert buf.nbytes <= 1_000_000_000, buf.nbytes / 1e9


def test_persistence_round_trip_and_flush_interval(tmp_path):
    stream = make_episode_stream(57, episode_len=9)
    buf = ReplayBuffer(E, P, A, capacity=1000, directory=tmp_path, flush_every=10)
    for tr in stream:
        buf.insert(tr)
    restored = ReplayBuffer(E, P, A, capacity=1000, directory=tmp_path, flush_every=10)
    report = restored.load()
    assert report.loaded == 50 and report.chunks == 5 and report.dropped_files == ()
    for k in range(50):
        assert_same(restored.transition(k), stream[k])
    # Resuming continues the chunk numbering and keeps everything on the next load.
    for tr in stream[50:]:
        restored.insert(tr)
    restored.flush()
    again = ReplayBuffer(E, P, A, capacity=1000, directory=tmp_path)
    assert again.load().loaded == 57


def test_crash_mid_flush_keeps_every_completed_flush(tmp_path, monkeypatch):
    stream = make_episode_stream(35, episode_len=4)
    buf = ReplayBuffer(E, P, A, capacity=1000, directory=tmp_path, flush_every=10)
    for tr in stream[:20]:
        buf.insert(tr)
    real_replace = os.replace

    def die_before_manifest(src, dst):
        if str(dst).endswith(replay_mod.MANIFEST):
            raise KeyboardInterrupt("simulated kill between the chunk and the manifest")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", die_before_manifest)
    with pytest.raises(KeyboardInterrupt):
        for tr in stream[20:]:
            buf.insert(tr)
    monkeypatch.setattr(os, "replace", real_replace)
    (tmp_path / "chunk_000003.npz.tmp").write_bytes(b"PK\x03\x04 half a zip")  # a torn write
    restored = ReplayBuffer(E, P, A, capacity=1000, directory=tmp_path)
    report = restored.load()
    assert report.loaded == 20
    assert set(report.dropped_files) == {"chunk_000002.npz", "chunk_000003.npz.tmp", "manifest.json.tmp"}
    assert "dropped incomplete flush" in report.summary()
    for k in range(20):
        assert_same(restored.transition(k), stream[k])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chunk_000000.npz", "chunk_000001.npz", "manifest.json"]


def test_load_keeps_the_newest_within_capacity_and_prunes_old_chunks(tmp_path):
    stream = make_episode_stream(60, episode_len=60)
    buf = ReplayBuffer(E, P, A, capacity=25, directory=tmp_path, flush_every=10)
    for tr in stream:
        buf.insert(tr)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert len(manifest["chunks"]) == 3 and len(list(tmp_path.glob("chunk_*.npz"))) == 3
    restored = ReplayBuffer(E, P, A, capacity=25, directory=tmp_path)
    report = restored.load()
    assert report.loaded == 25 and report.skipped_for_capacity == 5
    assert_same(restored.transition(0), stream[35])
    assert_same(restored.transition(24), stream[59])


def test_mismatched_directory_is_a_clear_error(tmp_path):
    buf = ReplayBuffer(E, P, A, capacity=100, directory=tmp_path, flush_every=2)
    for tr in make_episode_stream(4):
        buf.insert(tr)
    with pytest.raises(ReplayFormatError, match="dims") as err:
        ReplayBuffer(E + 1, P, A, capacity=100, directory=tmp_path).load()
    assert "\n" not in str(err.value)


def _flushed(tmp_path, n=30, flush_every=10):
    stream = make_episode_stream(n, episode_len=7)
    buf = ReplayBuffer(E, P, A, capacity=1000, directory=tmp_path, flush_every=flush_every)
    for tr in stream:
        buf.insert(tr)
    return stream


@pytest.mark.parametrize("damage", ["delete", "truncate", "not json", "no chunk list"])
def test_a_lost_or_damaged_manifest_is_rebuilt_from_the_chunks_and_nothing_is_deleted(tmp_path, damage):
    stream = _flushed(tmp_path)
    manifest = tmp_path / "manifest.json"
    if damage == "delete":
        manifest.unlink()
    elif damage == "truncate":
        manifest.write_text(manifest.read_text()[:25])
    elif damage == "not json":
        manifest.write_bytes(b"\xff\xfe" * 20)
    else:
        manifest.write_text('{"version": 1, "dims": [6, 3, 2]}')
    restored = ReplayBuffer(E, P, A, capacity=1000, directory=tmp_path)
    report = restored.load()
    assert report.loaded == 30 and report.rebuilt_manifest and report.dropped_files == ()
    assert "rebuilt from the chunk files" in report.summary()
    for k in range(30):
        assert_same(restored.transition(k), stream[k])
    assert len(list(tmp_path.glob("chunk_*.npz"))) == 3
    assert ReplayBuffer(E, P, A, capacity=1000, directory=tmp_path).load().rebuilt_manifest is False


def test_a_deleted_chunk_is_reported_lost_and_the_rest_loads(tmp_path):
    stream = _flushed(tmp_path)
    (tmp_path / "chunk_000001.npz").unlink()
    report = ReplayBuffer(E, P, A, capacity=1000, directory=tmp_path).load()
    assert report.loaded == 20 and report.missing_chunks == ("chunk_000001.npz (10 transitions)",)
    assert "lost missing chunk chunk_000001.npz (10 transitions)" in report.summary()
    again = ReplayBuffer(E, P, A, capacity=1000, directory=tmp_path)
    assert again.load().missing_chunks == ()  # the manifest now says what is there
    assert_same(again.transition(10), stream[20])


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_damaged_chunk_is_one_line_naming_it_and_nothing_is_deleted(tmp_path, damage):
    _flushed(tmp_path)
    chunk = tmp_path / "chunk_000001.npz"
    data = bytearray(chunk.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:
        for k in range(200, 456):
            data[k] ^= 0xFF
    chunk.write_bytes(bytes(data))
    with pytest.raises(ReplayFormatError) as err:
        ReplayBuffer(E, P, A, capacity=1000, directory=tmp_path).load()
    assert isinstance(err.value, FastrlapError)
    assert "\n" not in str(err.value) and str(chunk) in str(err.value) and "move chunk_000001.npz out" in str(err.value)
    assert len(list(tmp_path.glob("chunk_*.npz"))) == 3


def test_a_failed_flush_keeps_its_transitions_pending_and_writes_them_once_later(tmp_path, monkeypatch):
    from fastrlap.storage import StorageError

    stream = make_episode_stream(25, episode_len=7)
    buf = ReplayBuffer(E, P, A, capacity=1000, directory=tmp_path, flush_every=10)
    for tr in stream[:10]:
        buf.insert(tr)
    real = replay_mod.atomic_write

    def full_for_manifests(path, write):
        if path.name == "manifest.json":
            raise StorageError(f"cannot write {path}: disk full")
        return real(path, write)

    monkeypatch.setattr(replay_mod, "atomic_write", full_for_manifests)
    with pytest.raises(StorageError):
        for tr in stream[10:20]:
            buf.insert(tr)
    assert buf.unsaved == 10
    monkeypatch.undo()
    for tr in stream[20:]:
        buf.insert(tr)
    buf.flush()
    restored = ReplayBuffer(E, P, A, capacity=1000, directory=tmp_path)
    assert restored.load().loaded == 25 and buf.unsaved == 0
    for k in range(25):
        assert_same(restored.transition(k), stream[k])


WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    from fastrlap.agent.replay import ReplayBuffer
    from fastrlap.types import Transition
    buf = ReplayBuffer(4, 2, 2, capacity=100_000, directory=sys.argv[1], flush_every=25)
    t = 0
    while True:
        x = np.full(4, t, np.float32)
        buf.insert(Transition(embedding=x, proprio=np.zeros(2, np.float32), action=np.zeros(2, np.float32),
                              action_lo=-np.ones(2, np.float32), action_hi=np.ones(2, np.float32), reward=float(t),
                              next_embedding=x + 1, next_proprio=np.zeros(2, np.float32),
                              next_action_lo=-np.ones(2, np.float32), next_action_hi=np.ones(2, np.float32),
                              done=False))
        t += 1
""")


def test_kill_9_loses_at_most_one_flush_interval(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    data = tmp_path / "replay"
    proc = subprocess.Popen([sys.executable, str(script), str(data)])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, "the writer process died on its own"
            m = data / "manifest.json"
            if m.exists() and len(json.loads(m.read_text())["chunks"]) >= 8:
                break
            time.sleep(0.02)
        else:
            pytest.fail("writer never flushed 8 chunks")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    buf = ReplayBuffer(4, 2, 2, capacity=100_000, directory=data)
    report = buf.load()
    assert report.loaded >= 200 and report.loaded % 25 == 0
    for k in range(0, report.loaded, 7):
        tr = buf.transition(k)
        assert tr.reward == k and tr.embedding[0] == k and tr.next_embedding[0] == k + 1


def _rows(batch) -> np.ndarray:
    """Which stored transitions a batch of `make_episode_stream` holds (its reward is the index)."""
    return batch.reward.long().numpy()


def test_demo_share_fixes_the_fraction_of_demo_rows_in_every_minibatch():
    stream = make_episode_stream(40, episode_len=6)  # transitions 0-2 are demo, 3-39 practice
    buf = ReplayBuffer(E, P, A, capacity=64, seed=3)
    for tr in stream:
        buf.insert(tr)
    demo_rows = 0
    for _ in range(20):
        rows = _rows(buf.sample(512, demo_share=0.25))
        demo_rows += int((rows < 3).sum())
        # Spread evenly: each of 8 minibatches of 64 (a UTD block) gets the share, not just the whole.
        assert [int((chunk < 3).sum()) for chunk in np.split(rows, 8)] == [16] * 8
    assert demo_rows == 20 * 128
    # Uniform inside each source.
    rows = np.concatenate([_rows(buf.sample(4000, demo_share=0.5)) for _ in range(5)])
    demo_counts = np.bincount(rows[rows < 3], minlength=3)
    practice_counts = np.bincount(rows[rows >= 3] - 3, minlength=37)
    assert demo_counts.min() > 0.9 * 10000 / 3 and demo_counts.max() < 1.1 * 10000 / 3
    assert practice_counts.min() > 0.7 * 10000 / 37 and practice_counts.max() < 1.3 * 10000 / 37


def test_demo_share_zero_draws_exactly_the_uniform_sampler_rows():
    stream = make_episode_stream(40, episode_len=6)
    buf = ReplayBuffer(E, P, A, capacity=64, seed=7)
    for tr in stream:
        buf.insert(tr)
    expected = torch.randint(0, 40, (256,), generator=torch.Generator().manual_seed(7)).numpy()
    np.testing.assert_array_equal(_rows(buf.sample(256, demo_share=0.0)), expected)
    np.testing.assert_array_equal(
        _rows(buf.sample(256)), torch.randint(0, 40, (512,), generator=torch.Generator().manual_seed(7))[256:]
    )


@pytest.mark.parametrize("source", ["demo", "practice"])
def test_demo_share_falls_back_to_the_only_source_stored(source):
    buf = ReplayBuffer(E, P, A, capacity=64)
    for tr in make_episode_stream(20):
        buf.insert(dataclasses.replace(tr, source=source))
    rows = _rows(buf.sample(1000, demo_share=0.3))
    assert np.bincount(rows, minlength=20).min() > 20  # every stored transition, about 50 times each
    with pytest.raises(ValueError, match="demo_share"):
        buf.sample(8, demo_share=1.5)


def test_demo_share_never_draws_an_evicted_transition():
    stream = make_episode_stream(50, episode_len=7)  # the 3 demo transitions are evicted first
    buf = ReplayBuffer(E, P, A, capacity=16)
    mixed = []
    for k, tr in enumerate(stream):
        buf.insert(tr)
        if k >= 3:
            rows = _rows(buf.sample(64, demo_share=0.5))
            oldest = int(buf.transition(0).reward)
            assert rows.min() >= oldest and rows.max() <= k
            mixed.append(bool((rows < 3).any()))
    assert mixed[0] and not mixed[-1]
    assert buf.count("demo") == 0
