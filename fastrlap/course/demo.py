"""The recorded demo lap: the `Demo` record, recording it from a `Vehicle`, and `demo.npz`.

The user drives one slow lap (FastRLAP, arXiv 2304.09831 §IV); everything the car later
optimises comes from it: the checkpoints, what counts as a lap, the demo lap time to beat.
One sample per control tick: the observation, then the command the driver gave in response.
Recording runs on about a metre past the closing line (`lap_end` marks the interpolated close);
the last sample's command is neutral (the car stops).

File format (`demo.npz`, savez_compressed, version `DEMO_FORMAT_VERSION`): arrays with a leading
axis N (below) plus `format_version` (int) and `meta` (a JSON string: track, vehicle, control_hz,
fastrlap_version, driver, closed, lap_time, lap_end, created).
"""

from __future__ import annotations

import json
import math
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from fastrlap import __version__
from fastrlap.actions import to_action
from fastrlap.config import CourseConfig, VehicleConfig
from fastrlap.course.checkpoints import Gate, LapTimer
from fastrlap.errors import FastrlapError
from fastrlap.storage import atomic_write
from fastrlap.types import NEUTRAL, Command, Observation
from fastrlap.vehicle.base import Vehicle

DEMO_FORMAT_VERSION = 1
_TAIL_METRES = 1.0  # the recording runs on this far past the closing line (or _TAIL_SECONDS), so
_TAIL_SECONDS = 2.0  # the checkpoint-0 gate, extracted from the path, is crossed in the data too

# name -> (trailing shape, dtype kind) of every per-tick array in demo.npz.
_ARRAYS: dict[str, tuple[tuple[int, ...] | None, str]] = {
    "t": ((), "f"),  # s, from the vehicle's clock
    "pose": ((3,), "f"),  # x m, y m, yaw rad: the estimated pose the course will see in practice
    "true_pose": ((3,), "f"),  # ground truth where known (simulator), else NaN
    "velocity": ((2,), "f"),  # m/s, body frame (vx, vy)
    "yaw_rate": ((), "f"),  # rad/s
    "accel": ((3,), "f"),  # m/s², body-frame IMU incl. gravity
    "gyro": ((3,), "f"),  # rad/s, body frame
    "wheel_speed": ((), "f"),  # m/s
    "collision": ((), "b"),  # a contact began or continued during the tick before
    "command": ((2,), "f"),  # target speed m/s, steering angle rad
    "action": ((2,), "f"),  # the command as a policy action in [-1, 1]² (VehicleConfig mapping)
    "frames": (None, "u"),  # (H, W, 3) uint8 RGB camera frames
}


class DemoFileError(FastrlapError):
    """demo.npz is missing, corrupt, truncated or of another format version."""


class DemoRejected(FastrlapError):
    """The demo did not close a lap (too short, timed out, emergency stop); the partial is kept."""


class DemoInterrupted(FastrlapError):
    """Ctrl-C during recording; the partial demo is kept."""


@dataclass(frozen=True, eq=False)  # arrays: compare fields explicitly
class Demo:
    t: np.ndarray  # (N,)
    pose: np.ndarray  # (N, 3)
    true_pose: np.ndarray  # (N, 3), NaN where unknown
    velocity: np.ndarray  # (N, 2)
    yaw_rate: np.ndarray  # (N,)
    accel: np.ndarray  # (N, 3)
    gyro: np.ndarray  # (N, 3)
    wheel_speed: np.ndarray  # (N,)
    collision: np.ndarray  # (N,) bool
    command: np.ndarray  # (N, 2)
    action: np.ndarray  # (N, 2)
    frames: np.ndarray  # (N, H, W, 3) uint8
    track: str = ""  # simulator track name or path ("" on a real course)
    vehicle: str = "sim"  # VehicleConfig.kind
    control_hz: float = 10.0
    driver: str = ""  # who drove: script | keyboard | rc | gamepad
    closed: bool = False  # the lap closed (a partial demo is not closed)
    lap_time: float = math.nan  # s, standing start to the interpolated closing crossing
    lap_end: float = math.nan  # fractional sample index of the closing crossing (k + f: between k and k+1)
    fastrlap_version: str = __version__
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def __len__(self) -> int:
        return len(self.t)

    def lap_path(self) -> np.ndarray:
        """(M, 2) estimated positions from the start to the interpolated closing point."""
        if not self.closed:
            raise ValueError("the demo did not close a lap; record it again")
        k = int(math.floor(self.lap_end))
        f = self.lap_end - k
        end = self.pose[k, :2] + f * (self.pose[min(k + 1, len(self) - 1), :2] - self.pose[k, :2])
        return np.vstack([self.pose[: k + 1, :2], end[None]])

    @property
    def path_length(self) -> float:
        """m along the recorded positions (noisy poses make it slightly long)."""
        return float(np.sum(np.linalg.norm(np.diff(self.pose[:, :2], axis=0), axis=1)))


