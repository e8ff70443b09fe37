"""Offline goal-conditioned IQL: relabelling, the reward, stacks, augmentation, learning, export."""

import numpy as np
import pytest
import torch

from fastrlap.agent.encoder import EncoderSpec, load_encoder, read_encoder_meta, save_encoder
from fastrlap.agent.features import DISTANCE_SCALE
from fastrlap.config import IQLConfig
from fastrlap.errors import FastrlapError
from fastrlap.pretrain.dataset import STATE_DIM, PriorData, trajectory_bounds
from fastrlap.pretrain.geometry import MAX_FREE, RAY_ANGLES
from fastrlap.pretrain.iql import IQL, photometric_jitter, random_shift
from fastrlap.pretrain.shards import PriorDataError
from fastrlap.pretrain.train import train

SPEC = EncoderSpec(frame_size=32)  # 32 px -> 32·1·1 embedding: the whole pipeline, fast
STEP = 0.05  # m the synthetic car moves per tick


def synthetic(lengths=(40, 25, 35), crash_at=(), vx=1.0, noise=0.0, rays=None) -> PriorData:
    """Straight-line trajectories along +x, each 100 m apart in y; frame pixels = tick index % 256."""
    n = sum(lengths)
    episode = np.concatenate([np.full(L, k) for k, L in enumerate(lengths)])
    first = np.concatenate([[True] + [False] * (L - 1) for L in lengths])
    start, end = trajectory_bounds(episode, first)
    local = np.arange(n) - start
    pose = np.stack([local * STEP, episode * 100.0, np.zeros(n)], axis=1)
    frames = np.broadcast_to((np.arange(n) % 256).astype(np.uint8)[:, None, None, None], (n, 3, 32, 32)).copy()
    collision = np.zeros(n, bool)
    collision[list(crash_at)] = True
    f = lambda a, dt=torch.float32: torch.as_tensor(np.ascontiguousarray(a), dtype=dt)  # noqa: E731
    return PriorData(
        frames=f(frames, torch.uint8),
        pose=f(pose),
        velocity=f(np.tile([vx, 0.0], (n, 1))),
        yaw_rate=f(np.zeros(n)),
        action=f(np.tile([0.2, 0.0], (n, 1))),
        collision=f(collision, torch.bool),
        noise_std=f(np.full(n, noise)),
        start=f(start, torch.int64),
        end=f(end, torch.int64),
        spec=SPEC,
        sources=["synthetic"],
        rays=None if rays is None else f(rays),
    )


def test_trajectory_bounds_split_on_episode_change_and_start_flag():
    episode = np.array([3, 3, 3, 5, 5, 5, 5])
    first = np.array([1, 0, 0, 1, 0, 1, 0], bool)  # a start flag inside an episode id also splits
    start, end = trajectory_bounds(episode, first)
    assert start.tolist() == [0, 0, 0, 3, 3, 5, 5]
    assert end.tolist() == [2, 2, 2, 4, 4, 6, 6]


def test_hindsight_goals_are_future_poses_of_the_same_trajectory():
    data = synthetic()
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        b = data.sample(64, goal_min_ticks=3, goal_max_ticks=20, goal_radius=0.01, crash_penalty=1.0, generator=g)
        dist = b.state[:, 2] * DISTANCE_SCALE
        # Another trajectory is >= 100 m away; a past pose would lie behind (direction x < 0).
        assert float(dist.max()) <= 20 * STEP + 1e-5
        assert torch.all(b.state[:, 0] > 0.999)  # straight ahead
        # At least one tick ahead (goals at a trajectory's last tick may be exactly 1 tick ahead).
        assert float(dist.min()) >= STEP - 1e-5
        assert b.state.shape == (64, STATE_DIM) and b.next_state.shape == (64, STATE_DIM)
    # The last tick of a trajectory never starts a transition (its successor is another trajectory).
    last = data.end.unique()
    assert not bool(torch.isin(data.valid, last).any())


