"""The MP4 writer: H.264 in yuv420p that a browser plays, written whole or not at all."""

import av
import numpy as np
import pytest

from fastrlap.video import Mp4Writer, VideoError


def frames(n, h, w):
    """A bright bar sweeping across a dark frame, so every frame differs."""
    for i in range(n):
        img = np.full((h, w, 3), 30, np.uint8)
        img[:, (3 * i) % w : (3 * i) % w + 4] = (250, 200, 20)
        yield img


def write(path, n, h, w, fps):
    with Mp4Writer(path, fps=fps) as writer:
        for f in frames(n, h, w):
            writer.write(f)
    return path


def test_writes_h264_yuv420p_with_every_frame_and_the_index_first(tmp_path):
    path = write(tmp_path / "clip.mp4", 12, 48, 64, fps=10.0)
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "h264" and s.codec_context.pix_fmt == "yuv420p"
        assert (s.width, s.height) == (64, 48) and s.average_rate == 10
        decoded = [fr.to_ndarray(format="rgb24") for fr in c.decode(s)]
    assert len(decoded) == 12
    # The sweeping bar sits where it was drawn: the frames are in order and in colour.
    assert decoded[5][24, 16:18].mean(axis=0)[0] > 200 and decoded[5][24, 40].max() < 60
    data = path.read_bytes()  # faststart: the index precedes the media so playback starts at once
    assert 0 <= data.find(b"moov") < data.find(b"mdat")
    assert not list(tmp_path.glob(".*part"))


def test_odd_frame_sizes_are_padded_to_even(tmp_path):
    with av.open(str(write(tmp_path / "odd.mp4", 3, 37, 51, fps=15.0))) as c:
        s = c.streams.video[0]
        assert (s.width, s.height) == (52, 38) and sum(1 for _ in c.decode(s)) == 3


def test_a_failure_midway_keeps_the_earlier_video_and_leaves_no_partial_file(tmp_path):
    path = tmp_path / "lap.mp4"
    path.write_bytes(b"earlier video")
    with pytest.raises(RuntimeError):
        with Mp4Writer(path, fps=10.0) as w:
            for f in frames(5, 32, 32):
                w.write(f)
            raise RuntimeError("the simulation failed")
    assert path.read_bytes() == b"earlier video" and list(tmp_path.iterdir()) == [path]


def test_an_unwritable_place_or_no_frames_is_one_line_naming_the_file(tmp_path):
    (tmp_path / "a_file").write_text("")
    bad = tmp_path / "a_file" / "lap.mp4"
    with pytest.raises(VideoError) as e:
        with Mp4Writer(bad, fps=10.0) as w:
            w.write(np.zeros((8, 8, 3), np.uint8))
    assert str(bad) in str(e.value) and "\n" not in str(e.value) and "writable" in str(e.value)
    with pytest.raises(VideoError, match="at least one frame"):
        with Mp4Writer(tmp_path / "empty.mp4", fps=10.0):
            pass
    assert not (tmp_path / "empty.mp4").exists()
