"""Learning sanity: from state observations the agent solves Pendulum-v1 within 6k steps.

Pass mark (a solved Pendulum): mean return > -250 over 10 evaluation episodes, for 2 of 2 seeds. UTD and batch size
are chosen for test time (< 3 minutes for both seeds on 2 CPU cores); the learner is the one the
car uses, with its 10-critic ensemble. Training stops at the first evaluation that passes.
"""

import time

import gymnasium as gym
import numpy as np
import pytest
import torch

from fastrlap.agent.replay import ReplayBuffer
from fastrlap.agent.sac import SAC, PolicyInput
from fastrlap.config import AgentConfig
from fastrlap.types import Transition

MAX_STEPS = 6000
RANDOM_STEPS = 500  # uniform random actions before the policy acts
EVAL_EVERY = 500
SOLVED = -250.0
NO_EMBEDDING = np.zeros(0, np.float32)
FULL_LO, FULL_HI = -np.ones(1, np.float32), np.ones(1, np.float32)  # Pendulum needs no rate limit

PENDULUM_CFG = AgentConfig(
    num_qs=10,
    num_min_qs=2,
    hidden_dim=256,
    utd_ratio=2,
    batch_size=64,
    init_temperature=0.1,
    target_entropy=-1.0,
    target_entropy_start=-1.0,
    target_entropy_anneal_updates=0,
)


def policy_input(obs: np.ndarray) -> PolicyInput:
    return PolicyInput(embedding=NO_EMBEDDING, proprio=obs.astype(np.float32), action_lo=FULL_LO, action_hi=FULL_HI)


def evaluate(agent: SAC, episodes: int = 10) -> float:
    env = gym.make("Pendulum-v1")
    returns = []
    for i in range(episodes):
        obs, _ = env.reset(seed=10_000 + i)
        total, done = 0.0, False
        while not done:
            obs, r, term, trunc, _ = env.step(2.0 * agent.act(policy_input(obs), deterministic=True))
            total += r
            done = term or trunc
        returns.append(total)
    return float(np.mean(returns))


def train_pendulum(seed: int, cfg: AgentConfig = PENDULUM_CFG, log=None) -> tuple[int, float]:
    """Returns (environment steps used, evaluation return) at the first passing evaluation or the end."""
    torch.manual_seed(seed)
    env = gym.make("Pendulum-v1")
    agent = SAC(0, 3, 1, cfg, seed=seed)
    buf = ReplayBuffer(0, 3, 1, capacity=MAX_STEPS, seed=seed)
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    score = -np.inf
    for step in range(1, MAX_STEPS + 1):
        if step <= RANDOM_STEPS:
            action = rng.uniform(-1.0, 1.0, 1).astype(np.float32)
        else:
            action = agent.act(policy_input(obs))
        nxt, reward, term, trunc, _ = env.step(2.0 * action)  # action [-1, 1] -> torque [-2, 2] N·m
        buf.insert(
            Transition(
                embedding=NO_EMBEDDING,
                proprio=obs.astype(np.float32),
                action=action,
                action_lo=FULL_LO,
                action_hi=FULL_HI,
                reward=float(reward),
                next_embedding=NO_EMBEDDING,
                next_proprio=nxt.astype(np.float32),
                next_action_lo=FULL_LO,
                next_action_hi=FULL_HI,
                done=term,
                mask=0.0 if term else 1.0,
            )
        )
        obs = nxt
        if term or trunc:
            obs, _ = env.reset()
        if step >= RANDOM_STEPS:
            info = agent.update(buf.sample(cfg.utd_ratio * cfg.batch_size))
        if step % EVAL_EVERY == 0 and step > RANDOM_STEPS:
            score = evaluate(agent)
            if log:
                log(f"seed {seed} step {step}: eval {score:.1f} temperature {info['temperature']:.3f}")
            if score > SOLVED:
                return step, score
    return MAX_STEPS, score


@pytest.mark.slow  # about a minute per seed on one core
@pytest.mark.parametrize("seed", [0, 1])
def test_solves_pendulum_within_6k_steps(seed):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small matmuls: one thread is as fast and leaves the other core free
    try:
        steps, score = train_pendulum(seed)
    finally:
        torch.set_num_threads(threads)
    assert score > SOLVED, f"seed {seed}: mean return {score:.1f} after {steps} steps"


if __name__ == "__main__":  # tuning aid: python tests/unit/test_agent_pendulum.py SEED [UTD BATCH]
    import sys
    from dataclasses import replace

    torch.set_num_threads(1)
    kw = {}
    if len(sys.argv) > 3:
        kw = dict(utd_ratio=int(sys.argv[2]), batch_size=int(sys.argv[3]))
    t0 = time.time()
    print(
        train_pendulum(
            int(sys.argv[1]),
            replace(PENDULUM_CFG, **kw),
            log=lambda s: print(f"{time.time() - t0:6.1f}s {s}", flush=True),
        )
    )
