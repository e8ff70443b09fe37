"""Replay buffer of frozen-encoder embeddings, and the `Batch` record the learner consumes.

Memory: an observation (embedding in float16, proprio, the action range the actor sampled in) is
stored once and shared by the transition that leaves it and the one that arrives in it, so 200k
transitions of a 1568-d embedding fit in about 0.8 GB instead of 1.3 GB.

Persistence (run directory `replay/`): every `flush_every` transitions (and whenever the session
calls `flush()`, e.g. every few seconds of wall time) the new ones are written as one chunk file,
then an atomic manifest lists it. A chunk the manifest does not list was not yet committed;
`load()` drops it and says so. A lost or unreadable manifest is rebuilt from the chunk files. A
kill -9 loses at most one flush interval.
"""

from __future__ import annotations

import json
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from fastrlap.errors import FastrlapError
from fastrlap.storage import atomic_write
from fastrlap.types import Transition


class Batch(NamedTuple):
    """Transitions as tensors with a leading batch axis B (SB3's `ReplayBufferSamples`).

    Build it with keywords. Float32 everywhere; `mask` is 0 where the episode terminated (no
    bootstrap) and 1 otherwise, including truncations (the transition record's `mask`).
    """

    embedding: torch.Tensor  # (B, E)
    proprio: torch.Tensor  # (B, P)
    action: torch.Tensor  # (B, A)
    action_lo: torch.Tensor  # (B, A)
    action_hi: torch.Tensor  # (B, A)
    reward: torch.Tensor  # (B,)
    mask: torch.Tensor  # (B,)
    next_embedding: torch.Tensor  # (B, E)
    next_proprio: torch.Tensor  # (B, P)
    next_action_lo: torch.Tensor  # (B, A)
    next_action_hi: torch.Tensor  # (B, A)

    def split(self, n: int) -> list[Batch]:
        """n equal minibatches along the batch axis (a UTD block)."""
        size = self.reward.shape[0]
        if size % n:
            raise ValueError(
                f"batch of {size} transitions does not split into {n} equal minibatches; "
                f"sample utd_ratio * batch_size transitions"
            )
        parts = [t.chunk(n) for t in self]
        return [Batch(*fields) for fields in zip(*parts)]

    def to(self, device: torch.device) -> Batch:
        if self.reward.device == device:
            return self
        return Batch(*(t.to(device, non_blocking=True) for t in self))


SOURCES = ("demo", "practice")  # Transition.source values, stored as their index
MANIFEST = "manifest.json"
_FORMAT_VERSION = 1
_FLOAT16_MAX = 65504.0
_CHUNK = re.compile(r"^chunk_\d{6,}\.npz$")


class ReplayFormatError(FastrlapError, RuntimeError):
    """A replay directory that cannot be read as written by this code."""


@dataclass(frozen=True)
class LoadReport:
    """What `ReplayBuffer.load` recovered and what it dropped."""

    loaded: int  # transitions now in the buffer from disk
    chunks: int  # completed chunk files read
    dropped_files: tuple[str, ...]  # incomplete flushes (not in the manifest), deleted
    skipped_for_capacity: int  # older persisted transitions that no longer fit the capacity
    rebuilt_manifest: bool = False  # the manifest was missing or unreadable and was rebuilt from the chunks
    missing_chunks: tuple[str, ...] = ()  # listed in the manifest but gone from the disk

    def summary(self) -> str:
        text = f"replay: loaded {self.loaded} transitions from {self.chunks} chunks"
        if self.dropped_files:
            text += f"; dropped incomplete flush {', '.join(self.dropped_files)}"
        if self.rebuilt_manifest:
            text += f"; {MANIFEST} was missing or unreadable, rebuilt from the chunk files"
        if self.missing_chunks:
            text += f"; lost missing chunk {', '.join(self.missing_chunks)}"
        if self.skipped_for_capacity:
            text += f"; skipped {self.skipped_for_capacity} oldest transitions over capacity"
        return text


