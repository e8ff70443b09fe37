"""Actor squashing and density, vectorised critic ensemble, ensemble subsampling."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fastrlap.agent.networks import (
    CriticEnsemble,
    TanhGaussianActor,
    squash,
    squashed_log_prob,
    subsample_ensemble,
)


def random_ranges(b, a, gen):
    """Per-sample boxes like the car's: [prev - 0.2, prev + 0.2] clipped to [-1, 1], plus odd widths."""
    prev = torch.rand(b, a, generator=gen) * 2 - 1
    width = torch.where(
        torch.rand(b, a, generator=gen) < 0.5, torch.full((b, a), 0.2), torch.rand(b, a, generator=gen) * 0.9 + 0.01
    )
    lo = (prev - width).clamp(-1, 1)
    hi = (prev + width).clamp(-1, 1)
    hi = torch.maximum(hi, lo + 0.01)
    return lo, hi


def test_actions_stay_inside_random_per_sample_ranges():
    gen = torch.Generator().manual_seed(0)
    actor = TanhGaussianActor(embedding_dim=16, proprio_dim=5, action_dim=2, hidden_dim=32)
    with torch.no_grad():
        actor.head.bias.fill_(3.0)  # push means and std to the edges so tanh saturates
    b = 4096
    emb, prop = torch.randn(b, 16, generator=gen) * 10, torch.randn(b, 5, generator=gen) * 10
    lo, hi = random_ranges(b, 2, gen)
    for deterministic in (False, True):
        a, logp = actor(emb, prop, lo, hi, deterministic=deterministic, generator=gen)
        assert a.shape == (b, 2) and logp.shape == (b,)
        assert bool(((a >= lo) & (a <= hi)).all())
        assert bool(torch.isfinite(logp).all())
    # Saturated pre-tanh values land exactly on the edges, never beyond them.
    u = torch.tensor([[-50.0, 50.0]]).double()
    a = squash(u, lo[:1].double(), hi[:1].double())
    assert torch.allclose(a, torch.stack([lo[0, 0], hi[0, 1]]).double()[None])


def _log_prob_at(a, mean, log_std, lo, hi):
    u = torch.atanh(2 * (a - lo) / (hi - lo) - 1)
    return squashed_log_prob(u, mean, log_std, lo, hi)


def test_log_prob_matches_numerical_change_of_variables():
    """p_a(a) = p_u(u) / |da/du| with da/du by central finite differences, per dimension."""
    torch.manual_seed(1)
    mean = torch.randn(64, 2, dtype=torch.float64)
    log_std = torch.rand(64, 2, dtype=torch.float64) - 0.5
    lo = torch.rand(64, 2, dtype=torch.float64) - 1.0
    hi = lo + 0.05 + torch.rand(64, 2, dtype=torch.float64)
    u = mean + torch.randn(64, 2, dtype=torch.float64) * log_std.exp()
    eps = 1e-6
    dadu = (squash(u + eps, lo, hi) - squash(u - eps, lo, hi)) / (2 * eps)
    gauss = torch.distributions.Normal(mean, log_std.exp()).log_prob(u)
    expected = (gauss - dadu.log()).sum(-1)
    assert torch.allclose(squashed_log_prob(u, mean, log_std, lo, hi), expected, atol=1e-6)


def test_density_integrates_to_one_over_the_box_and_matches_samples():
    """Grid integral of exp(log_prob) over [lo, hi] is 1, and a histogram of samples matches it."""
    mean = torch.tensor([[0.7]], dtype=torch.float64)
    log_std = torch.tensor([[math.log(0.8)]], dtype=torch.float64)
    lo, hi = torch.tensor([[-0.3]], dtype=torch.float64), torch.tensor([[0.1]], dtype=torch.float64)
    edges = torch.linspace(-0.3, 0.1, 401, dtype=torch.float64)
    mid = 0.5 * (edges[1:] + edges[:-1])
    dens = _log_prob_at(mid[:, None], mean, log_std, lo, hi).exp()
    assert float((dens * (edges[1] - edges[0])).sum()) == pytest.approx(1.0, abs=2e-3)

    gen = torch.Generator().manual_seed(2)
    u = mean + torch.randn(200_000, 1, generator=gen, dtype=torch.float64) * log_std.exp()
    a = squash(u, lo, hi)[:, 0].numpy()
    coarse = np.linspace(-0.3, 0.1, 9)
    counts, _ = np.histogram(a, bins=coarse)
    fine = torch.linspace(-0.3, 0.1, 8001, dtype=torch.float64)
    fmid = 0.5 * (fine[1:] + fine[:-1])
    fd = (_log_prob_at(fmid[:, None], mean, log_std, lo, hi).exp() * (fine[1] - fine[0])).numpy()
    expected = fd.reshape(8, 1000).sum(1)
    np.testing.assert_allclose(counts / len(a), expected, atol=4e-3)