def test_reward_is_speed_toward_the_goal_minus_a_penalty_when_a_crash_begins():
    data = synthetic(lengths=(60,), crash_at=(10, 11), vx=2.0)
    assert data.crash.nonzero().squeeze(1).tolist() == [10]  # the crash begins at 10, continues at 11
    g = torch.Generator().manual_seed(1)
    b = data.sample(512, goal_min_ticks=5, goal_max_ticks=5, goal_radius=0.01, crash_penalty=3.0, generator=g)
    # Straight toward the goal at 2 m/s: reward 2, or 2 - 3 on the tick where the crash begins.
    assert set(np.round(b.reward.numpy(), 4).tolist()) <= {2.0, -1.0}
    assert (b.reward < 0).any()
    # Done only where the goal was clipped to the trajectory's last tick and the next pose is it.
    assert torch.all(b.next_state[b.done == 1, 2] == 0)
    assert torch.all(b.next_state[b.done == 0, 2] * DISTANCE_SCALE >= STEP - 1e-5)
    near = data.sample(256, goal_min_ticks=1, goal_max_ticks=1, goal_radius=STEP * 1.5, crash_penalty=0.0, generator=g)
    assert torch.all(near.done == 1)  # one tick ahead is within the radius: the next pose reaches it


def test_frame_stacks_repeat_the_first_frame_at_a_trajectory_start():
    data = synthetic(lengths=(10, 10))
    stacks = data.stacks(torch.tensor([0, 1, 5, 10, 11]))
    assert stacks.shape == (5, 9, 32, 32)
    pix = stacks[:, ::3, 0, 0].tolist()  # one channel per frame, oldest first
    assert pix == [[0, 0, 0], [0, 0, 1], [3, 4, 5], [10, 10, 10], [10, 10, 11]]
    noisy = synthetic(lengths=(10,), noise=5.0).stacks(torch.tensor([4]), torch.Generator().manual_seed(0))
    assert noisy.dtype == torch.uint8 and 1.0 < float((noisy.float() - 4).std()) < 10.0


