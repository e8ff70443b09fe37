"""Learner speed: our SAC vs stable-baselines3's SAC, against the machine's peak, and act() latency.

    .venv/bin/python scripts/bench_learner.py [--threads N] [--seconds S] [--no-compile]

Figures (issue 3), all measured in this one run because these machines are shared and noisy:
- updates_per_s: critic updates per second of our learner at the car's settings (batch 256,
  10 critics, 256x256, 1568-d embedding, UTD 8: eight critic updates and one actor update per block).
- sb3_updates_per_s: gradient steps per second of SB3's SAC configured as closely as it allows
  (n_critics=10, 256x256, batch 256, the same 50-d LayerNorm/tanh projection of the embedding as a
  features extractor). SB3 has no UTD block: each of its steps also updates the actor, its target
  is the min over all 10 critics, and its critics have no LayerNorm. `ours_utd1_updates_per_s`
  runs our learner with an actor update after every critic update for the like-for-like view.
- fraction_of_peak: our matmul/conv FLOPs per second (counted by torch's FlopCounterMode over one
  UTD block) divided by the peak of a large float32 GEMM measured here with the same threads.
- act_p99_ms: 99th percentile latency of one control tick's policy call: frame stacking and
  preprocessing, encoder, actor (one observation, batch 1).
The last line is JSON with these figures.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import replace

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from fastrlap.agent.encoder import Encoder, FrameStack
from fastrlap.agent.replay import Batch
from fastrlap.agent.sac import SAC, PolicyInput, action_range
from fastrlap.config import AgentConfig

EMBEDDING, PROPRIO, ACTION = 1568, 11, 2  # the car: 32·7·7 encoder features, proprio of DESIGN.md §3


def peak_gflops(seconds: float) -> float:
    """Best float32 GEMM throughput over a few sizes (the matmul roof of this machine)."""
    best = 0.0
    for n in (1024, 2048, 3072):
        a, b = torch.randn(n, n), torch.randn(n, n)
        c = torch.empty(n, n)
        torch.mm(a, b, out=c)
        reps, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds / 3:
            torch.mm(a, b, out=c)
            reps += 1
        best = max(best, 2 * n ** 3 * reps / (time.perf_counter() - t0) / 1e9)
    return best


def random_batch(n: int, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    prev = torch.rand(n, ACTION, generator=g) * 2 - 1
    lo, hi = (prev - 0.2).clamp(-1, 1), (prev + 0.2).clamp(-1, 1)
    return Batch(embedding=torch.rand(n, EMBEDDING, generator=g), proprio=torch.randn(n, PROPRIO, generator=g),
                 action=(lo + hi) / 2, action_lo=lo, action_hi=hi, reward=torch.randn(n, generator=g),
                 mask=torch.ones(n), next_embedding=torch.rand(n, EMBEDDING, generator=g),
                 next_proprio=torch.randn(n, PROPRIO, generator=g), next_action_lo=lo, next_action_hi=hi)


def time_learner(cfg: AgentConfig, seconds: float) -> tuple[float, float]:
    """(critic updates per second, FLOPs per UTD block) of our learner."""
    agent = SAC(EMBEDDING, PROPRIO, ACTION, cfg, seed=0)
    batches = [random_batch(cfg.utd_ratio * cfg.batch_size, seed=i) for i in range(4)]
    for b in batches[:2]:  # warm-up (and compilation)
        agent.update(b)
    blocks, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        agent.update(batches[blocks % len(batches)])
        blocks += 1
    rate = blocks * cfg.utd_ratio / (time.perf_counter() - t0)
    counter_agent = SAC(EMBEDDING, PROPRIO, ACTION, replace(cfg, compile=False), seed=0)
    with FlopCounterMode(display=False) as counter:
        counter_agent.update(batches[0])
    return rate, counter.get_total_flops()


def time_sb3(batch_size: int, seconds: float) -> float:
    """Gradient steps per second of stable-baselines3's SAC at the same sizes."""
    import gymnasium as gym
    from stable_baselines3 import SAC as SB3SAC
    from stable_baselines3.common.logger import configure
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

    class Projection(BaseFeaturesExtractor):
        """Our Linear -> LayerNorm -> tanh 50-d projection of the embedding, proprio passed through."""

        def __init__(self, observation_space, projection_dim: int = 50):
            super().__init__(observation_space, features_dim=projection_dim + PROPRIO)
            self.net = torch.nn.Sequential(torch.nn.Linear(EMBEDDING, projection_dim),
                                           torch.nn.LayerNorm(projection_dim), torch.nn.Tanh())

        def forward(self, obs):
            return torch.cat([self.net(obs[:, :EMBEDDING]), obs[:, EMBEDDING:]], dim=-1)

    class Dummy(gym.Env):
        observation_space = gym.spaces.Box(-np.inf, np.inf, (EMBEDDING + PROPRIO,), np.float32)
        action_space = gym.spaces.Box(-1.0, 1.0, (ACTION,), np.float32)

    n = 10_000
    model = SB3SAC("MlpPolicy", Dummy(), buffer_size=n, batch_size=batch_size, learning_starts=0, gamma=0.99,
                   tau=0.005, learning_rate=3e-4, device="cpu", seed=0,
                   policy_kwargs=dict(net_arch=[256, 256], n_critics=10, features_extractor_class=Projection))
    model.set_logger(configure(None, []))
    model._current_progress_remaining = 1.0
    rb = model.replay_buffer
    rng = np.random.default_rng(0)
    rb.observations[:] = rng.random(rb.observations.shape, dtype=np.float32)
    rb.next_observations[:] = rng.random(rb.next_observations.shape, dtype=np.float32)
    rb.actions[:] = rng.uniform(-1, 1, rb.actions.shape).astype(np.float32)
    rb.rewards[:] = rng.normal(size=rb.rewards.shape).astype(np.float32)
    rb.full, rb.pos = True, 0
    model.train(gradient_steps=4, batch_size=batch_size)  # warm-up
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        model.train(gradient_steps=8, batch_size=batch_size)
        steps += 8
    return steps / (time.perf_counter() - t0)


