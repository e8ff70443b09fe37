"""Every script in scripts/ still imports against the package.

The benchmarks run for minutes, so the suite runs only some of them end to end; a module that a
refactor moved or renamed would otherwise break the others unnoticed until someone measures.
Importing each one (as a module, so its `main()` does not run) catches that in seconds."""

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT_DIR = Path(__file__).resolve().parents[2] / "scripts"
SCRIPTS = sorted(SCRIPT_DIR.glob("*.py"))


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_script_imports(script, monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPT_DIR))  # as when the script runs: its folder is on the path
    spec = importlib.util.spec_from_file_location(f"script_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # as a running script is (`__main__`): dataclasses look it up
    spec.loader.exec_module(module)
    assert callable(getattr(module, "main", None)), f"{script.name} has no main()"
