"""The car's camera: a capture thread that always holds the newest frame, with its timestamp.

The control loop runs at 10 Hz while a webcam delivers 30 fps; reading frames on demand would
return the oldest frame in the driver's queue (often 100-200 ms old). `Camera` reads
continuously in a background thread and keeps only the newest frame, stamped with
`time.monotonic()` when the read returned, already resized to the policy resolution
(128x128 RGB, what the encoder takes). `latest()` raises `CameraStalled` when no frame arrived for
`stale_after` seconds, so a frozen or unplugged camera stops the car instead of feeding it an
old picture.

Sources (the `source` argument, as in the `vehicle.real.camera` config):
- a device index (`0`, or the string `"0"`): a USB webcam through OpenCV's default backend;
- a file path or URL (`lap.mp4`, `rtsp://...`): files are paced to their own frame rate, as if
  a camera were filming them;
- a GStreamer pipeline string (contains `!`, e.g. a Jetson CSI camera:
  `nvarguscamerasrc ! video/x-raw(memory:NVMM),width=1280,height=720 ! nvvidconv ! appsink`).

Frames are resized whole (no crop), so the policy sees the camera's full field of view; set the
simulator's `vehicle.sim.camera.fov_deg` to the real lens's horizontal field of view.

`FakeCamera` is the same `Camera` over a synthetic source (tests, `doctor` checks); the
hardware-in-the-loop car feeds rendered frames through `CallbackSource`.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from fastrlap.errors import FastrlapError


class CameraError(FastrlapError):
    """A camera problem; the message names the source and the fix."""


class CameraUnavailable(CameraError):
    """The source cannot be opened or delivers nothing."""


class CameraStalled(CameraError):
    """No new frame for longer than `stale_after` (frozen driver, unplugged cable, file ended)."""


@dataclass(frozen=True)
class CameraFrame:
    image: np.ndarray  # (H, W, 3) uint8 RGB at the policy resolution
    t: float  # time.monotonic() when the capture returned it, s
    index: int  # frames delivered by the source so far (1 = the first)


@dataclass(frozen=True)
class CameraStats:
    frames: int  # frames captured since open
    fps: float  # capture rate over the last ~2 s, frames/s (0 before two frames)
    read_ms: float  # median time a source read blocked, ms (a proxy for driver latency)
    age_s: float | None  # seconds since the newest frame was captured (None before the first)


class FrameSource(Protocol):
    """Where frames come from. `read` blocks until the next frame (RGB uint8, any size)."""

    description: str

    def read(self) -> np.ndarray | None:
        """The next frame, or None when the source has ended or failed to deliver one."""

    def close(self) -> None: ...


def parse_source(source: int | str) -> int | str:
    """`0` or `"0"` -> device index 0; anything else stays a path, URL or pipeline string."""
    if isinstance(source, int):
        return source
    text = str(source).strip()
    if not text:
        raise CameraUnavailable(
            "camera source is empty: set vehicle.real.camera.source to a device index "
            "(0), a video file, or a GStreamer pipeline"
        )
    return int(text) if text.isdigit() else text


def quiet_opencv() -> None:
    """Keep OpenCV's own log to errors: a failed probe otherwise prints several "[ WARN:0@...]"
    lines per backend tried, around the one line (with its fix) that this module raises instead."""
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


class OpenCVSource:
    """cv2.VideoCapture over a device index, a file/URL, or a GStreamer pipeline."""

    def __init__(self, source: int | str, fps: float = 0.0, size: tuple[int, int] | None = None) -> None:
        quiet_opencv()
        src = parse_source(source)
        self.description = f"camera {src!r}"
        self._is_file = False
        if isinstance(src, int):
            cap = cv2.VideoCapture(src)
            hint = (
                "is a camera plugged in? `ls /dev/video*` lists devices; try another index, or add "
                "yourself to the video group (`sudo usermod -aG video $USER`)"
            )
        elif "!" in src:
            cap = cv2.VideoCapture(src, cv2.CAP_GSTREAMER)
            hint = (
                "check the pipeline with `gst-launch-1.0` and that this OpenCV build has GStreamer "
                "(cv2.getBuildInformation())"
            )
        else:
            is_url = "://" in src
            if not is_url and not Path(src).exists():
                raise CameraUnavailable(
                    f"camera source {src!r} is not a device index, an existing file or a "
                    f"pipeline: fix vehicle.real.camera.source"
                )
            self._is_file = not is_url
            cap = cv2.VideoCapture(src)
            hint = "check that OpenCV can decode it (ffmpeg backend) and the URL is reachable"
        if not cap.isOpened():
            cap.release()
            raise CameraUnavailable(f"cannot open {self.description}: {hint}")
        if isinstance(src, int):
            if size is not None:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])
            if fps > 0:
                cap.set(cv2.CAP_PROP_FPS, fps)
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # drivers that honour it queue one frame, not four
        self._cap = cap
        # A file is played back at its own rate (or `fps`), like a camera filming it.
        file_fps = fps or cap.get(cv2.CAP_PROP_FPS) or 30.0
        self._period = 1.0 / file_fps if self._is_file else 0.0
        self._next = time.monotonic()

    def read(self) -> np.ndarray | None:
        if self._period:
            delay = self._next - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._next = max(self._next + self._period, time.monotonic() - self._period)
        ok, bgr = self._cap.read()
        if not ok or bgr is None:
            return None
        if bgr.ndim == 2:
            return cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        self._cap.release()


class CallbackSource:
    """Frames from a function, paced at `fps` (the simulator's renderer, synthetic patterns)."""

    def __init__(
        self, render: Callable[[], np.ndarray | None], fps: float, description: str = "callback camera"
    ) -> None:
        if not fps > 0:
            raise ValueError(f"{description}: fps must be positive, got {fps}")
        self.description = description
        self._render = render
        self._period = 1.0 / fps
        self._next = time.monotonic()
        self._closed = threading.Event()

    def read(self) -> np.ndarray | None:
        delay = self._next - time.monotonic()
        if delay > 0 and self._closed.wait(delay):
            return None
        self._next = max(self._next + self._period, time.monotonic() - self._period)
        return None if self._closed.is_set() else self._render()

    def close(self) -> None:
        self._closed.set()


class Camera:
    """Newest-frame capture thread over a `FrameSource` (or a source spec for OpenCV).

    Args:
        source: a `FrameSource`, or a device index / path / pipeline string for `OpenCVSource`.
        width, height: policy resolution, px; every frame is resized to it (INTER_AREA).
        stale_after: s without a new frame after which `latest()` raises `CameraStalled`.
        open_timeout: s to wait for the first frame in `open()`.
        fps: requested capture rate for devices, playback rate for files (0 = the source's own).
    """

    def __init__(
        self,
        source: FrameSource | int | str,
        width: int = 128,
        height: int = 128,
        stale_after: float = 0.5,
        open_timeout: float = 5.0,
        fps: float = 0.0,
    ) -> None:
        self._spec = source
        self.width, self.height = int(width), int(height)
        self.stale_after = float(stale_after)
        self.open_timeout = float(open_timeout)
        self.fps = float(fps)
        self._source: FrameSource | None = None
        self._cond = threading.Condition()
        self._frame: CameraFrame | None = None
        self._count = 0
        self._error = ""
        self._ended = False
        self._stamps: deque[float] = deque(maxlen=120)
        self._read_s: deque[float] = deque(maxlen=120)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def description(self) -> str:
        return self._source.description if self._source is not None else f"camera {self._spec!r}"

    # ------------------------------------------------------------------ lifecycle
    def open(self) -> Camera:
        """Open the source, start the capture thread and wait for the first frame."""
        if self._thread is not None:
            return self
        spec = self._spec
        self._source = spec if not isinstance(spec, (int, str)) else OpenCVSource(spec, fps=self.fps)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"camera {self.description}", daemon=True)
        self._thread.start()
        try:
            self.wait_frame(0, timeout=self.open_timeout)
        except CameraError as exc:
            self.close()
            raise CameraUnavailable(
                f"{self.description} opened but delivered no frame within "
                f"{self.open_timeout:.1f} s ({exc}): is another program using it?"
            ) from None
        return self

    def close(self) -> None:
        self._stop.set()
        if self._source is not None:
            self._source.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        self._thread = None

    def __enter__(self) -> Camera:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ frames
    def latest(self, max_age: float | None = None) -> CameraFrame:
        """The newest frame; `CameraStalled` if it is older than `max_age` (default `stale_after`)."""
        limit = self.stale_after if max_age is None else max_age
        with self._cond:
            frame, error, ended = self._frame, self._error, self._ended
        if frame is None:
            raise CameraStalled(f"{self.description} has delivered no frame yet ({error or 'not open'})")
        age = time.monotonic() - frame.t
        if age > limit:
            why = error or ("the stream ended" if ended else "the driver stopped delivering")
            raise CameraStalled(
                f"{self.description} stalled: newest frame is {age:.2f} s old ({why}); check the "
                f"cable/driver, or raise vehicle.real.camera.stale_after"
            )
        return frame

    def wait_frame(self, after_index: int, timeout: float) -> CameraFrame:
        """Block until a frame with index > `after_index` exists; `CameraStalled` after `timeout`."""
        with self._cond:
            ok = self._cond.wait_for(
                lambda: (self._frame is not None and self._frame.index > after_index) or self._ended, timeout
            )
            if ok and self._frame is not None and self._frame.index > after_index:
                return self._frame
            why = self._error or ("the stream ended" if self._ended else "nothing arrived")
        raise CameraStalled(f"no new frame from {self.description} within {timeout:.2f} s ({why})")

    def stats(self) -> CameraStats:
        with self._cond:
            stamps = list(self._stamps)
            reads = sorted(self._read_s)
            frame = self._frame
            count = self._count
        recent = [s for s in stamps if s >= stamps[-1] - 2.0] if stamps else []
        fps = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) >= 2 and recent[-1] > recent[0] else 0.0
        return CameraStats(
            frames=count,
            fps=fps,
            read_ms=1000.0 * reads[len(reads) // 2] if reads else 0.0,
            age_s=None if frame is None else time.monotonic() - frame.t,
        )

    # ------------------------------------------------------------------ capture thread
    def _run(self) -> None:
        assert self._source is not None
        failures = 0
        while not self._stop.is_set():
            start = time.monotonic()
            try:
                raw = self._source.read()
            except (cv2.error, OSError, ValueError) as exc:
                raw = None
                with self._cond:
                    self._error = f"read failed: {exc}"
            if self._stop.is_set():
                break
            if raw is None:
                failures += 1
                if failures >= 3:  # a file that ended, or a device that keeps failing: stop trying
                    with self._cond:
                        self._ended = True
                        self._error = self._error or "the stream ended"
                        self._cond.notify_all()
                    return
                continue
            failures = 0
            now = time.monotonic()
            try:
                image = self._fit(raw)
            except ValueError as exc:
                with self._cond:
                    self._error = str(exc)
                continue
            with self._cond:
                self._count += 1
                self._frame = CameraFrame(image=image, t=now, index=self._count)
                self._stamps.append(now)
                self._read_s.append(now - start)
                self._error = ""
                self._cond.notify_all()

    def _fit(self, raw: np.ndarray) -> np.ndarray:
        img = np.asarray(raw)
        if img.ndim != 3 or img.shape[2] != 3 or img.size == 0:
            raise ValueError(f"{self.description} delivered a frame of shape {img.shape}, expected (H, W, 3)")
        if img.dtype != np.uint8:
            raise ValueError(f"{self.description} delivered {img.dtype} pixels, expected uint8")
        if img.shape[:2] != (self.height, self.width):
            img = cv2.resize(img, (self.width, self.height), interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(img)


class FakeCamera(Camera):
    """A camera without hardware: a moving test pattern whose frame number is readable back.

    Pixel (0, 0)'s red channel holds the frame number mod 256, so a test can tell which frame it
    got. `freeze()` stops delivery (a hung driver) until `unfreeze()`.
    """

    def __init__(self, width: int = 128, height: int = 128, fps: float = 30.0, stale_after: float = 0.5) -> None:
        self._n = 0
        self._frozen = threading.Event()
        self._w, self._h = width, height
        super().__init__(
            CallbackSource(self._pattern, fps, description="fake camera"),
            width,
            height,
            stale_after=stale_after,
            open_timeout=2.0,
        )

    def _pattern(self) -> np.ndarray | None:
        while self._frozen.is_set() and not self._stop.is_set():
            time.sleep(0.01)
        if self._stop.is_set():
            return None
        self._n += 1
        img = np.zeros((self._h, self._w, 3), np.uint8)
        x = self._n % self._w
        img[:, x : x + 4, 1] = 255  # a green bar sweeping across
        img[0, 0, 0] = self._n % 256
        return img

    def freeze(self) -> None:
        self._frozen.set()

    def unfreeze(self) -> None:
        self._frozen.clear()
