"""What travels on the learner link: a JSON header frame, then binary frames.

Transitions travel as rows of one fixed numpy record type: embeddings in float16 (the precision
the replay buffer stores them in anyway, so nothing the learner keeps is lost), everything else
float32. A row of the default 1568-d encoder is about 6.3 kB, compressed to about 1.5 kB per
message (`pack_rows`); the car's spool stores the rows uncompressed.

Messages (header `kind`):
- car -> learner: `hb` (heartbeat: car name, dims, weights version held), `tr` (rows with the
  sequence number of the first).
- learner -> car: `hb` (heartbeat and acknowledgement: the car's highest sequence number stored
  durably, learner counters), `weights` (a versioned actor state), `refused` (why this car may
  not feed this learner).
"""

from __future__ import annotations

import io
import json
import zlib
from dataclasses import dataclass

import numpy as np
import torch

from fastrlap.agent.replay import ARRAY_FIELDS, SOURCES
from fastrlap.types import Transition


def row_type(embedding_dim: int, proprio_dim: int, action_dim: int) -> np.dtype:
    """The record type of one transition on the wire and in the spool."""
    width = {
        "embedding": embedding_dim,
        "next_embedding": embedding_dim,
        "proprio": proprio_dim,
        "next_proprio": proprio_dim,
    }
    fields = [
        (name, np.float16 if "embedding" in name else np.float32, (width.get(name, action_dim),))
        for name in ARRAY_FIELDS
    ]
    return np.dtype([*fields, ("reward", np.float32), ("mask", np.float32), ("done", np.bool_), ("source", np.uint8)])


def to_rows(transitions: list[Transition], dtype: np.dtype) -> np.ndarray:
    rows = np.zeros(len(transitions), dtype=dtype)
    for i, t in enumerate(transitions):
        for name in ARRAY_FIELDS:
            rows[name][i] = np.asarray(getattr(t, name)).reshape(-1)
        rows["reward"][i], rows["mask"][i], rows["done"][i] = t.reward, t.mask, t.done
        rows["source"][i] = SOURCES.index(t.source)
    return rows


def from_rows(rows: np.ndarray) -> list[Transition]:
    return [
        Transition(
            **{name: r[name].astype(np.float32) for name in ARRAY_FIELDS},
            reward=float(r["reward"]),
            mask=float(r["mask"]),
            done=bool(r["done"]),
            source=SOURCES[int(r["source"])],
        )
        for r in rows
    ]


def pack_rows(rows: list[bytes]) -> bytes:
    """Rows for one message, zlib-compressed (level 1): the encoder's embeddings come out of a
    ReLU, about three quarters of them exact zeros, so a transition shrinks to about a quarter
    for a fraction of a millisecond of CPU (scripts/bench_remote.py measures both)."""
    return zlib.compress(b"".join(rows), 1)


def unpack_rows(data: bytes, n: int, dtype: np.dtype) -> np.ndarray:
    """The `n` rows of a message; a payload that inflates to anything but n rows (or is not zlib
    data) is a ValueError, and it is never inflated past n rows."""
    try:
        inflater = zlib.decompressobj()
        raw = inflater.decompress(data, n * dtype.itemsize)
    except zlib.error as e:
        raise ValueError(f"transitions payload is not zlib data ({e})") from None
    if len(raw) != n * dtype.itemsize or inflater.unconsumed_tail:
        raise ValueError(f"transitions payload does not hold {n} rows")
    return decode_rows(raw, dtype)


def decode_rows(data: bytes, dtype: np.dtype) -> np.ndarray:
    """Rows from bytes; a length that is not a whole number of rows is a ValueError."""
    if len(data) % dtype.itemsize:
        raise ValueError(f"{len(data)} bytes are not whole transitions of {dtype.itemsize} bytes")
    rows = np.frombuffer(data, dtype=dtype)
    if len(rows) and (
        not all(np.isfinite(rows[n]).all() for n in ARRAY_FIELDS) or bool((rows["source"] >= len(SOURCES)).any())
    ):
        raise ValueError("transitions with non-finite values or an unknown source")
    return rows


def message(header: dict, *frames: bytes) -> list[bytes]:
    return [json.dumps(header, separators=(",", ":")).encode(), *frames]


def parse(frames: list[bytes]) -> tuple[dict, list[bytes]]:
    """Header and payload frames; ValueError when the first frame is not a JSON object with a kind."""
    header = json.loads(frames[0].decode())
    if not isinstance(header, dict) or not isinstance(header.get("kind"), str):
        raise ValueError("message without a kind")
    return header, frames[1:]


@dataclass(frozen=True)
class Weights:
    """One published actor state. `version` is the learner's critic update count when it was
    published; `published` its wall-clock time (the car measures how long weights take to reach
    its control loop from it)."""

    version: int
    published: float
    state: dict

    def encode(self, session: str, agent: dict) -> list[bytes]:
        buf = io.BytesIO()
        torch.save(self.state, buf)
        return message(
            {
                "kind": "weights",
                "session": session,
                "version": self.version,
                "published": self.published,
                "agent": agent,
            },
            buf.getvalue(),
        )

    @staticmethod
    def decode(header: dict, frames: list[bytes]) -> Weights:
        state = torch.load(io.BytesIO(frames[0]), map_location="cpu", weights_only=True)
        return Weights(int(header["version"]), float(header["published"]), state)
