"""`fastrlap sim view` writes a still and a playable video."""

import subprocess
import sys

import av
import cv2


def test_sim_view_writes_png_and_mp4(tmp_path):
    out = tmp_path / "view"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "fastrlap.cli",
            "sim",
            "view",
            "track=technical",
            f"view.out_dir={out}",
            "view.seconds=3",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    img = cv2.imread(str(out / "view.png"))
    assert img is not None and img.shape[0] >= 128 and img.std() > 10
    cap = cv2.VideoCapture(str(out / "lap.mp4"))
    frames = 0
    while cap.read()[0]:
        frames += 1
    assert frames == 30
    with av.open(str(out / "lap.mp4")) as video:  # H.264 in 4:2:0: what browsers play
        stream = video.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
        assert stream.height == 384 and stream.width % 2 == 0 and sum(1 for _ in video.decode(stream)) == 30


def test_sim_view_unknown_track_is_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "fastrlap.cli", "sim", "view", "track=atlantis", f"view.out_dir={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "atlantis" in lines[0] and "built-in tracks" in lines[0]


def test_bad_override_is_one_line():
    proc = subprocess.run(
        [sys.executable, "-m", "fastrlap.cli", "sim", "view", "no_such_key=1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "override" in proc.stderr


def test_sim_view_shows_the_realistic_look_when_asked(tmp_path):
    from fastrlap.cli import compose
    from fastrlap.sim.view import write_view

    stills = []
    for look in ("clean", "realistic"):
        out = tmp_path / look
        write_view(
            compose(
                ["track=prior/warehouse", f"view.out_dir={out}", "view.seconds=0.5", f"vehicle.sim.camera.look={look}"]
            )
        )
        stills.append(cv2.imread(str(out / "view.png")).astype(int))
    assert abs(stills[0] - stills[1]).mean() > 5


def test_unknown_look_is_one_line():
    proc = subprocess.run(
        [sys.executable, "-m", "fastrlap.cli", "sim", "view", "vehicle.sim.camera.look=fancy"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "vehicle.sim.camera.look" in lines[0] and "realistic" in lines[0]
