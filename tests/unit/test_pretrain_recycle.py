"""Recycling dormant last-layer channels of the encoder (pretrain/recycle.py)."""

import pytest
import torch

from fastrlap.agent.encoder import Encoder, EncoderSpec, load_encoder, read_encoder_meta, save_encoder
from fastrlap.errors import FastrlapError
from fastrlap.pretrain.recycle import channel_scores, last_conv, recycle_dormant, recycle_file

SPEC = EncoderSpec(frame_size=32)


def encoder_with_dead_channels(dead=(1, 5)) -> Encoder:
    torch.manual_seed(0)
    enc = Encoder(SPEC).freeze()
    _, conv = last_conv(enc)
    with torch.no_grad():
        conv.bias.fill_(1.0)  # every other channel fires on any input
        for c in dead:  # never fires: no weights, a negative bias before the ReLU
            conv.weight[c] = 0.0
            conv.bias[c] = -1.0
    return enc


def stacks(n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 9, 32, 32), dtype=torch.uint8, generator=g)


def test_only_the_channels_that_never_fire_get_fresh_filters():
    enc = encoder_with_dead_channels()
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    x = stacks()
    scores = channel_scores(enc, x)
    assert scores.shape == (32,) and scores[1] == 0 and scores[5] == 0 and float(scores.mean()) == pytest.approx(1.0)
    report = recycle_dormant(enc, x, tau=0.0, seed=3)
    assert report.channels == [1, 5] and report.frames == 16 and report.layer == 3
    after = enc.state_dict()
    w, b = "convs.6.weight", "convs.6.bias"  # the last conv
    alive = [c for c in range(32) if c not in (1, 5)]
    assert torch.equal(after[w][alive], before[w][alive]) and torch.equal(after[b][alive], before[b][alive])
    assert not torch.equal(after[w][[1, 5]], before[w][[1, 5]])
    for k in before:  # earlier layers untouched
        if not k.startswith("convs.6."):
            assert torch.equal(after[k], before[k])
    assert bool((channel_scores(enc, x)[[1, 5]] > 0).any())  # the fresh filters respond to the frames


def test_recycling_is_a_function_of_weights_frames_tau_and_seed():
    a, b, c = (encoder_with_dead_channels() for _ in range(3))
    x = stacks()
    recycle_dormant(a, x, 0.0, seed=7)
    recycle_dormant(b, x, 0.0, seed=7)
    recycle_dormant(c, x, 0.0, seed=8)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.state_dict()["convs.6.weight"], c.state_dict()["convs.6.weight"])
    d = encoder_with_dead_channels()
    with torch.no_grad():
        last_conv(d)[1].bias[9] = 0.01  # weak: fires a little
    report = recycle_dormant(d, x, tau=0.5, seed=7)  # a threshold marks weak channels too
    assert report.channels == [1, 5, 9]


def test_recycle_file_keeps_the_training_record_and_refuses_bad_settings(tmp_path):
    from tests.unit.test_pretrain_iql import collect_tiny

    root = collect_tiny(tmp_path)
    src = tmp_path / "src.pt"
    save_encoder(encoder_with_dead_channels(), src, training={"method": "test", "steps": 3})
    out = tmp_path / "rec" / "encoder.pt"
    report = recycle_file(src, root, out, tau=0.0, frames=50, seed=0, spec=SPEC)
    assert report.channels == [1, 5] and report.frames == 50
    meta = read_encoder_meta(out)
    assert meta["training"]["method"] == "test" and meta["training"]["steps"] == 3
    rec = meta["training"]["recycled"]
    assert rec["channels"] == [1, 5] and rec["source_sha256"] == read_encoder_meta(src)["sha256"]
    assert len(rec["datasets"]) == 2 and meta["sha256"] != rec["source_sha256"]
    load_encoder(out, SPEC)
    with pytest.raises(FastrlapError, match="recycle_tau"):
        recycle_file(src, root, out, tau=-1.0, frames=50, seed=0, spec=SPEC)
    with pytest.raises(FastrlapError, match="recycle_frames"):
        recycle_file(src, root, out, tau=0.0, frames=0, seed=0, spec=SPEC)


def test_redo_in_training_zeroes_outgoing_weights_resets_adam_and_leaves_the_outputs_unchanged():
    from fastrlap.config import IQLConfig
    from fastrlap.pretrain.iql import IQL
    from fastrlap.pretrain.recycle import conv_layers, layer_scores, recycle

    learner = IQL(SPEC, IQLConfig(hidden_dim=32, projection_dim=8), seed=0)
    convs = conv_layers(learner.encoder)
    with torch.no_grad():  # every channel fires but channel 2 of layer 1 and channels 1, 5 of the last layer
        for conv in convs:
            conv.bias.fill_(0.5)
        convs[1].weight[2] = 0.0
        convs[1].bias[2] = -1.0
        for c in (1, 5):
            convs[3].weight[c] = 0.0
            convs[3].bias[c] = -1.0
    x = stacks(32)
    state, action = torch.zeros(32, 6), torch.zeros(32, 2)
    # One optimizer step so that Adam has moments to reset.
    learner.critic(learner.encoder(x), state, action).sum().backward()
    learner.optimizer.step()
    with torch.no_grad():
        q_before = learner.critic(learner.encoder(x), state, action)
    recycled = recycle(learner.encoder, x, 0.0, seed=1, readers=learner.readers(), optimizer=learner.optimizer)
    assert recycled[1] == [2] and recycled[3] == [1, 5] and recycled[0] == [] and recycled[2] == []
    scores = layer_scores(learner.encoder, x)
    assert scores[1][2] > 0 and scores[3][1] + scores[3][5] > 0  # fresh filters fire
    assert torch.all(convs[2].weight[:, 2] == 0)  # layer 1's channel 2 feeds nothing yet
    positions = SPEC.out_size**2
    cols = [c * positions + p for c in (1, 5) for p in range(positions)]
    for reader in learner.readers():
        assert torch.all(reader.weight[:, cols] == 0)
    state_w = learner.optimizer.state[learner.critic.projection.linear.weight]
    assert torch.all(state_w["exp_avg"][:, cols] == 0) and torch.all(state_w["exp_avg_sq"][:, cols] == 0)
    assert bool((state_w["exp_avg_sq"] != 0).any())  # the rest keeps its moments
    with torch.no_grad():
        assert torch.allclose(learner.critic(learner.encoder(x), state, action), q_before, atol=1e-6)
