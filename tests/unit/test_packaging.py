"""The package list in pyproject.toml is written by hand (the config tree ships from the repository
root), so a new subpackage left off it would be missing from an installed, non-editable fastrlap
while every test run from the checkout still passes."""

from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[2]


def test_every_subpackage_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "fastrlap").rglob("__init__.py")}
    assert found - listed == set()