def test_random_shift_moves_content_and_keeps_shape():
    x = torch.zeros(8, 3, 16, 16, dtype=torch.uint8)
    x[:, :, 8, 8] = 255
    assert torch.equal(random_shift(x, 0), x)
    y = random_shift(x, 4, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and y.dtype == torch.uint8
    peaks = [divmod(int(img[0].argmax()), 16) for img in y]
    assert all(abs(r - 8) <= 4 and abs(c - 8) <= 4 for r, c in peaks)
    assert len(set(peaks)) > 1  # shifted by different amounts per image


def test_photometric_jitter_relights_each_sample_alike_across_its_stacked_frames():
    g = torch.Generator().manual_seed(0)
    frame = torch.randint(40, 200, (1, 3, 16, 16), generator=g, dtype=torch.uint8)
    x = torch.cat([frame, frame, frame], dim=1).repeat(16, 1, 1, 1)  # 16 samples, 3 equal frames each
    assert torch.equal(photometric_jitter(x, 0.0), x)
    y = photometric_jitter(x, 0.4, torch.Generator().manual_seed(1))
    assert y.shape == x.shape and y.dtype == torch.uint8
    assert torch.equal(y[:, 0:3], y[:, 3:6]) and torch.equal(y[:, 3:6], y[:, 6:9])  # one light per moment
    means = y[:, :3].float().mean(dim=(1, 2, 3))
    assert means.std() > 5  # samples are lit differently
    per_channel = y[:, :3].float().mean(dim=(2, 3)) / x[:, :3].float().mean(dim=(2, 3))
    assert (per_channel.std(dim=1) > 0.01).any()  # white balance moves the channels apart
    # shapes survive: the relit frame is still the frame, up to an affine map of its values
    flat_x, flat_y = x[0, :3].float().flatten(), y[0, :3].float().flatten()
    assert torch.corrcoef(torch.stack([flat_x, flat_y]))[0, 1] > 0.9
    again = photometric_jitter(x, 0.4, torch.Generator().manual_seed(1))
    assert torch.equal(y, again)


def small_cfg(**kw) -> IQLConfig:
    base = dict(
        batch_size=32,
        hidden_dim=64,
        projection_dim=16,
        goal_min_ticks=2,
        goal_max_ticks=15,
        goal_radius=0.08,
        shift=2,
        lr=1e-3,
        log_every=10,
        save_every=50,
    )
    base.update(kw)
    return IQLConfig(**base)


def test_iql_losses_decrease_on_a_tiny_dataset():
    # A short horizon (gamma 0.5: values <= 2) so the bootstrapped targets settle within the test.
    data = synthetic(lengths=(80, 60), crash_at=(30,))
    cfg = small_cfg(gamma=0.5)
    learner = IQL(SPEC, cfg, seed=0)
    g = torch.Generator().manual_seed(0)
    hist = []
    for _ in range(240):
        m = learner.update(data.sample(cfg.batch_size, cfg.goal_min_ticks, cfg.goal_max_ticks, cfg.goal_radius, 1.0, g))
        hist.append((m["q_loss"], m["v_loss"], m["actor_loss"], m["q"]))
    first, last = np.mean(hist[:20], axis=0), np.mean(hist[-40:], axis=0)
    assert last[0] < 0.5 * first[0] and last[1] < 0.5 * first[1] and last[2] < first[2], (first, last)
    assert 0.8 < last[3] < 2.0  # r = 1 per tick: Q heads for 1 / (1 - gamma) = 2 far from the goal


def test_encoder_gets_gradient_from_the_critic_and_not_from_the_actor():
    data = synthetic()
    learner = IQL(SPEC, small_cfg(), seed=0)
    b = data.sample(16, 2, 10, 0.08, 1.0, torch.Generator().manual_seed(0))
    q_loss, v_loss, actor_loss, geometry_loss, _ = learner.losses(b)
    assert float(geometry_loss.detach()) == 0.0 and learner.geometry is None  # weight 0: no head, no loss
    actor_loss.backward(retain_graph=True)
    assert all(p.grad is None for p in learner.encoder.parameters())
    assert any(p.grad is not None for p in learner.actor.parameters())
    q_loss.backward(retain_graph=True)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in learner.encoder.parameters())
    learner.zero_grad(set_to_none=True)
    v_loss.backward()
    assert all(p.grad is not None for p in learner.encoder.parameters())  # the value trains it too


def synthetic_rays(n: int, known: slice = slice(None)) -> np.ndarray:
    """Ray labels that the frames show: every ray's free distance grows with the pixel value."""
    rays = np.full((n, len(RAY_ANGLES)), np.nan, np.float32)
    pixel = (np.arange(n) % 256).astype(np.float32)
    rays[known] = (pixel[known, None] / 255.0 * MAX_FREE) * np.linspace(0.3, 1.0, len(RAY_ANGLES))[None, :]
    return rays


def test_geometry_loss_trains_the_encoder_and_skips_rows_without_labels():
    n = 100
    data = synthetic(rays=synthetic_rays(n, known=slice(0, 40)))  # the first trajectory only is labelled
    learner = IQL(SPEC, small_cfg(geometry_weight=1.0), seed=0)
    assert learner.geometry[0] in learner.readers()  # ReDo zeroes its weights of a recycled channel too
    b = data.sample(64, 2, 10, 0.08, 1.0, torch.Generator().manual_seed(0))
    *_, geometry_loss, _ = learner.losses(b)
    assert float(geometry_loss.detach()) > 0
    geometry_loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in learner.encoder.parameters())
    # Unlabelled rows change nothing: the loss of the labelled rows alone is the same number.
    z = learner.encoder(b.stack)
    known = ~torch.isnan(b.rays).any(dim=1)
    assert 0 < int(known.sum()) < len(known)
    assert torch.allclose(learner.geometry_loss(z, b.rays), learner.geometry_loss(z[known], b.rays[known]))
    assert float(learner.geometry_loss(z, torch.full_like(b.rays, float("nan")))) == 0.0


