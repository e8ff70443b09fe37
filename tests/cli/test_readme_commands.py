"""The README's commands work as written: every `fastrlap ...` line in its fenced blocks is run
(in a fast form: a few ticks instead of minutes) or, where it needs hardware or a long run,
composed with `--cfg` so at least its settings are checked. New lines are picked up by
themselves; a new command runs as written unless FAST below says otherwise."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fastrlap.cli import _split, main
from tests.tiny_practice import TINY_AGENT

README = Path(__file__).resolve().parents[2] / "README.md"

# Small learner, no logging service, no live view: a few ticks of practice take seconds.
TINY = [
    *TINY_AGENT,
    "agent.utd_ratio=2",
    "agent.replay_flush_every=20",
    "practice.start_training=20",
    "practice.checkpoint_every=20",
    "practice.summary_every=10",
    "practice.torch_threads=1",
]
QUICK_DEMO = ["course.demo_speed=3.0"]  # the scripted demo lap at twice the speed: half the ticks

# Per command: overrides appended to the README line (later values win), or CHECK_ONLY with why.
CHECK_ONLY = "--cfg"
FAST: dict[str, list[str] | tuple[str, str]] = {
    "sim view": ["view.seconds=1"],
    "record-demo": QUICK_DEMO,
    "practice": [*TINY, *QUICK_DEMO, "practice.minutes=0.05", "practice.max_ticks=20"],
    "evaluate": (CHECK_ONLY, "drives several full laps with the policy: minutes of wall time"),
    "pretrain collect": [
        "steps=40",
        "pretrain.frames_per_shard=20",
        "pretrain.episode_seconds=2",
        "pretrain.camera_variants=1",
    ],
    "pretrain train": ["steps=2", "batch_size=8", "log_every=1", "save_every=1", "goal_max_ticks=10"],
    "pretrain import-recon": (CHECK_ONLY, "needs the RECON dataset, downloaded by hand"),
    "console": (CHECK_ONLY, "serves the page until Ctrl-C; tests/cli/test_console_command.py runs it"),
    "learner serve": (CHECK_ONLY, "serves cars until Ctrl-C; tests/loop/test_remote_learner.py runs it"),
}
HARDWARE = ("vehicle=real", "vehicle=hil")  # the car, or the firmware under simavr: checked only
PLACEHOLDER = re.compile(r"runs/(\.\.\.|[A-Z]\b|<[^>]*>)")  # runs/..., runs/A, runs/<the run>


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every ``` block."""
    return re.findall(r"^```(\w*)\n(.*?)^```", text, flags=re.S | re.M)


def readme_commands() -> list[str]:
    """Every `fastrlap ...` line of the shell blocks, its trailing comment removed."""
    lines = []
    for lang, body in fenced_blocks(README.read_text()):
        if lang in ("", "bash", "sh", "shell", "console"):
            for line in body.replace("\\\n", " ").splitlines():
                words = shlex.split(line, comments=True) if line.lstrip().startswith("fastrlap") else []
                if words and words[0] == "fastrlap":
                    lines.append(shlex.join(words))
    return lines


def plan(line: str, run_dir: Path) -> tuple[list[str], str]:
    """argv for main() and how the line is checked: "run" or "cfg (why)"."""
    argv = shlex.split(PLACEHOLDER.sub(str(run_dir), line))[1:]
    command, _ = _split(argv)
    fast = FAST.get(command.name, []) if command is not None else []
    if any(a in ("--help", "-h", "--cfg", "--version") for a in argv):
        return argv, "run"  # prints and exits at once
    if any(h in argv for h in HARDWARE):
        return [*argv, CHECK_ONLY], "cfg (hardware)"
    if isinstance(fast, tuple):
        return [*argv, fast[0]], f"cfg ({fast[1]})"
    return [*argv, *fast], "run"


@pytest.fixture(scope="module")
def practised_run(tmp_path_factory):
    """What `runs/...` in the README stands for: a run that has recorded its demo and practised."""
    run = tmp_path_factory.mktemp("readme") / "practised"
    assert main(["practice", "track=oval", f"run_dir={run}", *TINY, *QUICK_DEMO, "practice.max_ticks=30"]) == 0
    return run


def test_the_readme_has_commands_to_run():
    lines = readme_commands()
    assert len(lines) >= 10 and "fastrlap --help" in lines


def test_every_readme_command_works(practised_run, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # runs/, data/, sim_view/ land here, as in a fresh clone
    failures = []
    for i, line in enumerate(readme_commands()):
        run_dir = tmp_path / "runs" / f"practised{i}"
        # A hardware line's run is one recorded on that vehicle, which the test cannot make: its
        # settings are checked against a run directory not yet created, as on a first day with the car.
        if PLACEHOLDER.search(line) and not any(h in line for h in HARDWARE):
            shutil.copytree(practised_run, run_dir)  # each line its own copy (practice resume= adds to it)
        argv, how = plan(line, run_dir)
        code = main(argv)
        out, err = capsys.readouterr()
        if code != 0:
            failures.append(f"{line!r} ({how}) exited {code}: {err.strip()[-300:]}")
        elif how.startswith("cfg") and not isinstance(yaml.safe_load(out), dict):
            failures.append(f"{line!r} ({how}) printed no configuration")
    assert not failures, "\n".join(failures)


def test_every_python_block_in_the_readme_runs(tmp_path):
    blocks = [body for lang, body in fenced_blocks(README.read_text()) if lang == "python"]
    assert blocks, "the README shows how to use the gymnasium environment"
    for body in blocks:
        out = subprocess.run([sys.executable, "-c", body], capture_output=True, text=True, cwd=tmp_path, timeout=300)
        assert out.returncode == 0, f"{body}\n{out.stderr}"


def test_the_readme_commands_work_in_a_fresh_shell_after_activation(tmp_path):
    """`fastrlap` is not on PATH until the environment is activated; the README says so right after
    the install, and after `source .venv/bin/activate` both `fastrlap` and `python` are the project's."""
    activate = Path(sys.prefix) / "bin" / "activate"
    if not activate.exists():
        pytest.skip("the tests do not run inside a virtual environment")
    quick_start = README.read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "source .venv/bin/activate" in quick_start
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", str(tmp_path))}  # a fresh login's PATH
    script = (
        f"source {shlex.quote(str(activate))} && fastrlap --version && "
        f"python -c 'import fastrlap, sys; print(sys.prefix)'"
    )
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    version, prefix = out.stdout.split()[-3:-1], out.stdout.split()[-1]
    assert version[0] == "fastrlap" and Path(prefix) == Path(sys.prefix)


def test_make_demo_runs_a_practice_command_whose_settings_compose():
    """`make demo` is the first thing a new user runs; a misspelt key in its recipe would fail
    only after the install. Its practice line is composed here like the README's commands."""
    from fastrlap.cli import compose

    makefile = (README.parent / "Makefile").read_text()
    recipe = makefile.split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    (line,) = [ln.strip() for ln in recipe.splitlines() if "fastrlap practice" in ln]
    overrides = shlex.split(line)[2:]
    cfg = compose(overrides)
    assert (cfg.track, cfg.practice.minutes, cfg.agent.action_limit_schedule) == ("oval", 8.0, 600)
