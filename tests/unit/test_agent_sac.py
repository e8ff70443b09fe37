"""SAC learner: target computation, UTD blocks, temperature, checkpoints, NaN handling."""

import platform
import sys

import numpy as np
import pytest
import torch

from fastrlap.agent.cpu_fastpath import AdamState, adam_step, keep_freed_memory
from fastrlap.agent.replay import Batch
from fastrlap.agent.sac import (
    SAC,
    AgentFileError,
    NonFiniteError,
    PolicyInput,
    action_range,
    critic_loss,
    critic_target,
    next_actions,
)
from fastrlap.config import AgentConfig

E, P, A = 12, 5, 2


def small_cfg(**kw) -> AgentConfig:
    base = dict(hidden_dim=32, projection_dim=8, num_qs=4, num_min_qs=2, utd_ratio=4, batch_size=16)
    base.update(kw)
    return AgentConfig(**base)


def random_batch(n: int, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    lo = torch.rand(n, A, generator=g) * 0.8 - 1.0
    nlo = torch.rand(n, A, generator=g) * 0.8 - 1.0
    return Batch(
        embedding=torch.randn(n, E, generator=g),
        proprio=torch.randn(n, P, generator=g),
        action=lo + 0.1,
        action_lo=lo,
        action_hi=lo + 0.4,
        reward=torch.randn(n, generator=g),
        mask=(torch.rand(n, generator=g) > 0.1).float(),
        next_embedding=torch.randn(n, E, generator=g),
        next_proprio=torch.randn(n, P, generator=g),
        next_action_lo=nlo,
        next_action_hi=nlo + 0.4,
    )


def test_critic_target_hand_computed():
    reward = torch.tensor([1.0, 2.0, -0.5])
    mask = torch.tensor([1.0, 0.0, 1.0])
    next_qs = torch.tensor([[3.0, 5.0, -1.0], [4.0, 1.0, -2.0]])  # two sampled critics
    y = critic_target(reward, mask, next_qs, gamma=0.9)
    # min over critics: [3, 1, -2]; the second transition is terminal and does not bootstrap.
    assert torch.allclose(y, torch.tensor([1.0 + 0.9 * 3.0, 2.0, -0.5 + 0.9 * -2.0]))


def test_critic_loss_uses_the_min_of_the_sampled_target_members_only():
    agent = SAC(E, P, A, small_cfg(), seed=0)
    with torch.no_grad():  # make target members clearly different from each other
        for i, p in enumerate(agent.target_critic.out.bias):
            p.fill_(10.0 * i)
    batch = random_batch(16)
    noise = torch.randn(16, A)
    members = torch.tensor([3, 1])
    a_next = next_actions(agent.actor, batch, noise)
    assert bool(((a_next >= batch.next_action_lo) & (a_next <= batch.next_action_hi)).all())
    _, info = critic_loss(agent.critic, agent.target_critic, batch, a_next, members, 0.99)
    with torch.no_grad():
        q_all = agent.target_critic(batch.next_embedding, batch.next_proprio, a_next)
        expected = batch.reward + 0.99 * batch.mask * torch.minimum(q_all[3], q_all[1])
    assert float(info["target_mean"]) == pytest.approx(float(expected.mean()), abs=1e-5)
    _, other = critic_loss(agent.critic, agent.target_critic, batch, a_next, torch.tensor([2, 3]), 0.99)
    assert float(other["target_mean"]) != pytest.approx(float(info["target_mean"]), abs=1e-3)


def test_mean_minus_std_target_hand_computed():
    reward = torch.tensor([1.0, 0.0])
    mask = torch.tensor([1.0, 1.0])
    next_qs = torch.tensor(
        [[2.0, 10.0], [4.0, 10.0], [6.0, 10.0]]
    )  # three critics: the first state divides them, the second not
    # mean [4, 10]; population std [sqrt(8/3), 0].
    y = critic_target(reward, mask, next_qs, gamma=0.5, std_coef=1.5)
    expected = torch.tensor([1.0 + 0.5 * (4.0 - 1.5 * (8.0 / 3.0) ** 0.5), 0.5 * 10.0])
    assert torch.allclose(y, expected)
    assert torch.allclose(
        critic_target(reward, mask, next_qs, gamma=0.5, std_coef=0.0), torch.tensor([1.0 + 0.5 * 4.0, 5.0])
    )


@pytest.mark.parametrize("k", [0.0, 2.0])
def test_the_risk_aware_agent_targets_every_critic_and_the_default_stays_redq(k):
    batch = random_batch(2 * 16)
    default, same, risky = (
        SAC(E, P, A, small_cfg(**extra), seed=0)
        for extra in (
            {"utd_ratio": 2},
            {"utd_ratio": 2, "critic_target": "min2", "critic_target_std": 5.0},
            {"utd_ratio": 2, "critic_target": "mean_minus_std", "critic_target_std": k},
        )
    )
    with torch.no_grad():
        for agent in (default, same, risky):
            for i, p in enumerate(agent.target_critic.out.bias):
                p.fill_(10.0 * i)
    infos = [agent.update(batch) for agent in (default, same, risky)]
    assert infos[0]["target_mean"] == infos[1]["target_mean"]  # min2 ignores the coefficient
    # The last critic step's target, recomputed from the risky agent's state before that step.
    check = SAC(E, P, A, small_cfg(utd_ratio=2, critic_target="mean_minus_std", critic_target_std=k), seed=0)
    with torch.no_grad():
        for i, p in enumerate(check.target_critic.out.bias):
            p.fill_(10.0 * i)
    a_next = next_actions(check.actor, batch, torch.randn(batch.action.shape, generator=check.update_generator)).chunk(
        2
    )
    check._critic_step(batch.split(2)[0], a_next[0])
    last = batch.split(2)[1]
    with torch.no_grad():
        q_all = check.target_critic(last.next_embedding, last.next_proprio, a_next[1])
        expected = last.reward + 0.99 * last.mask * (q_all.mean(0) - k * q_all.std(0, correction=0))
    assert infos[2]["target_mean"] == pytest.approx(float(expected.mean()), abs=1e-4)
    assert infos[2]["target_mean"] != pytest.approx(infos[0]["target_mean"], abs=1e-2)


def _adam_pair(seed: int = 0):
    """Two copies of the same weights: one for torch's Adam, one for adam_step."""
    g = torch.Generator().manual_seed(seed)
    shapes = [(4, 3, 5), (4, 1, 5), (7,)]
    ref = [torch.nn.Parameter(torch.randn(s, generator=g)) for s in shapes]
    ours = [torch.nn.Parameter(p.detach().clone()) for p in ref]
    return ref, ours, g


@pytest.mark.parametrize("compiled", [False, True])
def test_adam_step_matches_torch_adam_and_keeps_its_state_format(compiled):
    ref, ours, g = _adam_pair()
    ref_opt = torch.optim.Adam(ref, lr=1e-2, betas=(0.8, 0.99), eps=1e-6)
    our_opt = torch.optim.Adam(ours, lr=1e-2, betas=(0.8, 0.99), eps=1e-6, fused=True)
    state = AdamState.of(our_opt)
    step = torch.compile(adam_step) if compiled else adam_step
    for _ in range(5):
        grads = [torch.randn(p.shape, generator=g) for p in ref]
        for p, gr in zip(ref, grads):
            p.grad = gr.clone()
        ref_opt.step()
        with torch.no_grad():
            step(ours, grads, state, torch.tensor(True))
    for a, b in zip(ref, ours):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
    # Its state is torch's: moments and counts load into a fresh torch Adam and match.
    fresh = torch.optim.Adam(ref, lr=1e-2, betas=(0.8, 0.99), eps=1e-6)
    fresh.load_state_dict(our_opt.state_dict())
    for p in ref:
        assert float(fresh.state[p]["step"]) == 5.0
        torch.testing.assert_close(fresh.state[p]["exp_avg"], ref_opt.state[p]["exp_avg"], rtol=1e-6, atol=1e-6)


def test_keep_freed_memory_takes_on_glibc_and_can_be_asked_again():
    """The learner asks for it on every CPU agent it builds, so asking twice must be harmless."""
    on_glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert keep_freed_memory() is on_glibc and keep_freed_memory() is on_glibc


def test_adam_step_not_ok_changes_nothing():
    _, ours, g = _adam_pair()
    opt = torch.optim.Adam(ours, lr=1e-2, fused=True)
    state = AdamState.of(opt)
    with torch.no_grad():
        adam_step(ours, [torch.randn(p.shape, generator=g) for p in ours], state, torch.tensor(True))
    before = [t.clone() for t in [*ours, *state.exp_avgs, *state.exp_avg_sqs, *state.steps]]
    with torch.no_grad():
        adam_step(ours, [torch.full(p.shape, float("nan")) for p in ours], state, torch.tensor(False))
    after = [*ours, *state.exp_avgs, *state.exp_avg_sqs, *state.steps]
    assert all(torch.equal(a, b) for a, b in zip(before, after))


def test_update_runs_utd_critic_steps_and_one_actor_step():
    cfg = small_cfg()
    agent = SAC(E, P, A, cfg, seed=0)
    target_before = [p.clone() for p in agent.target_critic.parameters()]
    info = agent.update(random_batch(cfg.utd_ratio * cfg.batch_size))
    assert agent.critic_updates == cfg.utd_ratio and agent.actor_updates == 1
    for key in ("critic_loss", "q_mean", "actor_loss", "entropy", "temperature", "target_entropy"):
        assert np.isfinite(info[key]), key
    # Targets moved by polyak averaging: a little, not all the way.
    moved = [(a - b).abs().max() for a, b in zip(agent.target_critic.parameters(), target_before)]
    assert max(float(m) for m in moved) > 0
    with pytest.raises(ValueError, match="equal minibatches"):
        agent.update(random_batch(cfg.utd_ratio * cfg.batch_size + 1))


def test_critic_fits_a_fixed_batch():
    agent = SAC(E, P, A, small_cfg(gamma=0.0, lr=1e-3), seed=0)
    batch = random_batch(64, seed=1)
    first = agent.update(batch)["critic_loss"]
    for _ in range(60):
        last = agent.update(batch)["critic_loss"]
    assert last < 0.2 * first


@pytest.mark.parametrize("target, direction", [(5.0, +1), (-30.0, -1)])
def test_temperature_moves_toward_the_target_entropy(target, direction):
    agent = SAC(E, P, A, small_cfg(target_entropy=target, target_entropy_start=target, lr=1e-2), seed=0)
    batch = random_batch(64)
    start = agent.update(batch)["temperature"]
    for _ in range(20):
        info = agent.update(batch)
    assert (info["temperature"] - start) * direction > 0
    # An entropy above the target lowers the temperature, one below raises it.
    assert (target - info["entropy"]) * direction > 0


def test_target_entropy_anneals_linearly():
    agent = SAC(E, P, A, small_cfg(target_entropy_start=-2.0, target_entropy=-3.0, target_entropy_anneal_updates=4))
    seen = []
    for _ in range(6):
        seen.append(agent.update(random_batch(64))["target_entropy"])
    assert seen == pytest.approx([-2.0, -2.25, -2.5, -2.75, -3.0, -3.0])


def test_state_dict_round_trip_gives_identical_actions_and_updates(tmp_path):
    cfg = small_cfg()
    a = SAC(E, P, A, cfg, seed=0)
    for i in range(3):
        a.update(random_batch(64, seed=i))
    a.save(tmp_path / "agent.pt")
    b = SAC(E, P, A, cfg, seed=123)
    b.load(tmp_path / "agent.pt")
    lo, hi = action_range(np.array([0.3, -0.95]), 0.2)
    obs = PolicyInput(embedding=np.ones(E, np.float32), proprio=np.zeros(P, np.float32), action_lo=lo, action_hi=hi)
    for _ in range(5):
        np.testing.assert_array_equal(a.act(obs), b.act(obs))
    np.testing.assert_array_equal(a.act(obs, deterministic=True), b.act(obs, deterministic=True))
    assert a.update(random_batch(64, seed=9)) == b.update(random_batch(64, seed=9))
    for pa, pb in zip(a.critic.parameters(), b.critic.parameters()):
        assert torch.equal(pa, pb)


def test_act_respects_the_rate_limited_range():
    agent = SAC(E, P, A, small_cfg(), seed=0)
    prev = np.array([0.95, -0.1], np.float32)
    lo, hi = action_range(prev, 0.2)
    np.testing.assert_allclose(lo, [0.75, -0.3], atol=1e-6)
    np.testing.assert_allclose(hi, [1.0, 0.1], atol=1e-6)
    for _ in range(50):
        a = agent.act(PolicyInput(np.random.randn(E).astype(np.float32), np.random.randn(P).astype(np.float32), lo, hi))
        assert a.shape == (A,) and np.all(a >= lo) and np.all(a <= hi)


def _weights(agent):
    return [p.detach().clone() for p in list(agent.critic.parameters()) + list(agent.actor.parameters())]


def test_nan_in_batch_raises_naming_the_field_and_keeps_weights(tmp_path):
    cfg = small_cfg()
    agent = SAC(E, P, A, cfg, seed=0)
    agent.update(random_batch(64))
    before = _weights(agent)
    bad = random_batch(64)
    bad.reward[7] = float("nan")
    targets_before = [p.clone() for p in agent.target_critic.parameters()]
    moments_before = [s["exp_avg_sq"].clone() for s in agent.critic_opt.state.values()]
    with pytest.raises(NonFiniteError, match="reward") as err:
        agent.update(bad)
    assert "\n" not in str(err.value) and "weights kept" in str(err.value)
    for p, q in zip(before, _weights(agent)):
        assert torch.equal(p, q)
    # The refused step moved neither the targets nor Adam's moments.
    assert all(torch.equal(p, q) for p, q in zip(targets_before, agent.target_critic.parameters()))
    assert all(torch.equal(m, s["exp_avg_sq"]) for m, s in zip(moments_before, agent.critic_opt.state.values()))
    agent.update(random_batch(64, seed=2))  # the learner goes on with good data
    agent.save(tmp_path / "ok.pt")


def test_corrupt_weights_are_never_checkpointed_nor_loaded(tmp_path):
    agent = SAC(E, P, A, small_cfg(), seed=0)
    good = agent.state_dict()
    with torch.no_grad():
        agent.critic.out.bias[0, 0, 0] = float("inf")
    with pytest.raises(NonFiniteError, match="critic.out.bias"):
        agent.save(tmp_path / "bad.pt")
    assert not (tmp_path / "bad.pt").exists() and not (tmp_path / "bad.pt.tmp").exists()
    poisoned = dict(good, actor={k: v.clone() for k, v in good["actor"].items()})
    next(iter(poisoned["actor"].values())).fill_(float("nan"))
    fresh = SAC(E, P, A, small_cfg(), seed=1)
    with pytest.raises(NonFiniteError, match="earlier checkpoint"):
        fresh.load_state_dict(poisoned)
    with pytest.raises(ValueError, match="dims"):
        SAC(E + 1, P, A, small_cfg()).load_state_dict(good)


def test_agent_config_is_in_the_typed_config_and_overridable():
    from fastrlap.cli import compose

    cfg = compose(["agent.utd_ratio=4", "agent.num_qs=5"])
    assert isinstance(cfg.agent, AgentConfig)
    assert cfg.agent.utd_ratio == 4 and cfg.agent.num_qs == 5 and cfg.agent.batch_size == AgentConfig().batch_size


def test_same_seed_same_networks_without_touching_the_global_rng():
    torch.manual_seed(77)
    expected = torch.rand(3)
    torch.manual_seed(77)
    a = SAC(E, P, A, small_cfg(), seed=5)
    assert torch.equal(torch.rand(3), expected)
    b = SAC(E, P, A, small_cfg(), seed=5)
    c = SAC(E, P, A, small_cfg(), seed=6)
    assert all(torch.equal(x, y) for x, y in zip(a.critic.parameters(), b.critic.parameters()))
    assert not torch.equal(a.actor.head.weight, c.actor.head.weight)


def test_compiled_update_matches_eager():
    """agent.compile=true is a speed setting only: the same seeds give the same learning step."""
    eager = SAC(E, P, A, small_cfg(), seed=0)
    compiled = SAC(E, P, A, small_cfg(compile=True), seed=0)
    for i in range(2):
        batch = random_batch(64, seed=i)
        m_eager, m_compiled = eager.update(batch), compiled.update(batch)
        for key in ("critic_loss", "actor_loss", "temperature", "entropy"):
            assert m_compiled[key] == pytest.approx(m_eager[key], rel=1e-4, abs=1e-5), key
    for pe, pc in zip(eager.critic.parameters(), compiled.critic.parameters()):
        assert torch.allclose(pe, pc, atol=1e-5)


def test_actor_step_leaves_the_critic_trainable_and_untouched():
    """The actor update freezes the critic only while it builds its graph, and never moves it."""
    cfg = small_cfg(utd_ratio=1)
    agent = SAC(E, P, A, cfg, seed=0)
    batch = random_batch(cfg.batch_size)
    critic_after_critic_step = []
    step = agent._critic_step

    def spy(*args):
        info = step(*args)
        critic_after_critic_step.extend(p.detach().clone() for p in agent.critic.parameters())
        return info

    agent._critic_step = spy
    agent.update(batch)
    assert all(p.requires_grad for p in agent.critic.parameters())
    for before, p in zip(critic_after_critic_step, agent.critic.parameters()):
        assert torch.equal(before, p)
    assert agent.actor_updates == 1


def test_flipped_bytes_in_a_checkpoint_are_refused_in_one_line_naming_the_file(tmp_path):
    agent = SAC(E, P, A, small_cfg(), seed=0)
    agent.update(random_batch(64))
    path = tmp_path / "learner.pt"
    agent.save(path)
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(0)
    for k in rng.choice(len(data) // 2, 256, replace=False) + len(data) // 4:  # inside the tensor data
        data[k] ^= 0xFF
    path.write_bytes(bytes(data))
    fresh = SAC(E, P, A, small_cfg(), seed=1)
    before = _weights(fresh)
    with pytest.raises(AgentFileError) as err:
        fresh.load(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value) and "checksum" in str(err.value)
    assert all(torch.equal(p, q) for p, q in zip(before, _weights(fresh)))


def test_nan_in_the_optimiser_state_is_refused(tmp_path):
    agent = SAC(E, P, A, small_cfg(), seed=0)
    agent.update(random_batch(64))
    state = agent.state_dict()
    next(iter(state["critic_opt"]["state"].values()))["exp_avg"].fill_(float("nan"))
    with pytest.raises(NonFiniteError, match="critic_opt"):
        SAC(E, P, A, small_cfg(), seed=1).load_state_dict(state)


class _Payload:
    """Unpickling this would run a shell command (the classic malicious-pickle trick)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("sealed", [False, True])
def test_a_crafted_pickle_cannot_run_code_when_loaded(tmp_path, sealed):
    import io

    from fastrlap.agent.sac import write_checkpoint

    marker = tmp_path / "pwned"
    path = tmp_path / "learner.pt"
    buf = io.BytesIO()
    torch.save({"dims": (E, P, A), "actor": _Payload(marker)}, buf)
    if sealed:  # a valid checksum must not make the content trusted
        write_checkpoint(path, buf.getvalue())
    else:
        path.write_bytes(buf.getvalue())
    with pytest.raises(AgentFileError) as err:
        SAC(E, P, A, small_cfg()).load(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)
    assert not marker.exists()
