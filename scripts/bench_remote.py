"""Remote learner benchmark: what the car <-> workstation link costs and whether learning suffers.

Everything runs on this machine over loopback, the learner (`fastrlap learner serve`) in its own
process:

1. Wire: bytes per transition as sent (float16 embedding rows) against the alternative of sending
   the camera frame as a JPEG, with each one's CPU cost (the embedding costs the car one encoder
   pass it needs anyway to act; a JPEG costs an encode on the car and a decode plus the encoder
   pass on the learner).
2. Link: transitions/s sustained from one car, and the time from a weights publication to the
   first action the car's 10 Hz loop takes with it (p50/p99).
3. Faults: kill -9 of the learner and a restart on the same directory: transitions sent vs stored,
   and how long the car took to notice the dead link.
4. Learning: practice with the in-process learner and with the remote one on each track and seed
   (`--minutes` simulated minutes each): laps, best lap, collisions, critic updates.

Prints a line per part, then one JSON line.

    python scripts/bench_remote.py [--tracks oval hairpin chicane] [--seeds 0 1] [--minutes 2] [key=value ...]

Run one at a time on a shared machine (it sets torch to one thread).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from fastrlap.agent.encoder import FrameStack
from fastrlap.agent.features import PROPRIO_DIM
from fastrlap.agent.sac import PolicyInput
from fastrlap.cli import compose
from fastrlap.course.checkpoints import load_checkpoints
from fastrlap.course.demo import load_demo
from fastrlap.practice.demo_lap import record_demo_lap
from fastrlap.practice.run import RunDir, open_run_dir, save_config
from fastrlap.practice.session import ACTION_DIM, build_encoder, demo_transitions, practice
from fastrlap.remote import wire
from fastrlap.remote.client import SEND_BATCH, RemoteLearner
from fastrlap.remote.spool import SPOOL_FILE, Spool
from fastrlap.sim.drivers import speed_profile
from fastrlap.sim.track import load_track
from fastrlap.types import Transition
from fastrlap.vehicle.sim import SimVehicle

BASE = ["practice.dashboard=false", "wandb.mode=disabled", "practice.torch_threads=1", "practice.estop_key=false"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LearnerProcess:
    def __init__(self, run_dir: Path, overrides: list[str]) -> None:
        self.run_dir, self.overrides = run_dir, overrides
        self.address = f"tcp://127.0.0.1:{_free_port()}"
        self.key = run_dir / "learner.key"
        self.log = run_dir.with_suffix(".out")

    def start(self) -> LearnerProcess:
        n = self.log.read_text().count("listening on") if self.log.exists() else 0
        with open(self.log, "a") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "fastrlap.cli",
                    "learner",
                    "serve",
                    f"run_dir={self.run_dir}",
                    f"bind={self.address}",
                    *self.overrides,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "OMP_NUM_THREADS": "1"},
            )
        while self.log.read_text().count("listening on") == n:
            if self.proc.poll() is not None:
                raise SystemExit(f"the learner did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=120)

    def stored(self) -> int:
        manifest = self.run_dir / "replay" / "manifest.json"
        return sum(c["count"] for c in json.loads(manifest.read_text())["chunks"]) if manifest.exists() else 0


def _percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def wire_costs(cfg, demo_dir: Path) -> tuple[dict, list[Transition]]:
    """Per transition: bytes on the wire as sent (compressed float16 embedding rows of the shipped
    encoder on the demo's frames) and as a JPEG frame would be, with each side's CPU cost."""
    cfg = compose([f"track={cfg.track}", *BASE, "agent.encoder=pretrained"])
    run = RunDir(demo_dir)
    demo = load_demo(run.demo)
    encoder = build_encoder(cfg, torch.device("cpu"))
    frames = FrameStack(encoder.spec)
    n = min(200, len(demo))
    t0 = time.perf_counter()
    for k in range(n):
        encoder.embed(frames.push(demo.frames[k])[None])
    embed_ms = 1e3 * (time.perf_counter() - t0) / n
    dims = (encoder.spec.embedding_dim, PROPRIO_DIM, ACTION_DIM)
    dtype = wire.row_type(*dims)
    transitions = demo_transitions(demo, load_checkpoints(run.checkpoints), encoder, cfg)
    rows = [wire.to_rows([t], dtype).tobytes() for t in transitions]
    header = len(wire.message({"kind": "tr", "car": "x" * 12, "first": 10**6, "n": SEND_BATCH})[0])
    t0 = time.perf_counter()
    packed = sum(len(wire.pack_rows(rows[i : i + SEND_BATCH])) + header for i in range(0, len(rows), SEND_BATCH))
    pack_ms = 1e3 * (time.perf_counter() - t0) / len(rows)
    jpeg_bytes, enc_ms, dec_ms = [], 0.0, 0.0
    for k in range(n):
        bgr = np.ascontiguousarray(demo.frames[k][..., ::-1])
        t0 = time.perf_counter()
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])
        t1 = time.perf_counter()
        cv2.imdecode(buf, cv2.IMREAD_COLOR)
        t2 = time.perf_counter()
        jpeg_bytes.append(len(buf))
        enc_ms += 1e3 * (t1 - t0) / n
        dec_ms += 1e3 * (t2 - t1) / n
    small = dtype.itemsize - 2 * 2 * dims[0]  # proprio, actions, reward: sent either way
    return {
        "frame": list(demo.frames[0].shape),
        "embedding_dim": dims[0],
        "row_bytes_raw": dtype.itemsize,
        "embedding_bytes_sent": round(packed / len(rows), 1),
        "jpeg_bytes_sent": round(statistics.mean(jpeg_bytes) + small + header / SEND_BATCH, 1),
        "car_embed_ms": round(embed_ms, 2),
        "car_compress_ms": round(pack_ms, 3),
        "car_jpeg_encode_ms": round(enc_ms, 2),
        "learner_jpeg_decode_ms": round(dec_ms, 2),
        "learner_embed_ms_for_jpeg": round(embed_ms, 2),
    }, transitions


def _wait(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def link_and_faults(cfg_overrides: list[str], work: Path, flood_s: float, car_s: float, demo: list[Transition]) -> dict:
    """One car (this process) and the learner (another): the demo's transitions, sent again and
    again as practice transitions, stand in for driving."""
    learner = LearnerProcess(work / "link_learner", cfg_overrides).start()
    cfg = compose([*cfg_overrides, f"learner_link.key_file={learner.key}"])
    from fastrlap.agent.encoder import EncoderSpec

    dims = (EncoderSpec(cfg.agent.frame_size, cfg.agent.frame_stack).embedding_dim, PROPRIO_DIM, ACTION_DIM)
    spool = Spool.open(work / SPOOL_FILE, dims)
    car = RemoteLearner(learner.address, cfg.learner_link, spool, dims, seed=0, synchronous=False, name="bench")
    pool = [dataclasses.replace(t, source="practice") for t in demo]
    out: dict = {}
    try:
        car.wait_ready()
        # Flood: as fast as the link takes them (at most 2000 ahead of what the learner received).
        t0, start = time.monotonic(), car._received
        i = 0
        while time.monotonic() - t0 < flood_s:
            if spool.last + len(car._inbox) - car._received < 2000:
                for _ in range(64):
                    car.insert(pool[i % len(pool)])
                    i += 1
            else:
                time.sleep(0.002)
        out["transitions_per_s"] = round((car._received - start) / (time.monotonic() - t0), 1)
        _wait(lambda: spool.acked == spool.last, 120)
        # A car at 10 Hz: one transition and one action per tick; weights latency from publication to use.
        obs = PolicyInput(
            embedding=pool[0].embedding,
            proprio=pool[0].proprio,
            action_lo=pool[0].action_lo,
            action_hi=pool[0].action_hi,
        )
        car.act(obs, deterministic=False)  # what arrived during the flood is used now: not a latency
        car.first_uses.clear()
        t0 = time.monotonic()
        k = 0
        while time.monotonic() - t0 < car_s:
            car.insert(pool[k % len(pool)])
            car.act(obs, deterministic=False)
            k += 1
            time.sleep(max(0.0, t0 + k * 0.1 - time.monotonic()))
        lat = [1e3 * s for _, s in car.first_uses]
        out["weights_latency_ms"] = {"p50": _percentile(lat, 50), "p99": _percentile(lat, 99), "n": len(lat)}
        # kill -9 while transitions are in flight, keep driving, restart on the same directory.
        for j in range(100):
            car.insert(pool[j % len(pool)])
        learner.proc.send_signal(signal.SIGKILL)
        learner.proc.wait()
        killed = time.monotonic()
        _wait(lambda: not car.link_up, 10)
        out["dead_link_noticed_s"] = round(time.monotonic() - killed, 3)
        for j in range(100):
            car.insert(pool[j % len(pool)])
        learner.start()
        t_restart = time.monotonic()
        _wait(lambda: spool.acked == spool.last and not car._inbox, 120)
        out["reconnect_and_deliver_s"] = round(time.monotonic() - t_restart, 2)
    finally:
        car.close()
        learner.stop()
    out["sent"] = spool.last
    out["stored"] = learner.stored()
    return out


def learning(
    tracks: list[str], seeds: list[int], minutes: float, overrides: list[str], work: Path, sides: list[str]
) -> list[dict]:
    rows = []
    for track_name in tracks:
        demo_dir = work / f"demo-{track_name}"
        cfg = compose([f"track={track_name}", *BASE, *overrides])
        if not (demo_dir / "demo.npz").exists():
            run = open_run_dir(demo_dir, create=True)
            save_config(run, cfg)
            if record_demo_lap(cfg, run, load_track(track_name)) != 0:
                raise SystemExit(f"demo lap on {track_name} failed")
        track = load_track(track_name)
        for seed in seeds:
            row = {"track": track_name, "seed": seed}
            for where in sides:
                run_path = work / f"{track_name}-s{seed}-{where}"
                shutil.rmtree(run_path, ignore_errors=True)
                shutil.copytree(demo_dir, run_path)
                settings = [f"track={track_name}", f"seed={seed}", f"practice.minutes={minutes}", *BASE, *overrides]
                learner = None
                if where == "remote":
                    learner = LearnerProcess(
                        work / f"{track_name}-s{seed}-learner", [f"seed={seed}", *overrides]
                    ).start()
                    settings += [f"learner={learner.address}", f"learner_link.key_file={learner.key}"]
                cfg = compose(settings)
                car = SimVehicle(track, cfg.vehicle, seed=seed)
                oracle = speed_profile(track, car.params).lap_time
                t0 = time.monotonic()
                try:
                    summary = practice(RunDir(run_path), car, cfg, oracle_lap=oracle, status=lambda s: None)
                finally:
                    if learner is not None:
                        learner.stop()
                row[where] = {
                    "laps": summary.laps,
                    "best_lap_s": summary.best_lap_s,
                    "collisions": summary.collisions,
                    "critic_updates": summary.critic_updates,
                    "replay": summary.replay_size,
                    "wall_s": round(time.monotonic() - t0, 1),
                }
            print(f"{track_name} seed {seed}: " + " | ".join(f"{w} {row[w]}" for w in sides), flush=True)
            rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", nargs="+", default=["oval", "hairpin", "chicane"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--minutes", type=float, default=2.0, help="simulated practice minutes per run")
    ap.add_argument("--flood-s", type=float, default=10.0, help="s of sending as fast as the link takes")
    ap.add_argument("--car-s", type=float, default=20.0, help="s of a 10 Hz car for the weights latency")
    ap.add_argument("--out", default="runs/bench_remote")
    ap.add_argument("--skip-learning", action="store_true")
    ap.add_argument(
        "--sides", nargs="+", default=["local", "remote"], choices=["local", "remote"], help="which learners practise"
    )
    ap.add_argument("overrides", nargs="*", help="config overrides for both learners, e.g. agent.hidden_dim=64")
    args = ap.parse_args()
    torch.set_num_threads(1)
    work = Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    result: dict = {}
    cfg = compose([f"track={args.tracks[0]}", *BASE, *args.overrides])
    curves = (
        [] if args.skip_learning else learning(args.tracks, args.seeds, args.minutes, args.overrides, work, args.sides)
    )
    demo_dir = work / f"demo-{args.tracks[0]}"
    if not (demo_dir / "demo.npz").exists():
        run = open_run_dir(demo_dir, create=True)
        save_config(run, cfg)
        if record_demo_lap(cfg, run, load_track(cfg.track)) != 0:
            raise SystemExit(f"demo lap on {cfg.track} failed")
    result["wire"], demo = wire_costs(cfg, demo_dir)
    print(f"wire: {result['wire']}", flush=True)
    shutil.rmtree(work / "link_learner", ignore_errors=True)  # a fresh learner and car for the link figures
    for stale in (SPOOL_FILE, "link_learner.out"):
        (work / stale).unlink(missing_ok=True)
    result["link"] = link_and_faults(
        [o for o in args.overrides if not o.startswith("agent.encoder=")], work, args.flood_s, args.car_s, demo
    )
    print(f"link: {result['link']}", flush=True)
    result["learning"] = curves
    result["minutes"] = args.minutes
    print(json.dumps(result))


if __name__ == "__main__":
    main()