def time_act(cfg: AgentConfig, calls: int = 1000) -> np.ndarray:
    """Milliseconds per control tick: frame -> stack -> encoder -> actor, one observation."""
    encoder = Encoder().freeze()
    agent = SAC(EMBEDDING, PROPRIO, ACTION, cfg, seed=0)
    stack = FrameStack()
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (128, 128, 3), dtype=np.uint8) for _ in range(8)]
    prev = np.zeros(ACTION, np.float32)
    out = []
    for i in range(calls + 50):
        t0 = time.perf_counter()
        emb = encoder.embed(stack.push(frames[i % len(frames)]))
        lo, hi = action_range(prev, cfg.action_rate_limit)
        prev = agent.act(PolicyInput(embedding=emb, proprio=np.zeros(PROPRIO, np.float32), action_lo=lo, action_hi=hi))
        if i >= 50:
            out.append((time.perf_counter() - t0) * 1e3)
    return np.array(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch intra-op threads")
    parser.add_argument("--seconds", type=float, default=10.0, help="timing window per measurement, s")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile variant")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = AgentConfig()  # the car's defaults: batch 256, 10 critics, 256x256, UTD 8
    print(f"bench_learner: torch {torch.__version__}, {args.threads} threads, {platform.processor() or platform.machine()}")
    print(f"settings: batch {cfg.batch_size}, {cfg.num_qs} critics, {cfg.hidden_dim}x{cfg.hidden_dim}, "
          f"UTD {cfg.utd_ratio}, embedding {EMBEDDING}, proprio {PROPRIO}, action {ACTION}")

    peak = peak_gflops(min(args.seconds, 6.0))
    print(f"peak float32 GEMM: {peak:8.1f} GFLOP/s")

    eager_rate, flops = time_learner(cfg, args.seconds)
    print(f"ours (eager):      {eager_rate:8.1f} critic updates/s   {flops / cfg.utd_ratio / 1e9:.2f} GFLOP per critic "
          f"update (actor amortised)")
    best_rate, best_name = eager_rate, "eager"
    if not args.no_compile:
        compiled_rate, _ = time_learner(replace(cfg, compile=True), args.seconds)
        print(f"ours (compiled):   {compiled_rate:8.1f} critic updates/s")
        if compiled_rate > best_rate:
            best_rate, best_name = compiled_rate, "compiled"
    utd1_rate, _ = time_learner(replace(cfg, utd_ratio=1, compile=best_name == "compiled"), args.seconds)
    print(f"ours (UTD 1):      {utd1_rate:8.1f} critic updates/s   (an actor update after every critic update)")

    sb3_rate = time_sb3(cfg.batch_size, args.seconds)
    print(f"stable-baselines3: {sb3_rate:8.1f} gradient steps/s   (critic + actor each step)")

    achieved = flops / cfg.utd_ratio * best_rate / 1e9
    act_ms = time_act(cfg)
    p50, p99 = np.percentile(act_ms, [50, 99])
    print(f"achieved:          {achieved:8.1f} GFLOP/s = {achieved / peak:.0%} of peak ({best_name})")
    print(f"speedup vs SB3:    {best_rate / sb3_rate:8.2f}x   (UTD 1: {utd1_rate / sb3_rate:.2f}x)")
    print(f"act():             p50 {p50:.2f} ms, p99 {p99:.2f} ms (stack + encoder + actor, batch 1)")
    print(json.dumps({
        "updates_per_s": round(best_rate, 1), "sb3_updates_per_s": round(sb3_rate, 1),
        "speedup_vs_sb3": round(best_rate / sb3_rate, 2), "fraction_of_peak": round(achieved / peak, 3),
        "act_p99_ms": round(float(p99), 2), "act_p50_ms": round(float(p50), 2),
        "ours_utd1_updates_per_s": round(utd1_rate, 1), "peak_gflops": round(peak, 1),
        "achieved_gflops": round(achieved, 1), "variant": best_name, "threads": args.threads,
    }))


if __name__ == "__main__":
    main()