# ---------------------------------------------------------------------------------------------
# Recording

Driver = Callable[[Observation], Command]


class _Recorder:
    """Per-tick lists that become a `Demo` (kept so an interruption loses nothing)."""

    def __init__(self, vehicle_cfg: VehicleConfig) -> None:
        self.vcfg = vehicle_cfg
        self.rows: dict[str, list] = {name: [] for name in _ARRAYS}

    def __len__(self) -> int:
        return len(self.rows["t"])

    def add(self, obs: Observation, cmd: Command) -> None:
        r, v = self.rows, self.vcfg
        tp = obs.true_pose
        r["t"].append(obs.t)
        r["pose"].append(obs.pose.as_array())
        r["true_pose"].append(tp.as_array() if tp is not None else np.full(3, np.nan))
        r["velocity"].append(np.asarray(obs.velocity, dtype=np.float64))
        r["yaw_rate"].append(obs.yaw_rate)
        r["accel"].append(np.asarray(obs.imu.accel, dtype=np.float64))
        r["gyro"].append(np.asarray(obs.imu.gyro, dtype=np.float64))
        r["wheel_speed"].append(obs.wheel_speed)
        r["collision"].append(bool(obs.collision))
        r["command"].append((cmd.speed, cmd.steer))
        r["action"].append(to_action(cmd.speed, cmd.steer, v))
        r["frames"].append(obs.frame)

    def demo(self, **meta) -> Demo:
        arrays = {}
        for name, (_, kind) in _ARRAYS.items():
            dtype = {"f": np.float64, "b": np.bool_, "u": np.uint8}[kind]
            arrays[name] = np.asarray(self.rows[name], dtype=dtype)
        if len(self) == 0:
            arrays["frames"] = np.zeros((0, 1, 1, 3), np.uint8)
        return Demo(**arrays, vehicle=self.vcfg.kind, control_hz=float(self.vcfg.control_hz), **meta)


