"""Camera: newest-frame capture thread, resize, stale detection (a video file and the fake)."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from fastrlap.vehicle.camera import Camera, CameraStalled, CameraUnavailable, FakeCamera, parse_source


def _write_video(path, frames: int = 30, fps: float = 30.0, size=(160, 120)) -> None:
    """Each frame i is a flat grey of level 8*i (so the frame number can be read back)."""
    w, h = size
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    assert out.isOpened()
    for i in range(frames):
        out.write(np.full((h, w, 3), 8 * i, np.uint8))
    out.release()


def _until_stalled(cam, deadline_s: float = 10.0) -> CameraStalled:
    """Poll `cam.latest()` until it reports a stall (a loaded machine may take a while to get there)."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            cam.latest()
        except CameraStalled as e:
            return e
        assert time.monotonic() < deadline, "the camera never reported a stall"
        time.sleep(0.05)


def test_video_file_is_played_at_its_rate_resized_and_stalls_when_it_ends(tmp_path):
    video = tmp_path / "clip.mp4"
    _write_video(video, frames=30, fps=30.0)
    with Camera(str(video), width=64, height=48, stale_after=0.3) as cam:
        first = cam.latest()
        assert first.image.shape == (48, 64, 3) and first.image.dtype == np.uint8
        cam.wait_frame(first.index + 4, timeout=10.0)  # playing
        time.sleep(0.2)
        mid = cam.latest(max_age=10.0)
        # paced like a camera, not the whole file at once: no more frames than 30 fps allows over
        # the time that passed (a loaded machine only delivers fewer)
        assert mid.index - first.index <= 30 * (mid.t - first.t) + 3, (first.index, mid.index)
        level = float(mid.image.mean())
        assert abs(level - 8 * (mid.index - 1)) < 12  # the newest frame, not an old one from a queue
        assert cam.stats().fps <= 40
        # the file has ended: the newest frame ages past stale_after
        assert "stream ended" in str(_until_stalled(cam)) and "stalled" in str(_until_stalled(cam))
        assert cam.latest(max_age=30.0).index == 30


def test_fake_camera_keeps_only_the_newest_frame_and_detects_a_freeze():
    with FakeCamera(width=32, height=32, fps=50.0, stale_after=0.2) as cam:
        cam.wait_frame(7, timeout=10.0)
        a = cam.latest(max_age=10.0)
        assert a.index >= 8 and a.image[0, 0, 0] == a.index % 256
        cam.freeze()
        assert "fake camera stalled" in str(_until_stalled(cam))
        cam.unfreeze()
        resumed = time.monotonic()
        # A frame captured just before the freeze took hold is newer than `a` but old: wait past it.
        b = cam.wait_frame(a.index, timeout=5.0)
        while b.t < resumed:
            b = cam.wait_frame(b.index, timeout=5.0)
        assert b.index > a.index
        assert cam.latest(max_age=10.0).t >= b.t


def test_bad_sources_are_one_line_errors(tmp_path):
    with pytest.raises(CameraUnavailable, match="not a device index, an existing file"):
        Camera(str(tmp_path / "missing.mp4")).open()
    with pytest.raises(CameraUnavailable, match="empty"):
        parse_source("  ")
    assert parse_source("2") == 2 and parse_source("a ! appsink") == "a ! appsink"
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video")
    with pytest.raises(CameraUnavailable) as err:
        Camera(str(junk), open_timeout=1.0).open()
    assert "\n" not in str(err.value)


def test_wrong_frame_format_is_reported_not_passed_on():
    from fastrlap.vehicle.camera import CallbackSource

    src = CallbackSource(lambda: np.zeros((8, 8), np.float32), fps=50.0, description="float camera")
    with pytest.raises(CameraUnavailable, match="float camera"):
        Camera(src, open_timeout=0.3).open()


def test_a_missing_camera_is_our_one_line_without_opencv_warnings(capfd):
    """OpenCV logs "[ WARN:0@...] ... can't open camera by index" straight to fd 2 for each backend
    it tries; `doctor` shows its own line with the fix instead."""
    with pytest.raises(CameraUnavailable, match="cannot open camera 57"):
        Camera("57", open_timeout=5.0).open()
    err = capfd.readouterr().err
    assert "WARN" not in err and "VIDEOIO" not in err, err
