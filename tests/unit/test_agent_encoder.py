"""Encoder: preprocessing, frame stacking, shapes, frozen weights, weights file checks."""

import numpy as np
import pytest
import torch

from fastrlap.agent.encoder import (
    Encoder,
    EncoderSpec,
    EncoderWeightsError,
    FrameStack,
    load_encoder,
    preprocess_frame,
    resolve_device,
    save_encoder,
)


def test_embedding_size_follows_the_architecture():
    enc = Encoder()
    assert enc.embedding_dim == 32 * 7 * 7  # 128 -> 63 -> 31 -> 15 -> 7
    out = enc(torch.zeros(2, 9, 128, 128, dtype=torch.uint8))
    assert out.shape == (2, 1568) and out.dtype == torch.float32
    assert EncoderSpec(frame_size=64).embedding_dim == 32 * 3 * 3


def test_preprocess_resizes_any_camera_to_channels_first():
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[:, 320:] = 200  # right half bright
    out = preprocess_frame(frame, 128)
    assert out.shape == (3, 128, 128) and out.dtype == np.uint8
    assert out[:, :, :60].max() == 0 and out[:, :, 68:].min() == 200
    assert preprocess_frame(np.zeros((64, 64, 3), np.uint8), 128).shape == (3, 128, 128)
    with pytest.raises(ValueError, match="uint8"):
        preprocess_frame(np.zeros((64, 64, 3), np.float32), 128)


def test_frame_stack_keeps_the_newest_frames_oldest_first():
    stack = FrameStack(EncoderSpec(frame_size=8))
    frames = [np.full((8, 8, 3), v, np.uint8) for v in (10, 20, 30, 40)]
    s = stack.push(frames[0])  # the first frame fills every slot
    assert s.shape == (9, 8, 8) and np.all(s == 10)
    for f in frames[1:]:
        s = stack.push(f)
    assert [int(s[3 * i, 0, 0]) for i in range(3)] == [20, 30, 40]
    s = stack.reset(frames[0])
    assert np.all(s == 10)


def test_encoder_scales_pixels_and_is_frozen(tmp_path):
    enc = Encoder().freeze()
    assert not any(p.requires_grad for p in enc.parameters()) and not enc.training
    # Scaling to [0, 1] happens inside: feeding 255 equals feeding 1.0 to the raw convs.
    x = torch.full((1, 9, 128, 128), 255, dtype=torch.uint8)
    assert torch.allclose(enc(x), enc.convs(torch.ones(1, 9, 128, 128)).flatten(1))
    with pytest.raises(ValueError, match="FrameStack"):
        enc(torch.zeros(1, 9, 128, 128))
    emb = enc.embed(np.zeros((9, 128, 128), np.uint8))
    assert emb.shape == (1568,) and emb.dtype == np.float32


def test_weights_round_trip(tmp_path):
    enc = Encoder()
    path = tmp_path / "enc.pt"
    save_encoder(enc, path)
    loaded = load_encoder(path)
    x = torch.randint(0, 256, (2, 9, 128, 128), dtype=torch.uint8)
    assert torch.equal(enc(x), loaded(x))
    assert not any(p.requires_grad for p in loaded.parameters())


def test_weights_mismatch_and_corruption_are_one_line_errors(tmp_path):
    path = tmp_path / "enc.pt"
    save_encoder(Encoder(EncoderSpec(frame_size=96)), path)
    with pytest.raises(EncoderWeightsError, match="frame_size=96.*agent.frame_size=96") as err:
        load_encoder(path, EncoderSpec(frame_size=128))
    assert "\n" not in str(err.value)

    save_encoder(Encoder(), path)
    blob = torch.load(path, weights_only=True)
    first = next(iter(blob["state_dict"]))
    blob["state_dict"][first] = blob["state_dict"][first] + 1e-3
    torch.save(blob, path)
    with pytest.raises(EncoderWeightsError, match="sha256"):
        load_encoder(path)

    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(EncoderWeightsError, match="cannot be read"):
        load_encoder(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(EncoderWeightsError, match="not a fastrlap encoder"):
        load_encoder(tmp_path / "other.pt")
    with pytest.raises(EncoderWeightsError, match="not found.*pretrain"):
        load_encoder(tmp_path / "missing.pt")


def test_device_auto_resolves():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            resolve_device("cuda")
