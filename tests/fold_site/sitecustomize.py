"""Loaded by every Python process a UI test starts (tests/conftest.py puts this folder on
PYTHONPATH): when the test asks for it ($RUNBOOK_FOLDCHECK_DIR), the process writes what its
runs had to that folder, for the fold check at the end of the test (tests/fold_check.py).

It changes nothing else and costs nothing until the process imports runbook.session.run
itself (then tests/fold_check.py is loaded, by file: sys.path is left alone, so that a
wheel's install never sees the checkout's packages).
"""

from __future__ import annotations

import os
import sys

WATCHED = "runbook.session.run"


class _WhenRunIsImported:
    """A meta path finder that only wraps the loading of runbook.session.run."""

    def find_spec(self, name: str, path: object, target: object = None) -> object:
        if name != WATCHED:
            return None
        from importlib.machinery import PathFinder
        sys.meta_path.remove(self)  # once
        spec = PathFinder.find_spec(name, path)  # type: ignore[arg-type]
        loader = getattr(spec, "loader", None)
        if spec is None or loader is None:
            return spec
        exec_module = loader.exec_module

        def exec_and_watch(module: object) -> None:
            exec_module(module)
            try:
                _watch(module)
            except Exception as e:  # never stop the process under test; the check says it
                _error(f"pid {os.getpid()}: sitecustomize: {type(e).__name__}: {e}")

        loader.exec_module = exec_and_watch
        return spec


def _watch(module: object) -> None:
    import importlib.util
    from pathlib import Path
    tests = Path(__file__).resolve().parents[1]
    for name in ("fold_probe", "fold_check"):
        spec = importlib.util.spec_from_file_location(name, tests / f"{name}.py")
        assert spec is not None and spec.loader is not None
        loaded = importlib.util.module_from_spec(spec)
        sys.modules[name] = loaded
        spec.loader.exec_module(loaded)
    sys.modules["fold_check"].record_runs(module, Path(os.environ["RUNBOOK_FOLDCHECK_DIR"]))


def _error(line: str) -> None:
    try:
        with open(os.path.join(os.environ["RUNBOOK_FOLDCHECK_DIR"], "errors.txt"), "a") as f:
            f.write(line.replace("\n", " ") + "\n")
    except (OSError, KeyError):
        pass


if os.environ.get("RUNBOOK_FOLDCHECK_DIR"):
    sys.meta_path.insert(0, _WhenRunIsImported())