def record_demo(
    vehicle: Vehicle,
    driver: Driver,
    vehicle_cfg: VehicleConfig,
    cfg: CourseConfig,
    partial_path: str | Path,
    track: str = "",
    driver_name: str = "",
    on_tick: Callable[[Observation, float], None] | None = None,
    estop_reason: Callable[[], str] | None = None,
) -> Demo:
    """Drive one lap with `driver`, recording every control tick; returns the closed `Demo`.

    The lap closes when the car crosses the start line (the starting pose's heading, within
    `cfg.lap_close_radius` of the start) after covering at least `cfg.min_demo_length` m; the
    recording then runs on for ~1 m. The lap time runs from the standing start to that crossing,
    interpolated (one `LapTimer`).
    Anything else — Ctrl-C, an emergency stop, no closed lap within `cfg.max_demo_seconds`, an
    error in the driver or the vehicle — saves what was recorded to `partial_path` (never to the
    demo's own name) and raises; a `FastrlapError` (a gamepad unplugged, a stalled camera) comes
    back as one `DemoRejected` line that also names the partial file. `on_tick(obs, metres)` is for
    progress display; `estop_reason()` says why the car reported an emergency stop (on the car:
    the RC signal lost, the link down), for the error line.
    """
    rec = _Recorder(vehicle_cfg)
    meta = dict(track=track, driver=driver_name)
    partial = Path(partial_path)

    def keep_partial() -> str:
        if len(rec) == 0:
            return "nothing was recorded"
        save_demo(rec.demo(closed=False, **meta), partial)
        return f"the partial demo ({len(rec)} ticks) is kept in {partial}"

    closing: tuple[float, float, float] | None = None  # lap time, lap end, travelled at the close
    obs: Observation | None = None

    def closed_demo() -> Demo:
        if obs is not None and rec.rows["t"][-1] != obs.t:
            rec.add(obs, NEUTRAL)  # the newest observation, the car about to stop
        return rec.demo(closed=True, lap_time=closing[0], lap_end=closing[1], **meta)

    try:
        obs = vehicle.observe()
        t0, start = obs.t, obs.pose
        gate = Gate(point=(start.x, start.y), heading=start.yaw, half_width=cfg.lap_close_radius)
        timer = LapTimer()
        timer.restart(t0)
        travelled, farthest = 0.0, 0.0
        collisions, touching = 0, False  # contacts begun, and whether one is going on
        came_back = math.inf  # m, nearest approach to the start once the car was well away from it
        while True:
            if closing is not None and (
                travelled - closing[2] >= _TAIL_METRES or obs.t - t0 - closing[0] >= _TAIL_SECONDS
            ):
                return closed_demo()
            if obs.estop:
                if closing is not None:
                    return closed_demo()
                why = f" ({estop_reason()})" if estop_reason is not None else ""
                raise DemoRejected(
                    f"emergency stop after {obs.t - t0:.1f} s{why}; {keep_partial()}; record the demo again"
                )
            cmd = driver(obs)
            rec.add(obs, cmd)
            vehicle.act(cmd)
            nxt = vehicle.observe()
            p0, p1 = (obs.pose.x, obs.pose.y), (nxt.pose.x, nxt.pose.y)
            travelled += math.hypot(p1[0] - p0[0], p1[1] - p0[1])
            from_start = math.hypot(p1[0] - start.x, p1[1] - start.y)
            if farthest > 2 * cfg.lap_close_radius:
                came_back = min(came_back, from_start)
            farthest = max(farthest, from_start)
            collisions += int(nxt.collision and not touching)
            touching = nxt.collision
            if on_tick is not None:
                on_tick(nxt, travelled)
            if closing is None and travelled >= cfg.min_demo_length and farthest > 2 * cfg.lap_close_radius:
                crossed = gate.crossing(obs.t, p0, nxt.t, p1)
                if crossed is not None:
                    k = len(rec) - 1  # the crossing lies between sample k (obs) and k + 1 (nxt)
                    closing = (float(timer.complete(crossed)), k + (crossed - obs.t) / (nxt.t - obs.t), travelled)
            obs = nxt
            if closing is None and obs.t - t0 > cfg.max_demo_seconds:
                why = _why_no_lap(cfg, travelled, farthest, came_back, collisions)
                raise DemoRejected(
                    f"no closed lap: timed out after {obs.t - t0:.0f} s (course.max_demo_seconds) "
                    f"with {travelled:.1f} m driven; {why}; {keep_partial()}"
                )
    except KeyboardInterrupt:
        if closing is not None:  # Ctrl-C after the lap closed: the demo is complete
            return closed_demo()
        raise DemoInterrupted(
            f"interrupted (Ctrl-C) before the lap closed; {keep_partial()}; run record-demo again to record a full lap"
        ) from None
    except DemoRejected:
        raise
    except FastrlapError as e:
        raise DemoRejected(f"{e}; {keep_partial()}") from None
    except Exception:
        keep_partial()
        raise
    finally:
        vehicle.stop()


def _why_no_lap(cfg: CourseConfig, travelled: float, farthest: float, came_back: float, collisions: int) -> str:
    """The reason a demo drive never closed its lap, from how far and where the car went."""
    hits = f" and hit something {collisions} times" if collisions else ""
    if travelled < 0.5:
        return f"the car barely moved{hits} (stuck, or the driver gave no throttle)"
    if travelled < cfg.min_demo_length:
        return (
            f"it covered {travelled:.1f} m{hits}, less than the course.min_demo_length="
            f"{cfg.min_demo_length:g} m a lap needs"
        )
    if farthest <= 2 * cfg.lap_close_radius:
        return (
            f"it never got more than {farthest:.1f} m from the start{hits} (a lap must leave the start by "
            f"2 x course.lap_close_radius={2 * cfg.lap_close_radius:g} m)"
        )
    if came_back > cfg.lap_close_radius:
        return (
            f"it never came back across the start line{hits} (closest {came_back:.1f} m from the start; the "
            f"line reaches course.lap_close_radius={cfg.lap_close_radius:g} m either side)"
        )
    return f"it came back to the start{hits} but never crossed the start line in the starting direction"


