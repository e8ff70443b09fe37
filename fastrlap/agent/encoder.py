"""The frozen visual encoder: preprocessing, frame stacking, the conv net, and its weights file.

Input: the `frame_stack` newest RGB frames, each resized to `frame_size`² and stacked on the
channel axis (uint8, (3·K, S, S), oldest first). The net scales to [0, 1] and applies four 3x3
stride-2 convolutions with 32 channels and ReLU (in the spirit of FastRLAP's encoder,
arXiv 2304.09831 §4), then flattens: 128² input -> 32·7·7 = 1568 features.

The encoder is frozen during practice; the actor and the critic learn their own projections
(`networks.Projection`). Weights files carry a metadata header and a hash; a mismatch is a
one-line `EncoderWeightsError`, never a silent reshape.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from fastrlap.errors import FastrlapError
from fastrlap.storage import atomic_write

WEIGHTS_FORMAT = "fastrlap-encoder"
WEIGHTS_VERSION = 1
DEFAULT_WEIGHTS = Path(__file__).resolve().parent.parent / "assets" / "encoder.pt"


class EncoderWeightsError(FastrlapError, RuntimeError):
    """An encoder weights file that does not fit this encoder (or is not one)."""


def resolve_device(device: str) -> torch.device:
    """`auto` -> CUDA when available, else CPU; `cpu` / `cuda` / `cuda:N` as given."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device} but this machine has no CUDA device; use device=auto or device=cpu")
    return torch.device(device)


@dataclass(frozen=True)
class EncoderSpec:
    """Architecture and input of the encoder; stored in every weights file."""

    frame_size: int = 128  # px, frames are resized to frame_size x frame_size
    frame_stack: int = 3  # frames stacked on the channel axis
    channels: int = 32  # conv channels
    num_layers: int = 4  # 3x3 stride-2 conv layers

    @property
    def in_channels(self) -> int:
        return 3 * self.frame_stack

    @property
    def out_size(self) -> int:
        """Spatial side of the last feature map (valid padding: s -> (s - 3) // 2 + 1)."""
        s = self.frame_size
        for _ in range(self.num_layers):
            s = (s - 3) // 2 + 1
        return s

    @property
    def embedding_dim(self) -> int:
        return self.channels * self.out_size**2


class Encoder(nn.Module):
    """uint8 frame stacks (B, 3·K, S, S) -> float32 embeddings (B, E)."""

    def __init__(self, spec: EncoderSpec = EncoderSpec()):
        super().__init__()
        if spec.out_size < 1:
            raise ValueError(f"frame_size {spec.frame_size} is too small for {spec.num_layers} stride-2 convs")
        self.spec = spec
        layers: list[nn.Module] = []
        c = spec.in_channels
        for _ in range(spec.num_layers):
            layers += [nn.Conv2d(c, spec.channels, kernel_size=3, stride=2), nn.ReLU()]
            c = spec.channels
        self.convs = nn.Sequential(*layers)

    @property
    def embedding_dim(self) -> int:
        return self.spec.embedding_dim

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        expected = (self.spec.in_channels, self.spec.frame_size, self.spec.frame_size)
        if frames.dtype != torch.uint8 or tuple(frames.shape[1:]) != expected:
            raise ValueError(
                f"encoder input must be uint8 (B, {expected[0]}, {expected[1]}, {expected[2]}), got "
                f"{frames.dtype} {tuple(frames.shape)}; build it with FrameStack"
            )
        x = frames.to(torch.float32) * (1.0 / 255.0)  # the one place pixels are scaled to [0, 1]
        return self.convs(x).flatten(1)

    @torch.inference_mode()
    def embed(self, stack: np.ndarray) -> np.ndarray:
        """One stack (3·K, S, S) uint8 -> (E,) float32, or a batch (B, 3·K, S, S) -> (B, E)."""
        device = next(self.parameters()).device
        x = torch.from_numpy(np.ascontiguousarray(stack)).to(device)
        single = x.dim() == 3
        out = self(x.unsqueeze(0) if single else x).cpu().numpy()
        return out[0] if single else out

    def freeze(self) -> Encoder:
        """No gradients and eval mode: the encoder is fixed during practice."""
        self.requires_grad_(False)
        return self.eval()


