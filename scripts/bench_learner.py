"""Learner speed: our SAC vs stable-baselines3's SAC, against the machine's peak, and act() latency.

    .venv/bin/python scripts/bench_learner.py [--threads N] [--seconds S] [--rounds R] [--no-compile]

Figures, all measured in this one run because a shared computer's speed drifts from minute to minute:
- updates_per_s: critic updates per second of our learner at the car's settings (batch 256,
  10 critics, 256x256, 1568-d embedding, UTD 8: eight critic updates and one actor update per block).
- sb3_updates_per_s: gradient steps per second of SB3's SAC configured as closely as it allows
  (n_critics=10, 256x256, batch 256, the same 50-d LayerNorm/tanh projection of the embedding as a
  features extractor). SB3 has no UTD block: each of its steps also updates the actor, its target
  is the min over all 10 critics, and its critics have no LayerNorm. `ours_utd1_updates_per_s`
  runs our learner with an actor update after every critic update for the like-for-like view.
- fraction_of_peak: our matmul/conv FLOPs per second (counted by torch's FlopCounterMode over one
  eager UTD block: the forward and backward GEMMs the update really runs, nothing else) divided by
  the peak: the best round of 2048^2 and 4096^2 float32 GEMMs measured here with the same threads.
- act_p99_ms: 99th percentile latency of one control tick's policy call: frame stacking and
  preprocessing, encoder, actor (one observation, batch 1, one thread).
Contenders are timed in interleaved rounds and each figure is its best round, so a burst of other
work on the machine does not decide the comparison. The last line is JSON with these figures.
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

EMBEDDING, PROPRIO, ACTION = 1568, 11, 2  # the car: 32·7·7 encoder features, agent/features.py's proprio


class Timed:
    """Something to time: `call()` does `units` units of work (critic updates, SB3 steps, FLOPs)."""

    def __init__(self, name: str, call, units: float):
        self.name, self.call, self.units = name, call, units
        self.rates: list[float] = []

    def measure(self, seconds: float) -> None:
        calls, t0 = 0, time.perf_counter()
        while calls == 0 or time.perf_counter() - t0 < seconds:
            self.call()
            calls += 1
        self.rates.append(calls * self.units / (time.perf_counter() - t0))

    @property
    def best(self) -> float:
        """The fastest round: the one least disturbed by other work on a shared machine."""
        return max(self.rates)


def gemm(n: int = 2048) -> Timed:
    """A large float32 GEMM, whose rate is the matmul roof of this machine (FLOP/s)."""
    a, b, c = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
    return Timed(f"GEMM {n}", lambda: torch.mm(a, b, out=c), 2 * n**3)


def peak_of(gemms: list[Timed]) -> float:
    """The matmul roof: the best round of the best GEMM size (FLOP/s). Taking the maximum over
    sizes and rounds can only raise the roof, so the fraction of it is never flattered."""
    return max(g.best for g in gemms)


def random_batch(n: int, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    prev = torch.rand(n, ACTION, generator=g) * 2 - 1
    lo, hi = (prev - 0.2).clamp(-1, 1), (prev + 0.2).clamp(-1, 1)
    return Batch(
        embedding=torch.rand(n, EMBEDDING, generator=g),
        proprio=torch.randn(n, PROPRIO, generator=g),
        action=(lo + hi) / 2,
        action_lo=lo,
        action_hi=hi,
        reward=torch.randn(n, generator=g),
        mask=torch.ones(n),
        next_embedding=torch.rand(n, EMBEDDING, generator=g),
        next_proprio=torch.randn(n, PROPRIO, generator=g),
        next_action_lo=lo,
        next_action_hi=hi,
    )


def learner(name: str, cfg: AgentConfig) -> Timed:
    """Our learner doing UTD blocks (critic updates per second)."""
    agent = SAC(EMBEDDING, PROPRIO, ACTION, cfg, seed=0)
    batches = [random_batch(cfg.utd_ratio * cfg.batch_size, seed=i) for i in range(4)]
    for b in batches[:2]:  # warm-up (and compilation)
        agent.update(b)
    count = iter(range(10**9))
    return Timed(name, lambda: agent.update(batches[next(count) % len(batches)]), cfg.utd_ratio)


def block_flops(cfg: AgentConfig) -> float:
    """Matmul and conv FLOPs of one UTD block, counted by torch (eager, the same math)."""
    agent = SAC(EMBEDDING, PROPRIO, ACTION, replace(cfg, compile=False), seed=0)
    with FlopCounterMode(display=False) as counter:
        agent.update(random_batch(cfg.utd_ratio * cfg.batch_size))
    return counter.get_total_flops()


def sb3(batch_size: int) -> Timed:
    """stable-baselines3's SAC at the same sizes (gradient steps per second)."""
    import gymnasium as gym
    from stable_baselines3 import SAC as SB3SAC
    from stable_baselines3.common.logger import configure
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

    class Projection(BaseFeaturesExtractor):
        """Our Linear -> LayerNorm -> tanh 50-d projection of the embedding, proprio passed through."""

        def __init__(self, observation_space, projection_dim: int = 50):
            super().__init__(observation_space, features_dim=projection_dim + PROPRIO)
            self.net = torch.nn.Sequential(
                torch.nn.Linear(EMBEDDING, projection_dim), torch.nn.LayerNorm(projection_dim), torch.nn.Tanh()
            )

        def forward(self, obs):
            return torch.cat([self.net(obs[:, :EMBEDDING]), obs[:, EMBEDDING:]], dim=-1)

    class Dummy(gym.Env):
        observation_space = gym.spaces.Box(-np.inf, np.inf, (EMBEDDING + PROPRIO,), np.float32)
        action_space = gym.spaces.Box(-1.0, 1.0, (ACTION,), np.float32)

    n = 10_000
    model = SB3SAC(
        "MlpPolicy",
        Dummy(),
        buffer_size=n,
        batch_size=batch_size,
        learning_starts=0,
        gamma=0.99,
        tau=0.005,
        learning_rate=3e-4,
        device="cpu",
        seed=0,
        policy_kwargs=dict(net_arch=[256, 256], n_critics=10, features_extractor_class=Projection),
    )
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
    return Timed("stable-baselines3", lambda: model.train(gradient_steps=8, batch_size=batch_size), 8)


