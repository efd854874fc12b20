"""Resume: which session, what changed in the runbook, secrets asked again, reconcile."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runbook.format.loader import load
from runbook.journal.sqlite import Journal
from runbook.rules.events import Ev
from runbook.rules.state import Status
from runbook.session.operator import Operator
from runbook.session.resume import ResumeError, plan
from runbook.session.run import Refused, Run
from steps import default_registry

RUNBOOK = """\
runbook: 1
title: Resume test
variables:
  TOKEN: {secret: true, default: "s3cr3t-token-value"}
  TAG: {default: v1}
environments:
  local: {}
phases:
  - id: p
    title: P
    sections:
      - id: s
        title: S
        items:
          - {id: look, title: Look}
          - {id: change, kind: action, title: Change it, uses: shell, with: {argv: ["true"]}}
"""


def start(tmp_path: Path) -> tuple[Journal, Run, Path]:
    path = tmp_path / "rb.yaml"
    path.write_text(RUNBOOK)
    reg = default_registry()
    journal = Journal(tmp_path / "state" / "journal.db")
    run = Run.start(journal, load(path, reg), "local", {"TOKEN": "s3cr3t-token-value",
                                                        "TAG": "v1"}, reg,
                    Operator("amy", "h", ""), dry_run=False)
    return journal, run, path


def test_plan_picks_latest_unfinished_and_asks_secrets_again(tmp_path: Path) -> None:
    journal, run, _ = start(tmp_path)
    run.confirm("look")
    p = plan(journal, None, default_registry())
    assert p.meta.id == run.meta.id
    assert p.variables == {"TAG": "v1"}
    assert p.missing_secrets == ["TOKEN"]
    assert not p.changed
    run.execute("change")
    run.finish()
    with pytest.raises(ResumeError, match="no unfinished session"):
        plan(journal, None, default_registry())
    with pytest.raises(ResumeError, match="is finished"):
        plan(journal, run.meta.id[:15], default_registry())


def test_changed_runbook_is_explained_and_gone_file_uses_copy(tmp_path: Path) -> None:
    journal, _run, path = start(tmp_path)
    path.write_text(RUNBOOK.replace("title: Look}", "title: Look closer}") +
                    "          - {id: extra, title: Extra}\n")
    p = plan(journal, None, default_registry())
    assert p.changed
    text = "\n".join(p.changes)
    assert "changed since the session began" in text
    assert "items added: extra" in text and "items changed: look" in text
    path.unlink()
    p = plan(journal, None, default_registry())
    assert "using the copy kept at the start" in p.changes[0]
    assert [i.id for i in p.runbook.all_items()] == ["look", "change"]


def test_interrupted_action_is_reconciled_never_rerun(tmp_path: Path) -> None:
    journal, run, _ = start(tmp_path)
    run.confirm("look")
    run.emit(Ev.ITEM_INTENT, "change", {"command": "true"})  # then the process died
    p = plan(journal, None, default_registry())
    with pytest.raises(Refused, match="amy@h holds the wheel"):  # its lease is still live
        Run.resume(journal, p.meta, p.runbook, {**p.variables, "TOKEN": "x" * 8},
                   default_registry(), Operator("amy", "h", ""))
    run.wheel.release()  # (a dead terminal's lease expires; one on this host is seen dead)
    resumed = Run.resume(journal, p.meta, p.runbook, {**p.variables, "TOKEN": "x" * 8},
                         default_registry(), Operator("amy", "h", ""))
    assert resumed.state.items["change"].status is Status.NEEDS_RECONCILE
    with pytest.raises(Refused, match="needs-reconcile"):
        resumed.execute("change")
    assert "cannot check the live state" in resumed.probe(p.runbook.item("change"))
    with pytest.raises(Refused, match="needs a reason"):
        resumed.reconcile("change", "done", "")
    resumed.reconcile("change", "done", "checked by hand: it ran")
    assert resumed.state.items["change"].status is Status.PASSED
    kinds = [e.kind for e in journal.events(run.meta.id)]
    assert kinds[-2:] == [Ev.SESSION_RESUMED, Ev.ITEM_RECONCILED]


def test_cli_resume_without_terminal_needs_the_secret(tmp_path: Path) -> None:
    start(tmp_path)
    env = {"RUNBOOK_STATE_DIR": str(tmp_path / "state"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "runbook", "resume", "--headless"],
                         capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL,
                         timeout=60)
    assert out.returncode == 2
    assert "TOKEN: secret variable must be given again" in out.stderr
    assert "Traceback" not in out.stderr
