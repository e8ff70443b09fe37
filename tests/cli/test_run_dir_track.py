"""A run directory carries its track and vehicle: later commands on it drive and draw that track."""

import numpy as np

from fastrlap.cli import compose, main
from fastrlap.report.load import load_run
from fastrlap.sim.track import load_track, resolve_track_path
from tests.tiny_practice import TINY_AGENT

TINY = [
    *TINY_AGENT,
    "agent.utd_ratio=2",
    "practice.start_training=1000000",
    "practice.checkpoint_every=50",
]


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_commands_on_a_run_use_its_own_track_even_after_the_file_is_gone(tmp_path, capsys):
    own = tmp_path / "mine.yaml"
    own.write_text(resolve_track_path("chicane").read_text())
    run = tmp_path / "run"
    assert main(["record-demo", f"track={own}", f"run_dir={run}", *TINY]) == 0
    own.unlink()  # the run keeps its own copy: nothing outside the folder is needed any more
    assert (run / "track.yaml").read_text() == resolve_track_path("chicane").read_text()
    capsys.readouterr()

    assert main(["practice", f"run_dir={run}", "practice.max_ticks=20"]) == 0
    assert "practising chicane" in capsys.readouterr().out
    assert compose([f"run_dir={run}", "laps=1"]).track == str(run / "track.yaml")
    assert compose([f"run_dir={run}", "track=chicane"]).track == str(run / "track.yaml")  # the same track: fine

    for command in (["practice"], ["evaluate", "laps=1"], ["report"], ["checkpoints", "show"]):
        assert main([*command, f"run_dir={run}", "track=oval"]) == 1
        line = one_line(capsys)
        assert "track=oval" in line and str(run) in line and "leave track= out" in line
    assert main(["evaluate", f"run_dir={run}", "vehicle=hil"]) == 1
    assert "recorded with vehicle=sim" in one_line(capsys)

    assert main(["checkpoints", "show", f"run_dir={run}"]) == 0
    assert "not found" not in capsys.readouterr().err
    data = load_run(run)
    chicane = load_track("chicane")
    assert not data.notes and np.allclose(data.outline.left, chicane.left_edge)


def test_resume_refuses_another_track(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("track: hairpin\n")
    assert compose([f"resume={run}"]).track == "hairpin"  # a run from before track copies: its config's track
    assert main(["practice", f"resume={run}", "track=oval"]) == 1
    assert "not the track" in one_line(capsys)


def test_practice_on_a_track_file_names_its_new_run_by_the_track_not_its_path(tmp_path, monkeypatch):
    own = tmp_path / "tracks" / "mine" / "my_track.yaml"
    own.parent.mkdir(parents=True)
    own.write_text(resolve_track_path("technical").read_text().replace("name: technical", "name: twisty"))
    monkeypatch.chdir(tmp_path)
    assert (
        main(["practice", "track=tracks/mine/my_track.yaml", *TINY, "course.demo_speed=3.0", "practice.max_ticks=10"])
        == 0
    )
    (run,) = (tmp_path / "runs").iterdir()  # runs/<date>-<time>-twisty: one level, the file's name
    assert run.name.endswith("-twisty") and (run / "summary.json").is_file()
