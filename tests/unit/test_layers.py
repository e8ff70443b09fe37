"""The package's layers (the import-linter contracts in pyproject.toml) hold, and they bite.

The second test runs the same contracts on a copy of the package with one upward import added
(the car's code importing the command line), so a contract that silently checks nothing — a
misspelt layer, a container that matches no module — fails here instead of passing forever.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

pytestmark = pytest.mark.skipif(
    not LINT_IMPORTS.exists(), reason="import-linter is not installed (pip install -e .[test])"
)


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    """`lint-imports` on the package found first on the path from `cwd` (its pyproject.toml's contracts)."""
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def _copy_package(dest: Path) -> Path:
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")
    shutil.copytree(ROOT / "fastrlap", dest / "fastrlap", ignore=shutil.ignore_patterns("__pycache__", "*.pt"))
    return dest / "fastrlap"


def test_the_package_keeps_its_layers():
    out = _lint_imports(ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


def test_an_upward_import_breaks_the_layers(tmp_path):
    package = _copy_package(tmp_path)
    clean = _lint_imports(tmp_path)
    assert clean.returncode == 0, clean.stdout + clean.stderr  # the copy itself is checked and keeps them
    with (package / "vehicle" / "base.py").open("a") as f:
        f.write("\nfrom fastrlap.cli import compose  # noqa: E402,F401\n")
    broken = _lint_imports(tmp_path)
    assert broken.returncode != 0
    assert "fastrlap's layers BROKEN" in broken.stdout
    assert "fastrlap.vehicle.base -> fastrlap.cli" in broken.stdout