def preprocess_frame(frame: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB from any camera -> (3, size, size) uint8, channels first."""
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"camera frame must be uint8 (H, W, 3) RGB, got {frame.dtype} {frame.shape}")
    if frame.shape[:2] != (size, size):
        shrinking = frame.shape[0] > size or frame.shape[1] > size
        frame = cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    return np.ascontiguousarray(frame.transpose(2, 0, 1))


class FrameStack:
    """The K newest preprocessed frames, oldest first, as the encoder's (3·K, S, S) input."""

    def __init__(self, spec: EncoderSpec = EncoderSpec()):
        self.spec = spec
        self._stack = np.zeros((spec.in_channels, spec.frame_size, spec.frame_size), dtype=np.uint8)
        self._empty = True

    def reset(self, frame: np.ndarray) -> np.ndarray:
        """Start a new episode: every slot holds `frame`."""
        f = preprocess_frame(frame, self.spec.frame_size)
        self._stack[:] = np.tile(f, (self.spec.frame_stack, 1, 1))
        self._empty = False
        return self._stack.copy()

    def push(self, frame: np.ndarray) -> np.ndarray:
        """Add the newest frame (dropping the oldest) and return the stack (a copy)."""
        if self._empty:
            return self.reset(frame)
        f = preprocess_frame(frame, self.spec.frame_size)
        self._stack[:-3] = self._stack[3:]
        self._stack[-3:] = f
        return self._stack.copy()


# ---- weights file ------------------------------------------------------------------------


def weights_hash(state_dict: dict[str, torch.Tensor]) -> str:
    """sha256 over parameter names, shapes and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def save_encoder(encoder: Encoder, path: str | Path, training: dict | None = None) -> None:
    """Write the weights with their metadata atomically (a stop mid-write leaves the old file).

    `training` (JSON-like: dataset, steps, losses, ...) is stored as `meta["training"]` so a
    weights file says how it was made (`read_encoder_meta`).
    """
    state = {k: v.detach().cpu() for k, v in encoder.state_dict().items()}
    meta = {
        **asdict(encoder.spec),
        "in_channels": encoder.spec.in_channels,
        "embedding_dim": encoder.spec.embedding_dim,
        "sha256": weights_hash(state),
    }
    if training is not None:
        meta["training"] = training
    blob = {"format": WEIGHTS_FORMAT, "version": WEIGHTS_VERSION, "meta": meta, "state_dict": state}
    atomic_write(path, lambda f: torch.save(blob, f))


def read_encoder_meta(path: str | Path | None = None) -> dict:
    """The metadata header of a weights file (None = the shipped asset), checked like `load_encoder`."""
    path = Path(path) if path else DEFAULT_WEIGHTS
    return _read_blob(path)["meta"]


def _read_blob(path: Path) -> dict:
    if not path.exists():
        raise EncoderWeightsError(
            f"encoder weights {path} not found; run `fastrlap pretrain train` or set "
            f"agent.encoder=PATH (or agent.encoder=random)"
        )
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError) as e:
        raise EncoderWeightsError(
            f"encoder weights {path} cannot be read ({type(e).__name__}); re-create it with `fastrlap pretrain train`"
        ) from None
    if not isinstance(blob, dict) or blob.get("format") != WEIGHTS_FORMAT:
        raise EncoderWeightsError(f"{path} is not a fastrlap encoder weights file; save it with save_encoder()")
    if blob.get("version") != WEIGHTS_VERSION:
        raise EncoderWeightsError(
            f"encoder weights {path} have format version {blob.get('version')}, this code "
            f"reads {WEIGHTS_VERSION}; re-create them with `fastrlap pretrain train`"
        )
    return blob


def load_encoder(
    path: str | Path | None, spec: EncoderSpec = EncoderSpec(), device: str | torch.device = "cpu"
) -> Encoder:
    """A frozen `Encoder` with the weights in `path` (None or "" = the shipped asset)."""
    path = Path(path) if path else DEFAULT_WEIGHTS
    blob = _read_blob(path)
    meta = blob["meta"]
    for key, want in asdict(spec).items():
        if meta.get(key) != want:
            fix = (
                f"set agent.{key}={meta.get(key)} or use matching weights"
                if key in ("frame_size", "frame_stack")
                else "use weights saved from this encoder architecture"
            )
            raise EncoderWeightsError(
                f"encoder weights {path} have {key}={meta.get(key)} but this encoder has {key}={want}; {fix}"
            )
    state = blob["state_dict"]
    if weights_hash(state) != meta.get("sha256"):
        raise EncoderWeightsError(
            f"encoder weights {path} do not match their sha256 (corrupt or edited); "
            f"re-create them with `fastrlap pretrain train`"
        )
    encoder = Encoder(spec)
    try:
        encoder.load_state_dict(state)
    except RuntimeError:
        raise EncoderWeightsError(
            f"encoder weights {path} do not fit the {spec.num_layers}-layer "
            f"{spec.channels}-channel encoder; re-create them with `fastrlap pretrain train`"
        ) from None
    return encoder.to(device).freeze()
