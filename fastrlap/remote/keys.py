"""The shared key of a car <-> learner link and the CurveZMQ key pairs made from it.

One secret (32 random bytes, written as 64 hex digits) is all an operator copies to the car:
both CurveZMQ key pairs (the learner's and the cars') are derived from it, so whoever holds the
file can connect and nobody else can (the learner accepts only the cars' derived public key),
and everything on the wire is encrypted and protected against replay by CurveZMQ itself.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import zmq
from zmq.utils import z85

from fastrlap.errors import FastrlapError
from fastrlap.vehicle.pose_auth import read_key_file

KEY_FILE = "learner.key"
KEY_HEX = 64  # hex digits of the 32-byte shared secret


class LinkKeyError(FastrlapError):
    """The shared key file of the learner link is missing or unusable."""


@dataclass(frozen=True)
class CurveKeys:
    """Z85 CurveZMQ keys both sides derive from the shared secret."""

    server_public: bytes
    server_secret: bytes
    car_public: bytes
    car_secret: bytes


def derive(secret: bytes) -> CurveKeys:
    """Both key pairs from the secret: any 32 bytes are a valid Curve25519 secret key, so a
    labelled hash of the shared secret gives each side its own, reproducibly."""
    server = z85.encode(hashlib.sha256(b"fastrlap learner server\0" + secret).digest())
    car = z85.encode(hashlib.sha256(b"fastrlap learner car\0" + secret).digest())
    return CurveKeys(zmq.curve_public(server), server, zmq.curve_public(car), car)


def create_key(path: Path) -> bytes:
    """A new secret in `path`, readable by its owner only (mode 0600 from the first byte on)."""
    secret = secrets.token_bytes(KEY_HEX // 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secret.hex() + "\n")
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise LinkKeyError(
            f"cannot create the learner key {path} ({e.strerror}); make {path.parent} writable"
        ) from None
    return secret


def read_key(path: Path, hint: str) -> bytes:
    """The secret in `path`; `hint` says where a good copy comes from."""
    text = read_key_file(path, "learner key file", hint, LinkKeyError)
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        secret = b""
    if len(secret) != KEY_HEX // 2:
        raise LinkKeyError(f"learner key file {path} does not hold {KEY_HEX} hex digits: {hint}")
    return secret


def server_key(run_dir: Path, key_file: str) -> tuple[bytes, Path, bool]:
    """The learner's secret: `key_file` if given, else run_dir/learner.key, created on first use
    (then True: the caller prints it once so the operator can copy it to the car)."""
    path = Path(key_file).expanduser() if key_file else run_dir / KEY_FILE
    if not key_file and not path.exists():
        return create_key(path), path, True
    return read_key(path, "give learner_link.key_file the file `fastrlap learner serve` created"), path, False


def car_key(key_file: str, address: str) -> bytes:
    """The car's copy of the secret, from `learner_link.key_file`."""
    hint = (
        f"copy learner.key from the learner's run directory (`fastrlap learner serve` printed its path) to "
        f"this machine and set learner_link.key_file=PATH for learner={address}"
    )
    if not key_file:
        raise LinkKeyError(f"learner={address} needs the shared key: {hint}")
    return read_key(Path(key_file).expanduser(), hint)
