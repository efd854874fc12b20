"""A runner killed with SIGKILL mid-step leaves an intact journal that folds to needs-reconcile.

A driver script in a separate Python process runs a check and several mutating shell actions
one after another, journaling into tmp_path/journal.db. The test kills the driver's whole
process group with SIGKILL at chosen moments, then reopens the journal.

Each action waits at a gate (a file the test creates) so the moment of the kill relative to
the step is deterministic: items before the target are released up front, the target blocks
until the driver is dead. A second set of runs releases everything and kills at fixed
delays, wherever the driver happens to be (possibly inside a journal append).

Mutating shell steps run in detached supervisors that outlive the driver (see
test_detached_steps.py); here they are killed with it, as when the host goes down. The
step processes run in their own process group, so they outlive both: the test checks that
the journal neither needs them nor changes when they finish.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from runbook.execute.stepkind import CancelToken, Outcome
from runbook.format.loader import load
from runbook.journal.sqlite import Journal
from runbook.rules.events import Ev
from runbook.rules.fold import fold
from runbook.rules.state import Status
from runbook.session.operator import current
from runbook.session.run import Run
from steps import default_registry

pytestmark = pytest.mark.timeout(60)

REPO = Path(__file__).resolve().parents[2]
ACTIONS = ["m1", "m2", "m3", "m4"]
ORDER = ["pre", *ACTIONS]

DRIVER = """\
import sys
sys.path.insert(0, sys.argv[1])
from runbook.journal.sqlite import Journal
from runbook.format.loader import load
from runbook.session.operator import current
from runbook.session.run import Run
from runbook.execute.stepkind import CancelToken
from steps import default_registry

reg = default_registry()
rb = load(sys.argv[2], reg)
journal = Journal(sys.argv[3])
run = Run.start(journal, rb, "local", {}, reg, current(), dry_run=False)
print(run.meta.id, flush=True)
for item in sys.argv[4].split(","):
    result = run.execute(item, CancelToken())
    print(item, result.outcome.value, flush=True)
run.finish()
print("finished", flush=True)
"""


def write_runbook(tmp_path: Path, nap: float) -> Path:
    gates = tmp_path / "gates"
    gates.mkdir()
    items = [{"id": "pre", "kind": "check", "title": "Pre-check", "uses": "shell",
              "with": {"argv": ["true"]}}]
    for name in ACTIONS:
        script = (f"echo $$ > ${{env.gates}}/{name}.pid; sleep {nap}; "
                  f"while [ ! -e ${{env.gates}}/{name}.go ]; do sleep 0.02; done; "
                  f"echo {name} >> ${{env.gates}}/marker")
        items.append({"id": name, "kind": "action", "title": f"Change {name}", "uses": "shell",
                      "with": {"script": script, "grace": "1s"}})
    text = (
        "runbook: 1\ntitle: Crash test\n"
        f"environments:\n  local: {{namespace: default, values: {{gates: {json.dumps(str(gates))}}}}}\n"
        "phases:\n  - id: p\n    title: P\n    sections:\n      - id: s\n        title: S\n"
        "        items:\n" + "".join(f"          - {json.dumps(it)}\n" for it in items)
    )
    path = tmp_path / "crash.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def start_driver(tmp_path: Path, runbook: Path) -> subprocess.Popen[bytes]:
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER, encoding="utf-8")
    return subprocess.Popen(
        [sys.executable, str(driver), str(REPO), str(runbook), str(tmp_path / "journal.db"),
         ",".join(ORDER)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )


def rows(db: Path) -> list[tuple[int, str, str | None, str]]:
    if not db.exists():
        return []
    con = sqlite3.connect(str(db), timeout=10)
    try:
        return con.execute("SELECT seq, kind, item, data FROM events ORDER BY session_id, seq")\
            .fetchall()
    except sqlite3.OperationalError:  # not created yet
        return []
    finally:
        con.close()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def dangling_intent(db: Path) -> str | None:
    """The item with an intent and no result after it, if any."""
    open_item = None
    for _, kind, item, _ in rows(db):
        if kind == Ev.ITEM_INTENT.value:
            open_item = item
        elif kind == Ev.ITEM_RESULT.value and item == open_item:
            open_item = None
    return open_item


def kill_driver(proc: subprocess.Popen[bytes], tmp_path: Path | None = None) -> None:
    """SIGKILL the driver's process group and, as when the host itself goes down, the
    detached supervisors (each in a session of its own) that journal the steps' results."""
    os.killpg(proc.pid, signal.SIGKILL)  # the driver's whole process group
    if tmp_path is not None:
        for pidfile in (tmp_path / "sessions").glob("*/running/*.json"):
            try:
                os.killpg(int(json.loads(pidfile.read_text())["pid"]), signal.SIGKILL)
            except (OSError, ValueError, KeyError):
                pass
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    proc.stderr.close()


def read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text else None


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def check_journal_intact(db: Path) -> tuple[str, list[tuple[int, str, str | None, str]]]:
    """Integrity, contiguous sequence numbers, parseable JSON; returns (session id, rows)."""
    con = sqlite3.connect(str(db), timeout=10)
    try:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        sessions = [r[0] for r in con.execute("SELECT id FROM sessions")]
    finally:
        con.close()
    assert len(sessions) == 1
    got = rows(db)
    assert [r[0] for r in got] == list(range(1, len(got) + 1))
    for _, kind, _, data in got:
        Ev(kind)
        assert isinstance(json.loads(data), dict)
    assert got[0][1] == Ev.SESSION_STARTED.value
    return sessions[0], got


