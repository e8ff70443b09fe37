"""The one MP4 writer: H.264 video that plays in a web browser.

Browsers play an MP4 only when its video is H.264 (or VP9/AV1) with 4:2:0 chroma; OpenCV's usual
`mp4v` fourcc is MPEG-4 Part 2, which they refuse, so a video written that way downloads instead
of playing in a README, a notebook or a pull request. PyAV's wheels carry their own FFmpeg with
libx264, so every user gets the same encoder whatever their system has. The encoder needs even
frame sizes in 4:2:0, so an odd-sized frame is padded by one repeated row or column; the index
(`moov` box) goes at the front of the file so a browser starts playing before the whole file
has arrived.

The video is written to a hidden sibling file and renamed into place only once it is complete,
so a failure (a full disk, an unwritable folder) never leaves a truncated file under the final
name nor destroys an earlier video of that name.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np

from fastrlap.errors import FastrlapError
from fastrlap.storage import move_into_place

CODEC = "libx264"
PIXEL_FORMAT = "yuv420p"
QUALITY_CRF = 23  # x264's default constant-quality level: sharp text, small files


class VideoError(FastrlapError):
    """A video that could not be written; the message names the file and the fix."""


def even_frame(rgb: np.ndarray) -> np.ndarray:
    """`rgb` (H, W, 3) uint8 with its last row and/or column repeated to make H and W even."""
    h, w = rgb.shape[:2]
    return np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge") if h % 2 or w % 2 else rgb


class Mp4Writer:
    """Writes RGB frames (H, W, 3) uint8 of one size to `path` at `fps`; use as a context manager.

    The file appears under `path` when the `with` block ends without an error; on an error the
    partial file is removed and whatever `path` held before is left as it was.
    """

    def __init__(self, path: str | Path, fps: float) -> None:
        self.path = Path(path)
        self._part = self.path.with_name(f".{self.path.name}.part")
        self._rate = Fraction(fps).limit_denominator(1000)
        if self._rate <= 0:
            raise VideoError(f"{self.path}: frame rate {fps} must be positive")
        self._container = None
        self._stream = None
        self._size: tuple[int, int] | None = None  # (height, width) of the first frame, as given
        self.frames = 0

    def _fail(self, what: str, e: Exception) -> VideoError:
        return VideoError(
            f"{self.path}: could not {what} the video ({e}); check that the folder exists, is "
            f"writable and has free space"
        )

    def _open(self, height: int, width: int) -> None:
        try:
            self._container = av.open(str(self._part), mode="w", format="mp4", options={"movflags": "+faststart"})
            stream = self._container.add_stream(CODEC, rate=self._rate, options={"crf": str(QUALITY_CRF)})
        except (OSError, av.FFmpegError) as e:
            self._discard()
            raise self._fail("start", e) from None
        stream.height, stream.width = height + height % 2, width + width % 2
        stream.pix_fmt = PIXEL_FORMAT
        self._stream = stream

    def write(self, rgb: np.ndarray) -> None:
        """Append one frame; every frame must have the first frame's size."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB frame, got {rgb.shape} {rgb.dtype}")
        if self._size is None:
            self._size = rgb.shape[:2]
            self._open(*self._size)
        elif rgb.shape[:2] != self._size:
            raise ValueError(f"frame {self.frames} is {rgb.shape[:2]}, the video is {self._size} (height, width)")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(even_frame(rgb)), format="rgb24")
        frame = frame.reformat(format=PIXEL_FORMAT)
        frame.pts = self.frames
        frame.time_base = 1 / self._rate
        self._mux(frame)
        self.frames += 1

    def _mux(self, frame: av.VideoFrame | None) -> None:
        try:
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        except (OSError, av.FFmpegError) as e:
            self._discard()
            raise self._fail("write", e) from None

    def _finish(self) -> None:
        """Finish the file and move it into place. A video needs one frame at least."""
        if self._container is None:
            raise VideoError(f"{self.path}: no frames to write; a video needs at least one frame")
        self._mux(None)
        try:
            self._container.close()
            self._container = None
            move_into_place(self._part, self.path)
        except (OSError, av.FFmpegError) as e:
            self._discard()
            raise self._fail("finish", e) from None

    def _discard(self) -> None:
        """Drop the partial file (after an error); the final path is never touched."""
        if self._container is not None:
            try:
                self._container.close()
            except (OSError, av.FFmpegError):
                pass  # the file is being thrown away; the error that brought us here is the one to report
            self._container = None
        if self._part.is_file():
            self._part.unlink()

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:
            self._finish()
        else:
            self._discard()
