"""Sweep jobs: their folder names (a track given as a path is named by its file, never its
folders) and the deadline that stops them."""

import threading
import time

import pytest
from omegaconf import OmegaConf

from fastrlap.practice.sweep import ALREADY_DONE, _practise, _stop_at, job_dir_name, multirun
from fastrlap.sim.track import resolve_track_path, track_name


def test_a_track_is_named_by_its_name_field_or_else_its_file_stem(tmp_path):
    named = tmp_path / "deep" / "er" / "my_track.yaml"
    named.parent.mkdir(parents=True)
    named.write_text(resolve_track_path("oval").read_text().replace("name: oval", "name: fast loop"))
    assert track_name("oval") == "oval"
    assert track_name(str(named)) == "fast loop"
    assert track_name(str(tmp_path / "gone" / "lost_track.yaml")) == "lost_track"  # unreadable: the stem
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n")
    assert track_name(str(tmp_path / "bad.yaml")) == "bad"


def test_job_folders_name_the_track_and_the_swept_values_only(tmp_path):
    track = tmp_path / "a" / "b" / "my_track.yaml"
    overrides = [f"track={track}", "seed=3", "practice.minutes=5", "agent.encoder=weights/enc.pt"]
    assert job_dir_name(7, str(track), overrides, ["seed", "agent.encoder"]) == "7_my_track_seed3_encoder-enc"
    assert job_dir_name(0, "oval", ["seed=0"], ["seed"]) == "0_oval_seed0"
    assert job_dir_name(2, "oval", [], []) == "2_oval"
    assert "/" not in job_dir_name(1, str(track), [f"track={track}"], ["track"])


def test_a_deadline_stops_the_job_as_ctrl_c_would_and_not_after_it_ended():
    fired = threading.Event()
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        with _stop_at(time.time() + 0.2, fired):
            time.sleep(60)  # asleep in a system call: the signal wakes it
    assert fired.is_set() and time.monotonic() - t0 < 30
    quiet = threading.Event()
    with _stop_at(time.time() + 0.3, quiet):
        pass  # ended before its deadline: nothing arrives later
    time.sleep(0.6)
    assert not quiet.is_set()


def test_a_job_after_the_deadline_is_skipped_without_starting(tmp_path):
    ran = []
    outcome = _practise(ran.append, OmegaConf.create({}), tmp_path, deadline=time.time() - 1)
    assert outcome["status"] == "skipped" and "deadline" in outcome["error"] and ran == []


def test_a_sweep_skips_the_combinations_finished_already(tmp_path):
    practised = []
    settings = ["track=oval", "seed=0,1", "agent.encoder=random", "hydra/launcher=basic", f"hydra.sweep.dir={tmp_path}"]
    sweep = multirun(lambda cfg: practised.append(cfg.seed), settings, done={("oval", 0, "random")})
    assert practised == [1]
    assert [(j["seed"], j["status"], j["error"]) for j in sweep.jobs] == [(0, "skipped", ALREADY_DONE), (1, "ok", None)]