def fold_journal(db: Path, runbook: Path, sid: str) -> dict[str, Status]:
    journal = Journal(db)
    try:
        rb = load(runbook, default_registry())
        events = list(journal.iter_events(sid))
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        state = fold(rb, "local", events)
        return {i: state.items[i].status for i in ORDER}
    finally:
        journal.close()


# -- kills at chosen points of a blocked step --------------------------------------

@pytest.mark.parametrize(("target", "when", "delay"), [
    ("m1", "intent", 0.0),  # right after the intent is committed: the step may not exist yet
    ("m2", "intent", 0.05),
    ("m3", "running", 0.0),  # the step process has started
    ("m4", "running", 0.15),
    ("m2", "running", 0.3),  # the step is waiting at its gate
])
def test_sigkill_mid_step_leaves_needs_reconcile(tmp_path: Path, target: str, when: str,
                                                 delay: float) -> None:
    runbook = write_runbook(tmp_path, nap=0.05)
    gates = tmp_path / "gates"
    db = tmp_path / "journal.db"
    k = ACTIONS.index(target)
    for name in ACTIONS[:k]:
        (gates / f"{name}.go").touch()
    proc = start_driver(tmp_path, runbook)
    orphan: int | None = None
    try:
        wait_for(lambda: dangling_intent(db) == target, f"the intent of {target}")
        if when == "running":
            wait_for(lambda: read_pid(gates / f"{target}.pid") is not None, f"{target} to start")
        time.sleep(delay)
        kill_driver(proc, tmp_path)

        # the journal is whole while the orphaned step still runs
        orphan = read_pid(gates / f"{target}.pid")
        if when == "running":
            assert orphan is not None and alive(orphan)
        sid, before = check_journal_intact(db)
        last = [r for r in before if r[1] != Ev.ITEM_FACT.value][-1]
        assert (last[1], last[2]) == (Ev.ITEM_INTENT.value, target)
        statuses = fold_journal(db, runbook, sid)
        assert statuses["pre"] is Status.PASSED
        for name in ACTIONS[:k]:
            assert statuses[name] is Status.PASSED
        assert statuses[target] is Status.NEEDS_RECONCILE
        for name in ACTIONS[k + 1:]:
            assert statuses[name] is Status.PENDING
        marker = gates / "marker"
        done = marker.read_text().split() if marker.exists() else []
        assert done == ACTIONS[:k]

        # the orphaned step finishing changes nothing in the journal
        (gates / f"{target}.go").touch()
        if orphan is not None:
            pid = orphan
            wait_for(lambda: not alive(pid), "the orphaned step to end")
        assert rows(db) == before
        assert fold_journal(db, runbook, sid) == statuses

        # and the session carries on: resume, reconcile, run the item again
        resume_and_finish(db, runbook, sid, len(before), target)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for name in ACTIONS:
            (gates / f"{name}.go").touch()  # lets any step still waiting end
        if orphan is not None and alive(orphan):
            os.killpg(orphan, signal.SIGKILL)


def resume_and_finish(db: Path, runbook: Path, sid: str, n: int, target: str) -> None:
    journal = Journal(db)
    try:
        reg = default_registry()
        rb = load(runbook, reg)
        run = Run.resume(journal, journal.session(sid), rb, {}, reg, current())
        assert run.state.items[target].status is Status.NEEDS_RECONCILE
        ev = run.reconcile(target, "retry", "killed runner; the step did not change anything")
        assert ev.seq == n + 2  # after session.resumed
        result = run.execute(target, CancelToken())
        assert result.outcome is Outcome.PASSED
        assert run.state.items[target].status is Status.PASSED
        # resumed, reconciled, intent, fact (pid), result
        assert [e.seq for e in journal.iter_events(sid)] == list(range(1, n + 6))
    finally:
        journal.close()


# -- kills at arbitrary moments of a free-running driver ---------------------------

@pytest.mark.parametrize("delay", [0.02, 0.11, 0.23, 0.34])  # the actions take >= 0.6 s
def test_sigkill_at_any_moment_keeps_the_journal_consistent(tmp_path: Path, delay: float) -> None:
    runbook = write_runbook(tmp_path, nap=0.15)
    gates = tmp_path / "gates"
    db = tmp_path / "journal.db"
    for name in ACTIONS:
        (gates / f"{name}.go").touch()
    proc = start_driver(tmp_path, runbook)
    try:
        wait_for(lambda: dangling_intent(db) is not None, "the first intent")
        time.sleep(delay)
        kill_driver(proc, tmp_path)
        sid, got = check_journal_intact(db)
        statuses = fold_journal(db, runbook, sid)
        results = {item: json.loads(data)["outcome"] for _, kind, item, data in got
                   if kind == Ev.ITEM_RESULT.value and item in ACTIONS}
        intents = [item for _, kind, item, _ in got if kind == Ev.ITEM_INTENT.value]
        dangling = dangling_intent(db)
        assert statuses["pre"] is Status.PASSED
        for name in ACTIONS:
            if name in results:
                assert results[name] == "passed" and statuses[name] is Status.PASSED
            elif name == dangling:
                assert statuses[name] is Status.NEEDS_RECONCILE
            else:
                assert name not in intents and statuses[name] is Status.PENDING
        # items ran in order: the ones with a result come first, then at most one dangling
        assert intents == ACTIONS[:len(intents)]
        assert [n for n in ACTIONS if n in results] == intents[:len(results)]
        assert len(intents) - len(results) in (0, 1)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for name in ACTIONS:
            pid = read_pid(gates / f"{name}.pid")
            if pid is not None:
                wait_for(lambda p=pid: not alive(p), "a step to end", 5)
