"""The repository stands alone: a stranger who clones it can follow every pointer in it.

Code, docs and tests must give their reasons in place rather than point at notes, task numbers or
machines that exist only where the project was developed; such a pointer reads as an explanation
but leads nowhere once the repository is copied. The README is the product's front page, so it
stays short enough to read in one sitting, with the long write-ups under docs/.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Pointers a clone cannot follow: notes kept outside the repository, task-tracker numbers, and
# descriptions of the particular computers the project was developed on.
# The notes' file names are matched in capitals only: docs/design.md is this repository's own page.
UNFOLLOWABLE = re.compile(
    r"shared[/]|\bissues? [0-9]|(?-i:DESIGN\.md|STYLE\.md)|machine class|the GPU machine|these machines|"
    r"development machine|workplace|\blent\b",
    re.IGNORECASE,
)
SCOPE = (
    "fastrlap",
    "docs",
    "README.md",
    "tests",
    "scripts",
    "firmware",
    "notebooks",
    "configs",
    "Makefile",
    "pyproject.toml",
)
README_MAX_LINES = 250


def tracked_text_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--", *SCOPE], cwd=ROOT, capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the tracked files cannot be listed")
    files = [ROOT / name for name in out.stdout.decode().split("\0") if name]
    return [f for f in files if f.is_file() and b"\0" not in f.read_bytes()[:8192]]


def test_no_file_points_outside_the_repository():
    this = Path(__file__).resolve()
    hits = []
    for path in tracked_text_files():
        if path.resolve() == this:
            continue  # the pattern itself
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if UNFOLLOWABLE.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()[:120]}")
    assert not hits, "say why in place instead of pointing elsewhere:\n" + "\n".join(hits)


def test_the_readme_is_a_front_page():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines (at most {README_MAX_LINES}): move write-ups to docs/"
    )
