"""Long mutating steps outlive the terminal: a detached supervisor runs them and journals.

The driver is a real process killed with SIGKILL (the SSH connection drops, the TUI is
killed): the step goes on, its result and full output land, the session resumes onto
them; while it still runs, a resumed session re-attaches to it. Nothing runs twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runbook.execute.stepkind import CancelToken, Outcome
from runbook.format.loader import load
from runbook.journal.sqlite import Journal
from runbook.rules.events import Ev
from runbook.rules.state import Status
from runbook.session.detached_steps import LEAVE
from runbook.session.operator import Operator
from runbook.session.run import Run
from steps import default_registry

pytestmark = pytest.mark.timeout(60)
REPO = Path(__file__).resolve().parents[2]
OPERATOR = Operator("amy", "jump", "")

DRIVER = """\
import sys
sys.path.insert(0, sys.argv[1])
from runbook.journal.sqlite import Journal
from runbook.format.loader import load
from runbook.session.operator import Operator
from runbook.session.run import Run
from steps import default_registry
reg = default_registry()
run = Run.start(Journal(sys.argv[3]), load(sys.argv[2], reg), "local", {}, reg,
                Operator("amy", "jump", ""), dry_run=False)
print(run.meta.id, flush=True)
run.execute("slow")
print("returned", flush=True)
"""


def write_runbook(tmp_path: Path, lines: int = 20, nap: float = 0.1) -> Path:
    marker = tmp_path / "marker"
    gate = tmp_path / "gate"
    script = (f"echo start >> {marker}; for i in $(seq 1 {lines}); do echo progress $i; "
              f"sleep {nap}; done; while [ ! -e {gate} ]; do sleep 0.02; done; "
              f"echo end >> {marker}; echo finished")
    text = (
        "runbook: 1\ntitle: Detached\nenvironments:\n  local: {namespace: default}\n"
        "phases:\n  - id: p\n    title: P\n    sections:\n      - id: s\n        title: S\n"
        "        items:\n"
        "          - " + json.dumps({"id": "slow", "kind": "action", "title": "Slow change",
                                     "uses": "shell", "with": {"script": script}}) + "\n"
        "          - {id: after, kind: action, title: After, uses: shell, with: {argv: [\"true\"]}}\n"
    )
    path = tmp_path / "rb.yaml"
    path.write_text(text)
    return path


def wait_for(ok: object, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not ok():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def events(db: Path, sid: str) -> list[tuple[str, str | None]]:
    j = Journal(db)
    try:
        return [(e.kind.value, e.item) for e in j.events(sid)]
    finally:
        j.close()


def test_killed_driver_leaves_the_step_running_and_its_result_lands(tmp_path: Path) -> None:
    rb_path = write_runbook(tmp_path)
    db = tmp_path / "journal.db"
    (tmp_path / "driver.py").write_text(DRIVER)
    proc = subprocess.Popen([sys.executable, str(tmp_path / "driver.py"), str(REPO), str(rb_path),
                             str(db)], stdout=subprocess.PIPE, start_new_session=True)
    assert proc.stdout is not None
    sid = proc.stdout.readline().decode().strip()
    log = tmp_path / "sessions" / sid / "logs" / "slow.log"
    wait_for(lambda: log.exists() and "progress 3" in log.read_text(), "output")
    os.killpg(proc.pid, signal.SIGKILL)  # the terminal is gone
    proc.wait()
    proc.stdout.close()

    # a resumed session sees the step running, not interrupted, and re-attaches to it
    reg = default_registry()
    journal = Journal(db)
    run = Run.resume(journal, journal.session(sid), load(rb_path, reg), {}, reg, OPERATOR)
    assert run.state.items["slow"].status is Status.RUNNING
    assert run.running_detached() == ["slow"]
    batches: list[list[str]] = []
    (tmp_path / "gate").touch()
    result = run.reattach("slow", CancelToken(), lambda item, lines: batches.append(lines))
    assert result.outcome is Outcome.PASSED
    shown = [ln for b in batches for ln in b]
    assert shown[-1] == "finished" and "progress 20" in shown
    assert run.state.items["slow"].status is Status.PASSED
    assert log.read_text().splitlines() == [f"progress {i}" for i in range(1, 21)] + ["finished"]
    assert (tmp_path / "marker").read_text().split() == ["start", "end"]  # ran once
    kinds = events(db, sid)
    assert kinds.count(("item.intent", "slow")) == 1 and kinds.count(("item.result", "slow")) == 1
    assert run.running_detached() == []
    run.execute("after")
    run.finish()
    journal.close()


def test_leaving_a_step_running_then_resuming_picks_up_its_result(tmp_path: Path) -> None:
    rb_path = write_runbook(tmp_path, lines=3, nap=0.05)
    reg = default_registry()
    journal = Journal(tmp_path / "journal.db")
    run = Run.start(journal, load(rb_path, reg), "local", {}, reg, OPERATOR, dry_run=False)
    token = CancelToken()
    log = run.dir / "logs" / "slow.log"

    def leave_soon() -> None:
        wait_for(lambda: log.exists() and "progress 3" in log.read_text(), "output")
        token.cancel(LEAVE)

    import threading
    t = threading.Thread(target=leave_soon)
    t.start()
    result = run.execute("slow", token)
    t.join()
    assert result.outcome is Outcome.CANCELLED and LEAVE in result.message
    assert run.running_detached() == ["slow"]  # it runs on without us
    run.close()  # the terminal quits
    (tmp_path / "gate").touch()
    wait_for(lambda: not run.running_detached(), "the step to end")

    resumed = Run.resume(journal, journal.session(run.meta.id), load(rb_path, reg), {}, reg,
                         OPERATOR)
    st = resumed.state.items["slow"]
    assert st.status is Status.PASSED and st.exit_code == 0
    assert log.read_text().splitlines()[-1] == "finished"
    # re-attaching to a step that has ended shows its output's last lines and its result
    shown: list[str] = []
    again = resumed.reattach("slow", CancelToken(), lambda item, lines: shown.extend(lines))
    assert again.outcome is Outcome.PASSED and shown[-1] == "finished"
    journal.close()


def test_cancel_reaches_the_detached_step_with_its_reason(tmp_path: Path) -> None:
    rb_path = write_runbook(tmp_path, lines=100, nap=0.1)
    reg = default_registry()
    journal = Journal(tmp_path / "journal.db")
    run = Run.start(journal, load(rb_path, reg), "local", {}, reg, OPERATOR, dry_run=False)
    token = CancelToken()
    log = run.dir / "logs" / "slow.log"
    import threading
    t = threading.Thread(target=lambda: (wait_for(lambda: log.exists() and "progress 2" in
                                                  log.read_text(), "output"),
                                         token.cancel("operator pressed x")))
    t.start()
    started = time.monotonic()
    result = run.execute("slow", token)
    t.join()
    assert time.monotonic() - started < 10
    assert result.outcome is Outcome.CANCELLED
    assert result.message == "cancelled (operator pressed x)"
    assert run.state.items["slow"].status is Status.CANCELLED
    assert run.running_detached() == []
    assert (tmp_path / "marker").read_text().split() == ["start"]
    journal.close()


def test_a_step_that_cannot_start_says_why(tmp_path: Path) -> None:
    rb_path = write_runbook(tmp_path, lines=1)
    reg = default_registry()
    journal = Journal(tmp_path / "journal.db")
    run = Run.start(journal, load(rb_path, reg), "local", {}, reg, OPERATOR, dry_run=False)
    from dataclasses import replace
    # (not what a Run does: a runbook without its text, whose file changed since it loaded)
    run.runbook = replace(run.runbook, source="")
    rb_path.write_text(rb_path.read_text().replace("Slow change", "Edited meanwhile"))
    result = run.execute("slow")
    assert result.outcome is Outcome.FAILED
    assert "did not start" in result.message and "changed since the session loaded it" in \
        result.message
    assert not [e for e in journal.events(run.meta.id) if e.kind is Ev.ITEM_INTENT]
    journal.close()


def test_headless_resume_follows_a_step_still_running(tmp_path: Path) -> None:
    rb_path = write_runbook(tmp_path, lines=10, nap=0.1)
    db = tmp_path / "journal.db"
    (tmp_path / "driver.py").write_text(DRIVER)
    proc = subprocess.Popen([sys.executable, str(tmp_path / "driver.py"), str(REPO), str(rb_path),
                             str(db)], stdout=subprocess.PIPE, start_new_session=True)
    assert proc.stdout is not None
    sid = proc.stdout.readline().decode().strip()
    log = tmp_path / "sessions" / sid / "logs" / "slow.log"
    wait_for(lambda: log.exists() and "progress 2" in log.read_text(), "output")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    resume = subprocess.Popen([sys.executable, "-m", "runbook", "--journal", str(db), "resume",
                               sid, "--headless"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
                              cwd=REPO, env={**os.environ, "RUNBOOK_OPERATOR": "amy",
                                             "PYTHONUNBUFFERED": "1"})
    assert resume.stdout is not None
    # the step ends only once the resumed session follows it (however slow its start)
    seen = []
    while not seen or "still running (detached)" not in seen[-1]:
        line = resume.stdout.readline()
        assert line, "".join(seen)
        seen.append(line)
    (tmp_path / "gate").touch()
    rest, err = resume.communicate(timeout=60)
    out = "".join(seen) + rest
    assert resume.returncode == 0, out + err
    assert "Slow change: still running (detached)" in out
    assert "finished" in out and "passed: exit status 0" in out, out
    assert "== done:" in out
    assert (tmp_path / "marker").read_text().split() == ["start", "end"]


def test_a_supervisor_killed_mid_step_leaves_the_item_as_a_fresh_fold_shows_it(tmp_path: Path) -> None:
    """No result is journaled: the driver shows the item interrupted (reconcile it), exactly as
    a resume folding the journal afresh shows it."""
    import threading

    from runbook.execute.detached import live_supervisor
    rb_path = write_runbook(tmp_path, lines=100, nap=0.1)
    reg = default_registry()
    journal = Journal(tmp_path / "journal.db")
    run = Run.start(journal, load(rb_path, reg), "local", {}, reg, OPERATOR, dry_run=False)
    log = run.dir / "logs" / "slow.log"
    problems: list[str] = []

    def kill_the_supervisor() -> None:
        try:
            wait_for(lambda: log.exists() and "progress 2" in log.read_text(), "output")
            sup = live_supervisor(run.dir, "slow")
            assert sup is not None, "no live supervisor"
            os.kill(sup.pid, signal.SIGKILL)
        except AssertionError as e:
            problems.append(str(e))
            (tmp_path / "gate").touch()  # let the step end, so execute returns

    t = threading.Thread(target=kill_the_supervisor)
    t.start()
    try:
        result = run.execute("slow")
    finally:
        t.join()
        (tmp_path / "gate").touch()  # the orphaned step may end now
    assert not problems, problems
    assert result.outcome is Outcome.FAILED and "reconcile it" in result.message
    assert run.state.items["slow"].status is Status.NEEDS_RECONCILE
    fresh = Run.open(journal, journal.session(run.meta.id), load(rb_path, reg), {}, reg, OPERATOR)
    assert fresh.state.items == run.state.items
    assert fresh.state.last_seq == run.state.last_seq
    journal.close()
