"""The car's spool and the learner's ledger: what makes a learner link lose nothing and store
nothing twice across kills of either side."""

import json

import numpy as np
import pytest

from fastrlap.remote import wire
from fastrlap.remote.keys import LinkKeyError, car_key, server_key
from fastrlap.remote.ledger import Ledger
from fastrlap.remote.spool import Spool, SpoolError
from fastrlap.types import Transition

DIMS = (6, 3, 2)


def _transition(i: int) -> Transition:
    e, p, a = DIMS
    v = float(i)
    return Transition(
        embedding=np.full(e, v),
        proprio=np.full(p, v),
        action=np.full(a, 0.1),
        action_lo=-np.ones(a),
        action_hi=np.ones(a),
        reward=v,
        next_embedding=np.full(e, v + 1),
        next_proprio=np.full(p, v + 1),
        next_action_lo=-np.ones(a),
        next_action_hi=np.ones(a),
        done=False,
        mask=1.0,
        source="practice",
    )


def _rows(n, start=0):
    dtype = wire.row_type(*DIMS)
    return [wire.to_rows([_transition(start + i)], dtype).tobytes() for i in range(n)]


def test_rows_round_trip_at_the_precision_the_replay_stores():
    dtype = wire.row_type(*DIMS)
    back = wire.from_rows(wire.decode_rows(wire.to_rows([_transition(3)], dtype).tobytes(), dtype))[0]
    assert back.reward == 3.0 and back.source == "practice" and back.next_embedding[0] == 4.0
    with pytest.raises(ValueError):
        wire.decode_rows(b"\0" * (dtype.itemsize - 1), dtype)
    packed = wire.pack_rows(_rows(3))
    assert [t.reward for t in wire.from_rows(wire.unpack_rows(packed, 3, dtype))] == [0.0, 1.0, 2.0]
    for bad in (wire.pack_rows(_rows(4)), b"not zlib"):  # more rows than the header says, or garbage
        with pytest.raises(ValueError):
            wire.unpack_rows(bad, 3, dtype)


def test_unacknowledged_rows_survive_a_reopen_and_acknowledged_ones_do_not(tmp_path):
    path = tmp_path / "spool.log"
    spool = Spool.open(path, DIMS)
    assert list(spool.append(_rows(5))) == [1, 2, 3, 4, 5]
    spool.ack(3)
    spool.close()
    with open(path, "ab") as f:
        f.write(b"T 6 AAAA")  # a kill in the middle of a record
    again = Spool.open(path, DIMS)
    assert again.car == spool.car
    assert sorted(again.rows) == [4, 5] and again.acked == 3 and again.last == 5
    assert list(again.append(_rows(1, 5))) == [6]  # numbering continues; the torn record is gone
    again.ack(6)
    again.close()
    reopened = Spool.open(path, DIMS)
    assert reopened.unacked == 0 and reopened.last == 6
    assert len(path.read_text().splitlines()) == 2  # header and the acknowledgement: compacted


def test_a_new_spool_is_a_new_car_and_other_dims_are_refused(tmp_path):
    a, b = Spool.open(tmp_path / "a.log", DIMS), Spool.open(tmp_path / "b.log", DIMS)
    assert a.car != b.car
    a.close()
    with pytest.raises(SpoolError, match="dims"):
        Spool.open(tmp_path / "a.log", (7, 3, 2))


def test_ledger_ignores_the_entry_of_a_flush_that_never_committed(tmp_path):
    ledger = Ledger(tmp_path / "cars.json")
    ledger.record(4, {"car": 100})
    ledger.record(5, {"car": 130})
    # chunk 5 never made it into the manifest (killed mid-flush): the next chunk is still number 5
    assert Ledger(tmp_path / "cars.json").load(next_chunk=5) == {"car": 100}
    assert Ledger(tmp_path / "cars.json").load(next_chunk=6) == {"car": 130}
    assert json.loads((tmp_path / "cars.json").read_text())["version"] == 1


def test_key_is_created_once_owner_only_and_a_car_without_it_is_told_where_it_comes_from(tmp_path):
    secret, path, created = server_key(tmp_path, "")
    assert created and path.stat().st_mode & 0o777 == 0o600
    assert server_key(tmp_path, "") == (secret, path, False)
    assert car_key(str(path), "tcp://h:1") == secret
    with pytest.raises(LinkKeyError, match="learner_link.key_file"):
        car_key("", "tcp://h:1")
    (tmp_path / "bad.key").write_text("nothex\n")
    with pytest.raises(LinkKeyError, match="64 hex digits"):
        car_key(str(tmp_path / "bad.key"), "tcp://h:1")