def test_geometry_loss_decreases_when_weighted_in():
    n = 100
    data = synthetic(rays=synthetic_rays(n))
    cfg = small_cfg(geometry_weight=1.0, gamma=0.5)
    learner = IQL(SPEC, cfg, seed=0)
    g = torch.Generator().manual_seed(0)
    hist = [
        learner.update(data.sample(cfg.batch_size, cfg.goal_min_ticks, cfg.goal_max_ticks, cfg.goal_radius, 1.0, g))[
            "geometry_loss"
        ]
        for _ in range(150)
    ]
    assert np.mean(hist[-20:]) < 0.3 * np.mean(hist[:10]), (hist[:10], hist[-20:])


def test_loaded_simulated_data_has_ray_labels_from_the_prior_environment(tmp_path):
    from fastrlap.config import Config, PretrainConfig
    from fastrlap.pretrain.explore import collect
    from fastrlap.pretrain.geometry import ray_labels
    from fastrlap.sim.track import load_track

    collect(
        PretrainConfig(envs=["campus"], steps=30, frames_per_shard=20), Config().vehicle, seed=0, out=tmp_path / "d"
    )
    data = PriorData.load(tmp_path / "d", SPEC)
    assert data.rays.shape == (30, len(RAY_ANGLES)) and not bool(torch.isnan(data.rays).any())
    expected = ray_labels(load_track("campus"), data.pose.numpy())
    assert np.allclose(data.rays.numpy(), expected)
    assert float(data.rays[:, RAY_ANGLES.index(0.0)].max()) > 1.0  # open ground ahead somewhere


def test_non_finite_loss_is_one_line_and_keeps_the_weights():
    data = synthetic()
    learner = IQL(SPEC, small_cfg(), seed=0)
    b = data.sample(16, 2, 10, 0.08, 1.0, torch.Generator().manual_seed(0))
    b.reward[0] = float("nan")
    before = {k: v.clone() for k, v in learner.state_dict().items()}
    with pytest.raises(FastrlapError) as e:
        learner.update(b)
    assert "\n" not in str(e.value) and "iql.lr" in str(e.value)
    assert all(torch.equal(before[k], v) for k, v in learner.state_dict().items())


def test_exported_encoder_gives_the_same_embeddings_and_says_how_it_was_made(tmp_path):
    data = synthetic()
    learner = IQL(SPEC, small_cfg(), seed=0)
    learner.update(data.sample(16, 2, 10, 0.08, 1.0, torch.Generator().manual_seed(0)))
    path = tmp_path / "encoder.pt"
    save_encoder(learner.encoder, path, training={"steps": 1, "datasets": ["synthetic"]})
    loaded = load_encoder(path, SPEC)
    x = data.stacks(torch.arange(0, 40, 4))
    with torch.no_grad():
        assert torch.equal(loaded(x), learner.encoder(x))
    assert read_encoder_meta(path)["training"] == {"steps": 1, "datasets": ["synthetic"]}


def collect_tiny(tmp_path):
    from fastrlap.config import PretrainConfig, VehicleConfig
    from fastrlap.pretrain.explore import collect

    for k, env in enumerate(("trail", "warehouse")):
        collect(
            PretrainConfig(envs=[env], steps=60, frames_per_shard=25, episode_seconds=4.0, camera_variants=1),
            VehicleConfig(),
            seed=k,
            out=tmp_path / "prior" / f"s{k}",
        )
    return tmp_path / "prior"


