"""A learner in another process (`fastrlap learner serve`) fed over loopback by practice
(`learner=tcp://...`) or by the car-side link directly: cars get new weights, a learner killed
with kill -9 and started again loses nothing and stores nothing twice, the car notices a dead
link within a second and reconnects by itself, and a car with another key is refused."""

import json
import re
import shutil
import subprocess
import sys
import time

import numpy as np

from fastrlap.cli import compose
from fastrlap.remote.client import RemoteLearner
from fastrlap.remote.spool import SPOOL_FILE, Spool
from fastrlap.types import Transition

DIMS = (1568, 10, 2)  # the default encoder's embedding, the loop's proprio, the action


def _transition(i: int) -> Transition:
    e, p, a = DIMS
    rng = np.random.default_rng(i)
    return Transition(
        embedding=rng.random(e),
        proprio=rng.random(p),
        action=np.zeros(a),
        action_lo=-np.ones(a),
        action_hi=np.ones(a),
        reward=1.0,
        next_embedding=rng.random(e),
        next_proprio=rng.random(p),
        next_action_lo=-np.ones(a),
        next_action_hi=np.ones(a),
        done=False,
        mask=1.0,
        source="practice",
    )


def _wait(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_kill_9_learner_restart_stores_every_transition_once_and_the_car_notices_and_reconnects(tmp_path, learner):
    cfg = compose([*learner.overrides, f"learner_link.key_file={learner.key}"])
    spool = Spool.open(tmp_path / SPOOL_FILE, DIMS)
    car = RemoteLearner(learner.address, cfg.learner_link, spool, DIMS, seed=0, synchronous=False, name="test car")
    try:
        car.wait_ready()
        for i in range(100):
            car.insert(_transition(i))
        _wait(lambda: spool.acked == 100, 60, "the learner never acknowledged the first 100 transitions")
        for i in range(100, 200):
            car.insert(_transition(i))
        _wait(lambda: car._received >= 150, 60, "the learner never received the next ones")
        _wait(lambda: (learner.run_dir / "agent" / "learner.pt").exists(), 30, "no learner checkpoint")
        learner.kill9()  # some received transitions are not durable yet: they must come again
        killed = time.monotonic()
        while car.link_up:
            time.sleep(0.005)
        noticed = time.monotonic() - killed
        assert noticed <= 1.0, f"dead link noticed after {noticed:.2f} s"
        assert "lost" in car.link_state
        for i in range(200, 300):  # driving on while the learner is down: spooled
            car.insert(_transition(i))
        learner.start()
        _wait(lambda: spool.acked == 300, 90, f"the car did not reconnect and deliver (acked {spool.acked})")
        assert car.link_up
    finally:
        car.close()
    learner.stop()
    assert learner.stored() == 300  # sent == stored: nothing lost, nothing twice
    assert learner.ledger() == {spool.car: 300}
    assert "resumed the learner" in learner.log.read_text()


def _copy_demo(demo_run, path):
    shutil.copytree(demo_run.path, path)
    (path / "config.yaml").unlink()  # practice saves its own settings
    return path


def _spool_counts(run):
    """(highest sequence number spooled, highest acknowledged) of a car's spool file."""
    lines = (run / SPOOL_FILE).read_text().splitlines()
    seqs = [int(x.split()[1]) for x in lines if x.startswith("T ")]
    acks = [int(x.split()[1]) for x in lines if x.startswith("A ")]
    return max(seqs + acks), max(acks)


def _events(run, kind):
    return [e for e in map(json.loads, (run / "events.jsonl").read_text().splitlines()) if e["event"] == kind]


def test_two_practising_cars_feed_one_learner_and_receive_new_weights(tmp_path, demo_run, tiny_overrides, learner):
    cars = [_copy_demo(demo_run, tmp_path / name) for name in ("car_a", "car_b")]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fastrlap.cli",
                "practice",
                "track=oval",
                f"run_dir={run}",
                *tiny_overrides,
                f"learner={learner.address}",
                f"learner_link.key_file={learner.key}",
                "practice.max_ticks=120",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for run in cars
    ]
    outs = [p.communicate(timeout=240) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
        assert "learner link up" in out
    learner.stop()
    ledger = learner.ledger()
    assert len(ledger) == 2
    sent = 0
    for run in cars:
        last, acked = _spool_counts(run)
        assert acked == last  # everything acknowledged before practice ended
        sent += last
        versions = [e["version"] for e in _events(run, "weights")]
        assert versions and max(versions) > 0, versions  # weights trained on the learner reached the car
        summary = json.loads((run / "summary.json").read_text())
        assert summary["critic_updates"] > 0
        assert not (run / "replay").exists() or not any((run / "replay").glob("chunk_*"))  # the replay is remote
    assert learner.stored() == sent == sum(ledger.values())
    assert "car_a" in learner.log.read_text() and "car_b" in learner.log.read_text()


def test_a_car_with_another_key_is_refused_in_one_line_and_nothing_is_stored(
    tmp_path, demo_run, tiny_overrides, learner
):
    run = _copy_demo(demo_run, tmp_path / "intruder")
    wrong = tmp_path / "other.key"
    wrong.write_text("ab" * 32 + "\n")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "fastrlap.cli",
            "practice",
            "track=oval",
            f"run_dir={run}",
            *tiny_overrides,
            f"learner={learner.address}",
            f"learner_link.key_file={wrong}",
            "practice.max_ticks=50",
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "refused this car's key" in lines[0], out.stderr
    assert re.search(r"refused a connection whose key is not this learner's", learner.log.read_text())
    learner.stop()
    assert learner.stored() == 0