def test_log_prob_gradient_flows_to_the_actor():
    actor = TanhGaussianActor(embedding_dim=0, proprio_dim=3, action_dim=2, hidden_dim=16)
    lo, hi = -torch.ones(8, 2), torch.ones(8, 2)
    a, logp = actor(torch.zeros(8, 0), torch.randn(8, 3), lo, hi)
    (a.sum() + logp.sum()).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in actor.parameters())


def _member_forward(critic, i, emb, prop, act):
    """Q_i computed the slow, obvious way with member i's own weights."""
    x = torch.cat([critic.projection(emb), prop, act], dim=-1)
    for lin, norm in zip(critic.linears, critic.norms):
        x = x @ lin.weight[i] + lin.bias[i]
        x = F.relu(F.layer_norm(x, x.shape[-1:]) * norm.weight[i] + norm.bias[i])
    return (x @ critic.out.weight[i] + critic.out.bias[i]).squeeze(-1)


def test_vectorised_ensemble_equals_a_loop_over_members_and_subsets():
    torch.manual_seed(3)
    critic = CriticEnsemble(embedding_dim=20, proprio_dim=4, action_dim=2, num_qs=5, hidden_dim=32)
    with torch.no_grad():  # make members' norms differ from their init so indexing errors show
        for norm in critic.norms:
            norm.weight.normal_()
            norm.bias.normal_()
    emb, prop, act = torch.randn(7, 20), torch.randn(7, 4), torch.rand(7, 2) * 2 - 1
    q = critic(emb, prop, act)
    assert q.shape == (5, 7)
    for i in range(5):
        assert torch.allclose(q[i], _member_forward(critic, i, emb, prop, act), atol=1e-5)
    idx = torch.tensor([3, 1])
    assert torch.allclose(critic(emb, prop, act, members=idx), q[idx], atol=1e-5)
    # Members are independent functions: different weights give different values.
    assert not torch.allclose(q[0], q[1])


def test_subsample_ensemble_draws_distinct_uniform_members():
    gen = torch.Generator().manual_seed(4)
    counts = np.zeros(10)
    for _ in range(3000):
        idx = subsample_ensemble(10, 2, generator=gen)
        assert idx.shape == (2,) and idx[0] != idx[1]
        assert 0 <= int(idx.min()) and int(idx.max()) < 10
        counts[idx.numpy()] += 1
    # Each member is picked with probability 2/10: 600 of 3000 draws, std ~ 22.
    assert np.all(np.abs(counts - 600) < 100), counts
    with pytest.raises(ValueError, match="num_min_qs"):
        subsample_ensemble(3, 4)


def test_vectorised_ensemble_gradients_equal_the_loop_over_members():
    """The shared input is broadcast to every member: its gradient is the sum over members."""
    torch.manual_seed(5)
    critic = CriticEnsemble(embedding_dim=20, proprio_dim=4, action_dim=2, num_qs=4, hidden_dim=32)
    emb, prop = torch.randn(9, 20), torch.randn(9, 4)
    act = (torch.rand(9, 2) * 2 - 1).requires_grad_(True)
    weights = torch.randn(4, 9)
    (critic(emb, prop, act) * weights).sum().backward()
    fast = {name: p.grad.clone() for name, p in critic.named_parameters()}
    fast_act = act.grad.clone()
    critic.zero_grad()
    act.grad = None
    sum((_member_forward(critic, i, emb, prop, act) * weights[i]).sum() for i in range(4)).backward()
    for name, p in critic.named_parameters():
        assert torch.allclose(fast[name], p.grad, atol=1e-5), name
    assert torch.allclose(fast_act, act.grad, atol=1e-5)


def test_polyak_moves_targets_a_fraction_toward_their_sources():
    from fastrlap.agent.networks import polyak_

    targets, sources = [torch.zeros(3), torch.ones(2, 2)], [torch.full((3,), 2.0), torch.full((2, 2), 3.0)]
    polyak_(targets, sources, 0.25)
    assert torch.allclose(targets[0], torch.full((3,), 0.5)) and torch.allclose(targets[1], torch.full((2, 2), 1.5))
    polyak_(targets, sources, torch.tensor(0.0))  # a skipped step: a zero rate as a tensor leaves them
    assert torch.allclose(targets[0], torch.full((3,), 0.5))