class ReplayBuffer:
    """Ring buffer of transitions with O(1) insert and uniform sampling into preallocated tensors.

    `sample(n)` returns a `Batch` whose tensors are reused by the next `sample(n)` of the same size:
    consume it (or `.clone()`) before sampling again. Not thread-safe: a learner thread and the
    control loop share it under one lock. `insert` writes a chunk to disk every `flush_every`
    transitions, synchronously.
    """

    def __init__(
        self,
        embedding_dim: int,
        proprio_dim: int,
        action_dim: int,
        capacity: int,
        directory: str | Path | None = None,
        flush_every: int = 1000,
        seed: int = 0,
    ):
        if capacity < 1 or flush_every < 1:
            raise ValueError(f"replay capacity and flush_every must be >= 1, got {capacity}, {flush_every}")
        self.dims = (embedding_dim, proprio_dim, action_dim)
        self.capacity = capacity
        # Observation rows: one per transition plus one per episode start; the margin covers
        # episodes down to 4 steps long before the oldest transitions are evicted early.
        self.obs_capacity = capacity + capacity // 4 + 2
        e, p, a, co = embedding_dim, proprio_dim, action_dim, self.obs_capacity
        self._obs_emb = torch.empty(co, e, dtype=torch.float16)
        self._obs_prop = torch.empty(co, p, dtype=torch.float32)
        self._obs_lo = torch.empty(co, a, dtype=torch.float32)
        self._obs_hi = torch.empty(co, a, dtype=torch.float32)
        self._action = torch.empty(capacity, a, dtype=torch.float32)
        self._reward = torch.empty(capacity, dtype=torch.float32)
        self._mask = torch.empty(capacity, dtype=torch.float32)
        self._done = torch.empty(capacity, dtype=torch.bool)
        self._source = torch.empty(capacity, dtype=torch.uint8)
        self._obs_idx = torch.empty(capacity, dtype=torch.int64)  # absolute observation row numbers
        self._next_idx = torch.empty(capacity, dtype=torch.int64)
        # Per source, the absolute numbers of its stored transitions in insertion order (a ring):
        # a batch that mixes sources in a set share draws uniformly inside each in O(1).
        self._by_source = [_IndexRing(capacity + 1) for _ in SOURCES]  # +1: pushed before the eviction
        self._n_obs = 0  # observation rows ever written
        self._n = 0  # transitions ever inserted
        self._start = 0  # absolute number of the oldest transition still stored
        self._last_next: tuple[np.ndarray, ...] | None = None
        self._generator = torch.Generator().manual_seed(seed)
        self._out: dict[int, tuple[Batch, torch.Tensor, torch.Tensor]] = {}
        self.directory = Path(directory) if directory is not None else None
        self.flush_every = flush_every
        self._pending: list[Transition] = []
        self._chunks: list[dict] = []
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)

    # ---- size ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._n - self._start

    @property
    def nbytes(self) -> int:
        """Bytes held by the preallocated storage."""
        tensors = [
            self._obs_emb,
            self._obs_prop,
            self._obs_lo,
            self._obs_hi,
            self._action,
            self._reward,
            self._mask,
            self._done,
            self._source,
            self._obs_idx,
            self._next_idx,
            *(ring.items for ring in self._by_source),
        ]
        return sum(t.numel() * t.element_size() for t in tensors)

    # ---- insert --------------------------------------------------------------------------

    def insert(self, tr: Transition) -> None:
        """Append one transition (O(1)); evicts the oldest when full; flushes every `flush_every`."""
        self._insert(tr)
        if self.directory is not None:
            self._pending.append(tr)
            if len(self._pending) >= self.flush_every:
                self.flush()

    def _insert(self, tr: Transition) -> None:
        obs = self._validate(tr)
        cur, nxt = obs[:4], obs[4:8]
        last = self._last_next
        if last is not None and all(np.array_equal(x, y) for x, y in zip(cur, last)):
            o = self._n_obs - 1  # the previous transition arrived here: share the row
        else:
            o = self._write_obs(*cur)
        o2 = self._write_obs(*nxt)
        self._last_next = tuple(np.array(x, copy=True) for x in nxt)
        i = self._n % self.capacity
        self._action[i] = torch.from_numpy(obs[8])
        self._reward[i] = float(tr.reward)
        self._mask[i] = float(tr.mask)
        self._done[i] = bool(tr.done)
        self._source[i] = SOURCES.index(tr.source)
        self._obs_idx[i] = o
        self._next_idx[i] = o2
        self._by_source[SOURCES.index(tr.source)].push(self._n)
        self._n += 1
        start = self._start
        self._start = max(self._start, self._n - self.capacity)
        oldest_row = self._n_obs - self.obs_capacity
        while self._start < self._n and int(self._obs_idx[self._start % self.capacity]) < oldest_row:
            self._start += 1
        if self._start > start:  # evicted: the source index rings forget those too
            for ring in self._by_source:
                ring.drop_below(self._start)

    def _write_obs(self, emb: np.ndarray, prop: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> int:
        r = self._n_obs % self.obs_capacity
        self._obs_emb[r] = torch.from_numpy(emb)
        self._obs_prop[r] = torch.from_numpy(prop)
        self._obs_lo[r] = torch.from_numpy(lo)
        self._obs_hi[r] = torch.from_numpy(hi)
        self._n_obs += 1
        return self._n_obs - 1

    def _validate(self, tr: Transition) -> list[np.ndarray]:
        e, p, a = self.dims
        fields = [
            ("embedding", e),
            ("proprio", p),
            ("action_lo", a),
            ("action_hi", a),
            ("next_embedding", e),
            ("next_proprio", p),
            ("next_action_lo", a),
            ("next_action_hi", a),
            ("action", a),
        ]
        out = []
        for name, size in fields:
            x = np.asarray(getattr(tr, name), dtype=np.float32).reshape(-1)
            if x.shape != (size,):
                raise ValueError(
                    f"transition.{name} has {x.size} values but the replay buffer stores {size}; "
                    f"build the buffer with the encoder's and the loop's dimensions"
                )
            if not np.isfinite(x).all():
                raise ValueError(f"transition.{name} contains NaN/Inf; fix its source before storing it")
            if "embedding" in name and x.size and np.abs(x).max() > _FLOAT16_MAX:
                raise ValueError(
                    f"transition.{name} exceeds the float16 range the buffer stores (|x| > 65504); "
                    f"check the encoder's output scale"
                )
            out.append(x)
        if not np.isfinite(tr.reward):
            raise ValueError("transition.reward is NaN/Inf; fix the reward before storing it")
        if tr.source not in SOURCES:
            raise ValueError(f"transition.source is {tr.source!r}; use one of {SOURCES}")
        return out

    # ---- sample --------------------------------------------------------------------------

    def sample(self, batch_size: int, demo_share: float = 0.0) -> Batch:
        """`batch_size` transitions drawn with replacement, as float32 tensors.

        With `demo_share` 0 every stored transition is equally likely. With a share s > 0 (RLPD's
        symmetric sampling, arXiv 2302.02948) a fixed fraction s of the rows are demo transitions
        and the rest practice transitions, each drawn uniformly within its source: the few hundred
        demo transitions, which show that driving on at speed pays, then keep their weight in
        every update instead of being diluted by the first minutes of slow, crashing practice.
        The demo rows are spread evenly through the batch, so each of a UTD block's minibatches
        gets the same share. A source with no stored transitions gives its rows to the other.
        """
        if len(self) == 0:
            raise ValueError("cannot sample from an empty replay buffer; insert transitions (or load()) first")
        if batch_size not in self._out:
            e, p, a = self.dims
            z = lambda *shape: torch.empty(*shape, dtype=torch.float32)  # noqa: E731
            batch = Batch(
                embedding=z(batch_size, e),
                proprio=z(batch_size, p),
                action=z(batch_size, a),
                action_lo=z(batch_size, a),
                action_hi=z(batch_size, a),
                reward=z(batch_size),
                mask=z(batch_size),
                next_embedding=z(batch_size, e),
                next_proprio=z(batch_size, p),
                next_action_lo=z(batch_size, a),
                next_action_hi=z(batch_size, a),
            )
            self._out[batch_size] = (
                batch,
                torch.empty(batch_size, e, dtype=torch.float16),
                torch.empty(batch_size, dtype=torch.int64),
            )
        out, emb16, rows = self._out[batch_size]
        t = self._draw(batch_size, demo_share).remainder_(self.capacity)
        torch.index_select(self._action, 0, t, out=out.action)
        torch.index_select(self._reward, 0, t, out=out.reward)
        torch.index_select(self._mask, 0, t, out=out.mask)
        for idx, emb, prop, lo, hi in (
            (self._obs_idx, out.embedding, out.proprio, out.action_lo, out.action_hi),
            (self._next_idx, out.next_embedding, out.next_proprio, out.next_action_lo, out.next_action_hi),
        ):
            torch.index_select(idx, 0, t, out=rows)
            rows.remainder_(self.obs_capacity)
            torch.index_select(self._obs_emb, 0, rows, out=emb16)
            emb.copy_(emb16)
            torch.index_select(self._obs_prop, 0, rows, out=prop)
            torch.index_select(self._obs_lo, 0, rows, out=lo)
            torch.index_select(self._obs_hi, 0, rows, out=hi)
        return out

    def _draw(self, batch_size: int, demo_share: float) -> torch.Tensor:
        """Absolute numbers of `batch_size` stored transitions (see `sample`)."""
        if not 0.0 <= demo_share <= 1.0:
            raise ValueError(f"demo_share is {demo_share}; use a fraction between 0 and 1")
        demo, practice = (self._by_source[SOURCES.index(s)] for s in ("demo", "practice"))
        if demo_share == 0.0 or not demo.size or not practice.size:
            return torch.randint(self._start, self._n, (batch_size,), generator=self._generator)
        # Row i is a demo row where floor((i + 1)·s) steps up: floor(B·s) rows, evenly spaced.
        steps = torch.floor(torch.arange(batch_size + 1, dtype=torch.float64) * demo_share)
        is_demo = steps[1:] > steps[:-1]
        t = torch.empty(batch_size, dtype=torch.int64)
        t[is_demo] = demo.draw(int(is_demo.sum()), self._generator)
        t[~is_demo] = practice.draw(batch_size - int(is_demo.sum()), self._generator)
        return t

    def transition(self, k: int) -> Transition:
        """The k-th stored transition, oldest first (embeddings come back rounded to float16)."""
        if not 0 <= k < len(self):
            raise IndexError(f"transition {k} not in a buffer of {len(self)}")
        i = (self._start + k) % self.capacity
        o, o2 = int(self._obs_idx[i]) % self.obs_capacity, int(self._next_idx[i]) % self.obs_capacity
        return Transition(
            embedding=self._obs_emb[o].float().numpy(),
            proprio=self._obs_prop[o].numpy().copy(),
            action=self._action[i].numpy().copy(),
            action_lo=self._obs_lo[o].numpy().copy(),
            action_hi=self._obs_hi[o].numpy().copy(),
            reward=float(self._reward[i]),
            next_embedding=self._obs_emb[o2].float().numpy(),
            next_proprio=self._obs_prop[o2].numpy().copy(),
            next_action_lo=self._obs_lo[o2].numpy().copy(),
            next_action_hi=self._obs_hi[o2].numpy().copy(),
            done=bool(self._done[i]),
            mask=float(self._mask[i]),
            source=SOURCES[int(self._source[i])],
        )

    def count(self, source: str) -> int:
        """Stored transitions tagged `source` ("demo" or "practice")."""
        code = SOURCES.index(source)
        t = torch.arange(self._start, self._n).remainder_(self.capacity)
        return int((self._source[t] == code).sum())

    # ---- persistence ---------------------------------------------------------------------

    @property
    def unsaved(self) -> int:
        """Transitions inserted since the last completed flush (what a kill -9 now would lose)."""
        return len(self._pending)

    def flush(self) -> None:
        """Write the pending transitions as one chunk, then atomically list it in the manifest.

        The buffer's own bookkeeping changes only once both writes succeeded: after a failed
        write (disk full) the transitions stay pending and the next flush writes them again
        under the same chunk name."""
        if self.directory is None or not self._pending:
            return
        name = f"chunk_{self._next_chunk_number():06d}.npz"
        arrays = _stack(self._pending, self.dims)
        atomic_write(self.directory / name, lambda f: np.savez(f, **arrays))
        chunks = [*self._chunks, {"file": name, "count": len(self._pending)}]
        # Forget chunks wholly older than the capacity so the directory stays bounded.
        while chunks and sum(c["count"] for c in chunks[1:]) >= self.capacity:
            chunks.pop(0)
        _write_manifest(self.directory, self.dims, chunks)
        self._chunks, self._pending = chunks, []
        listed = {c["file"] for c in self._chunks}
        for old in self.directory.glob("chunk_*.npz"):
            if old.name not in listed and old.name < name:
                old.unlink()

    def _next_chunk_number(self) -> int:
        if not self._chunks:
            return 0
        return _chunk_number(self._chunks[-1]["file"]) + 1

    @property
    def next_chunk(self) -> int:
        """The number the next flush's chunk file gets: every lower-numbered chunk is committed
        (listed in the manifest), so a record that names the chunk it went into can tell, after
        a crash, whether that flush completed."""
        return self._next_chunk_number()

    def load(self) -> LoadReport:
        """Read back every completed flush in `directory`; drop and report incomplete ones.

        A missing or unreadable manifest is rebuilt from the chunk files (each was written whole,
        so every one on disk is a completed flush). A listed chunk that is missing is reported as
        lost; one that is damaged stops the load with one line naming it."""
        if self.directory is None:
            raise ValueError("this replay buffer has no directory to load from; pass directory=")
        if len(self) or self._pending:
            raise ValueError("load() fills an empty replay buffer; call it before inserting transitions")
        chunks, rebuilt = self._read_manifest()
        listed = {c["file"] for c in chunks}
        dropped = sorted(p.name for p in self.directory.iterdir() if p.name != MANIFEST and p.name not in listed)
        for name in dropped:
            (self.directory / name).unlink()
        missing = [c for c in chunks if not (self.directory / c["file"]).is_file()]
        chunks = [c for c in chunks if c not in missing]
        total = sum(c["count"] for c in chunks)
        skip = max(0, total - self.capacity)
        to_skip = skip
        for c in chunks:
            if to_skip >= c["count"]:
                to_skip -= c["count"]
                continue
            data = self._read_chunk(self.directory / c["file"], c["count"])
            for j in range(to_skip, c["count"]):
                self._insert(_unstack(data, j))
            to_skip = 0
        self._chunks = list(chunks)
        if rebuilt or missing:  # the manifest on disk lists what is really there again
            _write_manifest(self.directory, self.dims, self._chunks)
        return LoadReport(
            loaded=len(self),
            chunks=len(chunks),
            dropped_files=tuple(dropped),
            skipped_for_capacity=skip,
            rebuilt_manifest=rebuilt,
            missing_chunks=tuple(f"{c['file']} ({c['count']} transitions)" for c in missing),
        )

    def _read_manifest(self) -> tuple[list[dict], bool]:
        """The manifest's chunk list, or one rebuilt from the chunk files (then True)."""
        path = self.directory / MANIFEST
        try:
            manifest = json.loads(path.read_text())
            chunks = [{"file": str(c["file"]), "count": int(c["count"])} for c in manifest["chunks"]]
            version, dims = manifest["version"], manifest["dims"]
        except FileNotFoundError:
            chunks = self._rebuild_manifest()
            return chunks, bool(chunks)
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
            return self._rebuild_manifest(), True
        if version != _FORMAT_VERSION or not isinstance(dims, list) or tuple(dims) != self.dims:
            raise ReplayFormatError(
                f"{path} holds format {version} with dims {dims} but this buffer expects format "
                f"{_FORMAT_VERSION} with dims {list(self.dims)}; use a matching encoder or a new run directory"
            )
        return chunks, False

    def _rebuild_manifest(self) -> list[dict]:
        files = sorted(
            (p for p in self.directory.glob("chunk_*.npz") if _CHUNK.match(p.name)), key=lambda p: _chunk_number(p.name)
        )
        return [{"file": p.name, "count": len(self._read_chunk(p, None)["reward"])} for p in files]

    def _read_chunk(self, path: Path, count: int | None) -> dict[str, np.ndarray]:
        """A chunk's arrays, checked against the buffer's dims (and the manifest's count)."""
        fix = f"move {path.name} out of {path.parent} to resume without its transitions, or start a new run directory"
        try:
            with np.load(path, allow_pickle=False) as z:
                data = {k: z[k] for k in (*ARRAY_FIELDS, "reward", "mask", "done", "source")}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as e:
            raise ReplayFormatError(f"replay chunk {path} is damaged ({type(e).__name__}); {fix}") from None
        n = len(data["reward"])
        e, p, a = self.dims
        widths = {"embedding": e, "next_embedding": e, "proprio": p, "next_proprio": p}
        shapes_ok = all(x.shape[:1] == (n,) for x in data.values()) and all(
            data[k].ndim == 2 and data[k].shape[1] == widths.get(k, a) for k in ARRAY_FIELDS
        )
        if not shapes_ok or (count is not None and n != count):
            raise ReplayFormatError(
                f"replay chunk {path} does not hold the {count if count is not None else n} "
                f"transitions of dims {list(self.dims)} its manifest expects; {fix}"
            )
        if not all(np.isfinite(x).all() for x in data.values() if x.dtype.kind == "f") or bool(
            (data["source"] >= len(SOURCES)).any()
        ):
            raise ReplayFormatError(f"replay chunk {path} holds non-finite or invalid values (damaged); {fix}")
        return data


class _IndexRing:
    """Increasing absolute transition numbers in a fixed ring: push the newest, drop the evicted."""

    def __init__(self, capacity: int):
        self.items = torch.empty(capacity, dtype=torch.int64)
        self.head = 0  # slot of the oldest number
        self.size = 0

    def push(self, number: int) -> None:
        self.items[(self.head + self.size) % len(self.items)] = number
        self.size += 1

    def drop_below(self, oldest: int) -> None:
        """Forget the numbers of transitions the buffer no longer stores (all older than `oldest`)."""
        while self.size and int(self.items[self.head]) < oldest:
            self.head = (self.head + 1) % len(self.items)
            self.size -= 1

    def draw(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """n of the stored numbers, uniformly with replacement."""
        offsets = torch.randint(0, self.size, (n,), generator=generator)
        return self.items[(offsets + self.head).remainder_(len(self.items))]


def _write_manifest(directory: Path, dims: tuple[int, int, int], chunks: list[dict]) -> None:
    text = json.dumps({"version": _FORMAT_VERSION, "dims": list(dims), "chunks": chunks}, indent=1)
    atomic_write(directory / MANIFEST, lambda f: f.write(text.encode()))


def _chunk_number(name: str) -> int:
    return int(name[len("chunk_") : -len(".npz")])


# The Transition fields that are float arrays: what a chunk file and the learner link carry per row.
ARRAY_FIELDS = (
    "embedding",
    "proprio",
    "action",
    "action_lo",
    "action_hi",
    "next_embedding",
    "next_proprio",
    "next_action_lo",
    "next_action_hi",
)


def _stack(transitions: list[Transition], dims: tuple[int, int, int]) -> dict[str, np.ndarray]:
    arrays = {}
    for name in ARRAY_FIELDS:
        dtype = np.float16 if "embedding" in name else np.float32
        arrays[name] = np.stack([np.asarray(getattr(t, name)).reshape(-1) for t in transitions]).astype(dtype)
    arrays["reward"] = np.array([t.reward for t in transitions], dtype=np.float32)
    arrays["mask"] = np.array([t.mask for t in transitions], dtype=np.float32)
    arrays["done"] = np.array([t.done for t in transitions], dtype=np.bool_)
    arrays["source"] = np.array([SOURCES.index(t.source) for t in transitions], dtype=np.uint8)
    return arrays


def _unstack(data: dict[str, np.ndarray], j: int) -> Transition:
    fields = {name: data[name][j].astype(np.float32) for name in ARRAY_FIELDS}
    return Transition(
        **fields,
        reward=float(data["reward"][j]),
        mask=float(data["mask"][j]),
        done=bool(data["done"][j]),
        source=SOURCES[int(data["source"][j])],
    )