def test_train_writes_metrics_and_encoder_and_ctrl_c_keeps_the_encoder(tmp_path, monkeypatch):
    root = collect_tiny(tmp_path)
    data = PriorData.load(root, SPEC)
    assert len(data) == 120 and len(data.sources) == 2
    assert data.frames.shape == (120, 3, 32, 32)  # 128 px shards resized to the spec on load
    cfg = small_cfg(data=str(root), out=str(tmp_path / "out"), steps=20, log_every=5, save_every=10)
    result = train(cfg, SPEC, torch.device("cpu"), seed=0, progress=lambda s: None)
    assert result.steps == 20 and not result.stopped
    rows = (tmp_path / "out" / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("step,seconds,q_loss") and len(rows) == 1 + 4
    meta = read_encoder_meta(result.encoder_path)["training"]
    assert meta["steps"] == 20 and meta["frames"] == 120 and not meta["stopped_early"]
    assert load_encoder(result.encoder_path, SPEC) is not None

    calls = {"n": 0}
    real_update = IQL.update

    def interrupted(self, batch):
        calls["n"] += 1
        if calls["n"] == 7:
            raise KeyboardInterrupt
        return real_update(self, batch)

    monkeypatch.setattr(IQL, "update", interrupted)
    cfg2 = small_cfg(data=str(root), out=str(tmp_path / "out2"), steps=100, log_every=5, save_every=1000)
    lines = []
    stopped = train(cfg2, SPEC, torch.device("cpu"), seed=0, progress=lines.append)
    assert stopped.stopped and stopped.steps == 6
    meta = read_encoder_meta(stopped.encoder_path)["training"]
    assert meta["steps"] == 6 and meta["stopped_early"]
    assert any("stopped at step 6/100" in line for line in lines)


def test_missing_or_empty_data_is_one_line(tmp_path):
    with pytest.raises(PriorDataError) as e:
        PriorData.load(tmp_path / "nothing", SPEC)
    assert "\n" not in str(e.value) and "pretrain collect" in str(e.value)
    with pytest.raises(FastrlapError, match="goal_min_ticks"):
        train(small_cfg(goal_min_ticks=9, goal_max_ticks=3, data=str(tmp_path)), SPEC, torch.device("cpu"), seed=0)


def test_the_shipped_encoder_loads_and_says_how_it_was_made():
    from fastrlap.agent.encoder import DEFAULT_WEIGHTS

    assert DEFAULT_WEIGHTS.stat().st_size < 5 * 2**20
    meta = read_encoder_meta()
    training = meta["training"]
    assert training["method"].startswith("goal-conditioned IQL") and training["frames"] >= 100_000
    assert training["steps"] == IQLConfig().steps  # the defaults are its recipe
    encoder = load_encoder(None, EncoderSpec())
    x = torch.randint(0, 256, (2, 9, 128, 128), dtype=torch.uint8)
    z = encoder(x)
    assert z.shape == (2, 1568) and torch.isfinite(z).all()
    assert float(z.abs().max()) < 6e4  # the replay buffer stores embeddings as float16


def test_training_with_recycling_exports_an_encoder_without_dormant_last_layer_channels(tmp_path):
    from fastrlap.pretrain.recycle import channel_scores

    root = collect_tiny(tmp_path)
    cfg = small_cfg(
        data=str(root), out=str(tmp_path / "out"), steps=30, log_every=10, recycle_every=10, recycle_tau=0.1
    )
    result = train(cfg, SPEC, torch.device("cpu"), seed=0, progress=lambda s: None)
    meta = read_encoder_meta(result.encoder_path)["training"]
    assert len(meta["recycled_during_training"]) == SPEC.num_layers and meta["config"]["recycle_every"] == 10
    assert isinstance(meta["recycled_at_export"], list)
    data = PriorData.load(root, SPEC)
    scores = channel_scores(load_encoder(result.encoder_path, SPEC), data.stacks(torch.arange(len(data))))
    assert int((scores <= 0.0).sum()) <= int((scores <= 0.0).numel() // 4)


def test_pretraining_imports_nothing_from_practice():
    """Pretraining and practice are siblings: what both need (the proprio scales) lives below
    them, so training an encoder never loads the practice loop and its car-side dependencies."""
    import subprocess
    import sys

    modules = ["fastrlap.pretrain." + m for m in ("dataset", "explore", "iql", "probe", "recon", "recycle", "train")]
    code = (
        f"import sys; import {', '.join(modules)}; "
        "print(sorted(m for m in sys.modules if m.startswith('fastrlap.practice')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"
