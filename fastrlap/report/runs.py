"""Finding run directories to report on: a named list, or the newest run that has practised."""

from __future__ import annotations

from pathlib import Path

from fastrlap.practice.run import RunDir, RunDirError, laps_path, summary_path


def has_practice(p: Path) -> bool:
    """Whether `p` holds practice logs (laps.csv or summary.json): what a report is drawn from."""
    run = RunDir(p)
    return laps_path(run).is_file() or summary_path(run).is_file()


def newest_run(root: str | Path = "runs") -> Path | None:
    """The run directory under `root` whose practice logs were written last (None if there is none)."""
    root = Path(root)
    if not root.is_dir():
        return None
    runs = [p for p in root.iterdir() if p.is_dir() and has_practice(p)]
    if not runs:
        return None

    def written(p: Path) -> float:
        files = [f for f in (laps_path(RunDir(p)), summary_path(RunDir(p))) if f.exists()]
        return max(f.stat().st_mtime for f in files)

    return max(runs, key=lambda p: (written(p), p.name))


def resolve_runs(spec: str, root: str | Path = "runs") -> list[Path]:
    """Run directories from `spec` (one path or a comma-separated list); empty `spec` means the
    newest run under `root`. A relative path that is not found from the working folder is
    looked up beside `root` (so `runs/<name>` works from `notebooks/` too). Raises `RunDirError`
    (one line, with the fix) when there is no run."""
    paths = []
    for s in spec.split(","):
        if s.strip():
            p = Path(s.strip()).expanduser()
            beside = Path(root).parent / p
            paths.append(beside if not p.is_absolute() and not p.exists() and beside.exists() else p)
    if paths:
        return paths
    newest = newest_run(root)
    if newest is None:
        raise RunDirError(
            f"no practice runs under {Path(root).resolve()}; run `fastrlap practice` first, or name "
            f"run directories in FASTRLAP_RUNS (comma-separated)"
        )
    return [newest]