# ---------------------------------------------------------------------------------------------
# demo.npz


def save_demo(demo: Demo, path: str | Path) -> Path:
    """Write `demo` atomically (compressed npz): a crash mid-write never leaves half a demo."""
    path = Path(path)
    meta = dict(
        track=demo.track,
        vehicle=demo.vehicle,
        control_hz=demo.control_hz,
        driver=demo.driver,
        closed=demo.closed,
        lap_time=None if math.isnan(demo.lap_time) else demo.lap_time,
        lap_end=None if math.isnan(demo.lap_end) else demo.lap_end,
        fastrlap_version=demo.fastrlap_version,
        created=demo.created,
    )
    return atomic_write(
        path,
        lambda f: np.savez_compressed(
            f,
            format_version=np.int64(DEMO_FORMAT_VERSION),
            meta=np.array(json.dumps(meta)),
            **{name: getattr(demo, name) for name in _ARRAYS},
        ),
    )


def load_demo(path: str | Path) -> Demo:
    """Read and validate a demo; every problem is one `DemoFileError` line naming the file and the fix."""
    path = Path(path)
    # A demo lives in its run directory: the fix names the command for that very folder.
    if not path.is_file():
        raise DemoFileError(f"{path}: no such demo file; record one with `fastrlap record-demo run_dir={path.parent}`")
    fix = f"record it again with `fastrlap record-demo run_dir={path.parent} force=true` (the old file is kept aside)"
    try:
        with np.load(path, allow_pickle=False) as z:
            if "format_version" not in z.files:
                raise DemoFileError(f"{path}: not a fastrlap demo (no format_version); {fix}")
            version = int(z["format_version"])
            if version != DEMO_FORMAT_VERSION:
                raise DemoFileError(
                    f"{path}: demo format version {version}, this fastrlap reads version "
                    f"{DEMO_FORMAT_VERSION}; {fix} (or load it with the fastrlap that wrote it)"
                )
            missing = [k for k in ("meta", *_ARRAYS) if k not in z.files]
            if missing:
                raise DemoFileError(f"{path}: demo lacks {', '.join(missing)} (truncated or not a demo); {fix}")
            meta = json.loads(str(z["meta"]))
            arrays = {name: z[name] for name in _ARRAYS}
    except DemoFileError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError, TypeError) as e:
        raise DemoFileError(f"{path}: corrupt or truncated demo ({type(e).__name__}); {fix}") from None
    n = len(arrays["t"])
    for name, (shape, kind) in _ARRAYS.items():
        a = arrays[name]
        ok = a.dtype.kind == kind and a.shape[:1] == (n,)
        ok = ok and (a.ndim == 4 and a.shape[3] == 3 if shape is None else a.shape[1:] == shape)
        if not ok:
            raise DemoFileError(
                f"{path}: demo array {name!r} has {a.dtype} {a.shape}, expected {n} rows of "
                f"{'(H, W, 3) uint8' if shape is None else shape}; {fix}"
            )
    if n < 2 or not np.all(np.isfinite(arrays["pose"])) or not np.all(np.diff(arrays["t"]) > 0):
        raise DemoFileError(f"{path}: demo has {n} samples with non-finite poses or non-increasing times; {fix}")
    try:
        lap_time, lap_end = meta["lap_time"], meta["lap_end"]
        demo = Demo(
            **arrays,
            track=str(meta["track"]),
            vehicle=str(meta["vehicle"]),
            control_hz=float(meta["control_hz"]),
            driver=str(meta["driver"]),
            closed=bool(meta["closed"]),
            lap_time=math.nan if lap_time is None else float(lap_time),
            lap_end=math.nan if lap_end is None else float(lap_end),
            fastrlap_version=str(meta["fastrlap_version"]),
            created=str(meta["created"]),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise DemoFileError(f"{path}: demo metadata malformed ({type(e).__name__}: {e}); {fix}") from None
    if demo.closed and not (0.0 <= demo.lap_end <= n - 1):
        raise DemoFileError(f"{path}: demo lap end {demo.lap_end} lies outside its {n} samples; {fix}")
    return demo
