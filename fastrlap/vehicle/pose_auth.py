"""Authenticated external pose datagrams: who may tell the car where it is.

An external pose goes straight into the estimator, and from there into the geofence, the reward
and the policy's goal direction; anyone able to send one UDP datagram could otherwise steer the
car into a wall. So every pose datagram carries an HMAC-SHA256 made with a key shared between the
tracker and the car, a sequence number and the sender's clock (docs/hardware.md, "Pose sources"):

    datagram = body + b"\\n" + hex(HMAC-SHA256(key, body))          (64 hex digits)
    body     = JSON {"seq": n, "t": unix seconds, "x": m, "y": m, "yaw": rad, ...}

A datagram is rejected, and counted by kind, when its MAC is missing or was made with another
key (`unauthenticated`), when its `t` is further than `max_age` from this machine's clock
(`stale`: a recorded datagram played back later, or clocks out of sync), when its `seq` is not
above the last accepted one (`replayed`: a recorded datagram played back at once), or when the
authentic body is unusable (`malformed`). Sequence numbers must therefore only grow for a given
key, across sender restarts too: start them at the Unix time in microseconds.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from dataclasses import dataclass
from pathlib import Path

from fastrlap.errors import FastrlapError

MIN_KEY_CHARS = 32
MAC_HEX = 64  # hex digits of an HMAC-SHA256
KEY_HINT = (
    "create one with `openssl rand -hex 32 > pose.key && chmod 600 pose.key`, set "
    "vehicle.real.pose.udp_key_file=pose.key and give the tracker's sender the same file"
)


class PoseKeyError(FastrlapError):
    """The shared key for external poses is missing or unusable."""


class PoseRejected(FastrlapError):
    """One datagram that is not an authentic, fresh, new pose; `kind` names the counter it adds to."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


@dataclass(frozen=True)
class PoseRejections:
    """Datagrams refused since the receiver started, by reason."""

    unauthenticated: int = 0  # no MAC, or a MAC made with another key
    stale: int = 0  # timestamp further than max_age from this machine's clock
    replayed: int = 0  # sequence number not above the last accepted one
    malformed: int = 0  # authentic, but not a usable pose

    @property
    def total(self) -> int:
        return self.unauthenticated + self.stale + self.replayed + self.malformed

    def describe(self) -> str:
        """The counts for the operator, e.g. "3 unauthenticated, 1 replayed" ("none" when all are 0)."""
        parts = [
            f"{n} {kind}"
            for kind, n in (
                ("unauthenticated", self.unauthenticated),
                ("stale", self.stale),
                ("replayed", self.replayed),
                ("malformed", self.malformed),
            )
            if n
        ]
        return ", ".join(parts) if parts else "none"


def load_pose_key(key: str, key_file: str) -> bytes:
    """The shared key from `vehicle.real.pose.udp_key` or the file `udp_key_file` (one of them).

    The key is the text with surrounding whitespace removed, as UTF-8 bytes: the hex digits
    `openssl rand -hex 32` prints are used as they are, so every sender computes the same MAC
    from the same file without decoding it."""
    if key and key_file:
        raise PoseKeyError(
            "vehicle.real.pose.udp_key and udp_key_file are both set: keep one (the file keeps "
            "the key out of logs and shell history)"
        )
    if key_file:
        path = Path(key_file).expanduser()
        text = read_key_file(path, "pose key file", KEY_HINT, PoseKeyError)
        where = f"pose key file {path}"
    else:
        text = key.strip()
        where = "vehicle.real.pose.udp_key"
    if not text:
        raise PoseKeyError(f"pose.source=external needs a shared key to authenticate poses: {KEY_HINT}")
    if len(text) < MIN_KEY_CHARS:
        raise PoseKeyError(f"{where} holds a key of {len(text)} characters, fewer than {MIN_KEY_CHARS}: {KEY_HINT}")
    return text.encode("utf-8")


def read_key_file(path: Path, what: str, hint: str, error: type[FastrlapError]) -> str:
    """The text of a shared-key file, stripped; a missing or unreadable file is one `error` line
    naming `what` it is and, in `hint`, where a good one comes from."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise error(f"{what} {path} not found: {hint}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read {what} {path} ({exc}): {hint}") from None


def sign_pose(key: bytes, fields: dict) -> bytes:
    """The datagram for one pose: `fields` (seq, t, x, y, yaw, ...) as JSON, a newline, its MAC."""
    body = json.dumps(fields, separators=(",", ":")).encode("utf-8")
    return body + b"\n" + hmac.new(key, body, hashlib.sha256).hexdigest().encode("ascii")


class PoseAuthenticator:
    """Checks datagrams against the shared key, the clock and the last sequence number; counts refusals.

    Not thread-safe by itself: one receiver thread calls `open`; readers only take `rejections`.
    """

    def __init__(self, key: bytes, max_age: float) -> None:
        self.key = key
        self.max_age = max_age
        self._last_seq: int | None = None
        self._counts = {"unauthenticated": 0, "stale": 0, "replayed": 0, "malformed": 0}
        self.last_rejection = ""

    @property
    def rejections(self) -> PoseRejections:
        return PoseRejections(**self._counts)

    def open(self, datagram: bytes, now: float) -> bytes:
        """The authentic JSON body of `datagram` received at Unix time `now`; `PoseRejected` otherwise."""
        try:
            return self._open(datagram, now)
        except PoseRejected as exc:
            self._counts[exc.kind] += 1
            self.last_rejection = str(exc)
            raise

    def _open(self, datagram: bytes, now: float) -> bytes:
        body, sep, mac = datagram.rpartition(b"\n")
        mac = mac.strip()
        if not sep or len(mac) != MAC_HEX:
            raise PoseRejected(
                "unauthenticated",
                f"pose datagram without a MAC ({datagram[:40]!r}): sign it with "
                f"the shared key (docs/hardware.md, Pose sources)",
            )
        want = hmac.new(self.key, body, hashlib.sha256).hexdigest().encode("ascii")
        if not hmac.compare_digest(want, mac.lower()):
            raise PoseRejected(
                "unauthenticated",
                "pose datagram with a wrong MAC: the sender uses another key than vehicle.real.pose.udp_key_file",
            )
        try:
            obj = json.loads(body.decode("utf-8"))
            seq, t = obj["seq"], float(obj["t"])
            if not isinstance(seq, int) or isinstance(seq, bool) or not math.isfinite(t):
                raise ValueError("seq must be an integer and t a finite number")
        except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise PoseRejected(
                "malformed", f"authentic pose datagram without a usable seq and t ({type(exc).__name__}: {exc})"
            ) from None
        if abs(now - t) > self.max_age:
            raise PoseRejected(
                "stale",
                f"pose datagram stamped {now - t:+.2f} s from this machine's clock (more "
                f"than {self.max_age:.2f} s): synchronise the clocks (NTP) or "
                f"raise vehicle.real.pose.udp_max_age",
            )
        if self._last_seq is not None and seq <= self._last_seq:
            raise PoseRejected(
                "replayed",
                f"pose datagram seq {seq} is not above the last accepted "
                f"{self._last_seq}: a replay, or a sender that restarted its count",
            )
        self._last_seq = seq
        return body

    def count_malformed(self, detail: str) -> None:
        """An authentic, fresh body that still is not a pose (bad numbers): counted like the others."""
        self._counts["malformed"] += 1
        self.last_rejection = detail
