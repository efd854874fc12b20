"""The engine and the step kinds import without the UI: no textual, no rich.

Checked in a fresh interpreter, since this test session may have imported
anything already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

ENGINE = """
import json, sys
import runbook, runbook.format.loader, runbook.rules.state, runbook.journal.sqlite
import runbook.session.run, runbook.execute.executor
import runbook.format.template, runbook.format.variables, runbook.rules.events, runbook.format.model
import steps
from steps import default_registry
default_registry()
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("textual", "rich"))))
"""


def imported_ui_modules(code: str) -> list[str]:
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    return list(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_engine_does_not_import_textual_or_rich() -> None:
    assert imported_ui_modules(ENGINE) == []


def test_loading_and_running_a_runbook_does_not_import_textual_or_rich(tmp_path: Path) -> None:
    code = f"""
import json, sys
from steps import default_registry
from runbook.format.loader import load
from runbook.journal.sqlite import Journal
from runbook.session.operator import Operator
from runbook.session.run import Run
reg = default_registry()
rb = load({str(ROOT / "runbooks/examples/hello.yaml")!r}, reg)
j = Journal({str(tmp_path / "journal.db")!r})
r = Run.start(j, rb, "local", {{"GREETING": "hi"}}, reg, Operator("u", "h", ""), dry_run=True)
r.execute("say")
r.describe(rb.item("say"))
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("textual", "rich"))))
"""
    assert imported_ui_modules(code) == []


def test_the_check_itself_sees_textual() -> None:
    """The subprocess check would notice an import of textual (so it is not vacuous)."""
    pytest.importorskip("textual")
    code = ENGINE.replace("default_registry()\n", "default_registry()\nimport textual\n")
    assert "textual" in imported_ui_modules(code)


def test_this_test_package_does_not_import_textual() -> None:
    """tests/unit must not import textual: no module here names it in an import."""
    for path in Path(__file__).parent.glob("*.py"):
        for line in path.read_text(encoding="utf-8").splitlines():
            words = line.split()
            if words[:1] in (["import"], ["from"]) and len(words) > 1:
                assert not words[1].startswith(("textual", "rich", "screens")), (path, line)
