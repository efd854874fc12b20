"""The fold check itself (tests/fold_check.py): it passes when every process reads what the
app had, and fails, saying what differs, when another process reads less (the app's
events, an item's status or reason, the outcome). The screen's side: tests/tui/test_fold_check_screen.py.

Each test here installs its own watch (not the autouse one of the UI folders), so that the
failures it provokes are its own to assert.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from runbook.format.loader import load_text
from runbook.journal.sqlite import Journal
from runbook.session.operator import Operator
from runbook.session.run import Run
from steps import default_registry
from tests.fold_check import DUMP_ENV, SITE, FoldWatch

RUNBOOK = """
runbook: 1
title: Fold check
environments: {local: {}}
phases:
  - id: p
    title: P
    sections:
      - id: s
        title: S
        items:
          - {id: hello, kind: check, title: Say hello, uses: shell, with: {argv: [echo, hello]}}
          - {id: look, title: Look at it}
          - {id: maybe, title: Optional thing, required: false}
"""
ALICE = Operator("alice", "h", "")


@pytest.fixture
def watch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FoldWatch]:
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    w = FoldWatch(dumps)
    w.install(monkeypatch.setattr, screens=False)  # (tests/unit never imports textual)
    yield w


def drop_events_after(db: Path, session: str, seq: int) -> None:
    """What another process would read if the app's last commits never reached the file."""
    other = sqlite3.connect(db)
    with other:
        other.execute("DELETE FROM events WHERE session_id = ? AND seq > ?", (session, seq))
    other.close()


def test_every_process_reads_what_the_run_had(watch: FoldWatch, tmp_path: Path) -> None:
    rb = load_text(RUNBOOK, str(tmp_path / "fold.yaml"), default_registry())
    run = Run.start(Journal(tmp_path / "journal.db"), rb, "local", {}, default_registry(), ALICE,
                    False)
    run.execute("hello")
    run.override("look", "seen on the dashboard")
    run.skip("maybe", "not today")
    run.finish()
    watch.verify()


def test_events_another_process_cannot_read_fail_the_check(watch: FoldWatch,
                                                           tmp_path: Path) -> None:
    rb = load_text(RUNBOOK, str(tmp_path / "fold.yaml"), default_registry())
    db = tmp_path / "journal.db"
    run = Run.start(Journal(db), rb, "local", {}, default_registry(), ALICE, False)
    run.confirm("look")
    kept = run.state.last_seq
    run.skip("maybe", "not today")
    run.finish()
    drop_events_after(db, run.meta.id, kept)
    with pytest.raises(AssertionError) as failed:
        watch.verify()
    text = str(failed.value)
    assert f"the app folded {kept + 2} events, a fresh process sees {kept}" in text
    assert f"{kept + 1} item.skipped maybe by alice@h 'not today'" in text
    assert "item maybe: the app has skipped (attempts 0, reason 'not today'), a fresh fold " \
           "pending" in text
    assert "outcome: the app has 'completed', a fresh process 'unfinished'" in text


def test_a_process_the_test_starts_is_checked_from_its_dump(
        watch: FoldWatch, tmp_path: Path) -> None:
    path = tmp_path / "fold.yaml"
    path.write_text(RUNBOOK.split("          - {id: look")[0])  # the check only: no person
    state = tmp_path / "state"
    env = {**os.environ, "RUNBOOK_STATE_DIR": str(state), DUMP_ENV: str(watch.dump_dir),
           "PYTHONPATH": str(SITE)}
    done = subprocess.run([sys.executable, "-m", "runbook", "run", str(path), "--env", "local",
                           "--headless"], capture_output=True, text=True, timeout=120, env=env,
                          stdin=subprocess.DEVNULL, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    (view,) = watch.views()
    assert view["origin"].startswith("pid ") and view["items"]["hello"]["status"] == "passed"
    watch.verify()
    drop_events_after(state / "journal.db", view["session"], view["last_seq"] - 1)
    with pytest.raises(AssertionError, match=r"a fresh process sees \d+; missing: \d+ "
                                             r"session.finished"):
        FoldWatch(watch.dump_dir).verify()  # (the same watch checks each state once)