def time_act(cfg: AgentConfig, calls: int = 1000) -> np.ndarray:
    """Milliseconds per control tick: frame -> stack -> encoder -> actor, one observation.

    One thread: a batch-1 forward pass gains nothing from a thread team, and on the car the
    control loop must not wait on cores the learner is using.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _time_act(cfg, calls)
    finally:
        torch.set_num_threads(threads)


def _time_act(cfg: AgentConfig, calls: int) -> np.ndarray:
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
        lo, hi = action_range(prev, cfg.action_rate_per_tick)
        prev = agent.act(PolicyInput(embedding=emb, proprio=np.zeros(PROPRIO, np.float32), action_lo=lo, action_hi=hi))
        if i >= 50:
            out.append((time.perf_counter() - t0) * 1e3)
    return np.array(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch intra-op threads")
    parser.add_argument("--seconds", type=float, default=3.0, help="timing window per measurement and round, s")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds; each figure is its best round")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile variant")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    # The learner's target settings: batch 256 per critic update (the practice default is smaller), with the
    # car's 10 critics, 256x256 and UTD 8.
    cfg = replace(AgentConfig(), batch_size=256)
    print(
        f"bench_learner: torch {torch.__version__}, {args.threads} threads, {platform.machine()}, "
        f"{args.rounds} interleaved rounds of {args.seconds:.0f} s, best round reported"
    )
    print(
        f"settings: batch {cfg.batch_size}, {cfg.num_qs} critics, {cfg.hidden_dim}x{cfg.hidden_dim}, "
        f"UTD {cfg.utd_ratio}, embedding {EMBEDDING}, proprio {PROPRIO}, action {ACTION}"
    )

    flops = block_flops(cfg) / cfg.utd_ratio  # per critic update, the actor update amortised
    peaks = [gemm(2048), gemm(4096)]
    ours = {"eager": learner("ours (eager)", cfg)}
    if not args.no_compile:
        ours["compiled"] = learner("ours (compiled)", replace(cfg, compile=True))
    # The like-for-like view of SB3's loop: an actor update after every critic update.
    utd1 = learner("ours (UTD 1)", replace(cfg, utd_ratio=1, compile=not args.no_compile))
    baseline = sb3(cfg.batch_size)
    # Interleave so that every contender sees the same mix of quiet and busy moments.
    contenders = [*peaks, *ours.values(), utd1, baseline]
    for _ in range(args.rounds):
        for timed in contenders:
            timed.measure(min(args.seconds, 1.0) if timed in peaks else args.seconds)
    variant = max(ours, key=lambda k: ours[k].best)

    best = ours[variant].best
    peak_gflops = peak_of(peaks) / 1e9
    achieved = flops * best / 1e9
    for timed in [*ours.values(), utd1, baseline]:
        unit = "gradient steps/s (critic + actor each step)" if timed is baseline else "critic updates/s"
        print(f"{timed.name:<18} {timed.best:8.1f} {unit}   (median {np.median(timed.rates):.1f})")
    for g in peaks:
        print(f"peak float32 {g.name:<5} {g.best / 1e9:8.1f} GFLOP/s (median {np.median(g.rates) / 1e9:.1f})")
    print(f"work               {flops / 1e9:8.2f} GFLOP per critic update (matmuls, actor update amortised)")
    print(f"achieved           {achieved:8.1f} GFLOP/s = {achieved / peak_gflops:.0%} of peak ({variant})")
    print(f"speedup vs SB3     {best / baseline.best:8.2f}x   (UTD 1: {utd1.best / baseline.best:.2f}x)")
    act_ms = time_act(cfg)
    p50, p99 = np.percentile(act_ms, [50, 99])
    print(f"act()              p50 {p50:.2f} ms, p99 {p99:.2f} ms (stack + encoder + actor, batch 1, 1 thread)")
    print(
        json.dumps(
            {
                "updates_per_s": round(best, 1),
                "sb3_updates_per_s": round(baseline.best, 1),
                "speedup_vs_sb3": round(best / baseline.best, 2),
                "fraction_of_peak": round(achieved / peak_gflops, 3),
                "act_p99_ms": round(float(p99), 2),
                "act_p50_ms": round(float(p50), 2),
                "ours_utd1_updates_per_s": round(utd1.best, 1),
                "peak_gflops": round(peak_gflops, 1),
                "achieved_gflops": round(achieved, 1),
                "variant": variant,
                "threads": args.threads,
            }
        )
    )


if __name__ == "__main__":
    main()
