"""A cancel at every point of a detached step's start ends the item `cancelled`, journaled once.

The points: before the supervisor process exists; started, its signal handlers not yet
installed (a SIGTERM then used to kill it: "did not start: exit status -15", nothing
journaled); handlers installed but the item not claimed; claimed with its pid file, no intent
yet; intent journaled, step command not begun; the command running. The supervisor holds at
a named point (RUNBOOK_TEST_PAUSE_AT, honoured only for tests) until the cancel has provably
reached it, so each point is hit however loaded the machine is. Whoever can journals the
result: the supervisor once it took the item, else the driver once the supervisor is gone.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from runbook.execute.stepkind import CancelToken, Outcome
from runbook.format.loader import load
from runbook.journal.sqlite import Journal
from runbook.rules.events import Ev, Event
from runbook.rules.fold import fold
from runbook.rules.state import Status
from runbook.session.operator import Operator
from runbook.session.run import Run
from steps import default_registry

pytestmark = pytest.mark.timeout(180)
OPERATOR = Operator("amy", "jump", "")
REASON = "operator pressed x"
# where the supervisor is when the cancel comes; before-spawn and running need no pause
POINTS = ("before-spawn", "begin", "unclaimed", "claimed", "intent", "running")
NOT_TAKEN = ("before-spawn", "begin", "unclaimed")  # the supervisor never took the item

READ = """\
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows = db.execute("SELECT seq, kind, item, data FROM events WHERE session_id = ? ORDER BY seq",
                  (sys.argv[2],)).fetchall()
print(json.dumps(rows))
"""


def write_runbook(tmp_path: Path) -> Path:
    marker, gate = tmp_path / "marker", tmp_path / "gate"
    script = (f"echo start >> {marker}; echo started; while [ ! -e {gate} ]; do sleep 0.02; done; "
              "echo finished")
    text = (
        "runbook: 1\ntitle: Detached start\nenvironments:\n  local: {namespace: default}\n"
        "phases:\n  - id: p\n    title: P\n    sections:\n      - id: s\n        title: S\n"
        "        items:\n"
        "          - " + json.dumps({"id": "slow", "kind": "action", "title": "Slow change",
                                     "uses": "shell", "with": {"script": script}}) + "\n"
    )
    path = tmp_path / "rb.yaml"
    path.write_text(text)
    return path


def wait_for(ok: object, what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not ok():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def journaled(db: Path, sid: str) -> list[Event]:
    """The session's events as another process reads them."""
    out = subprocess.run([sys.executable, "-c", READ, str(db), sid], capture_output=True,
                         text=True, check=True, timeout=60)
    return [Event(seq, 0.0, Ev(kind), item, "", json.loads(data))
            for seq, kind, item, data in json.loads(out.stdout)]


def lock_is_free(path: Path) -> bool:
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def start(tmp_path: Path) -> tuple[Journal, Run, Path]:
    rb_path = write_runbook(tmp_path)
    reg = default_registry()
    journal = Journal(tmp_path / "journal.db")
    run = Run.start(journal, load(rb_path, reg), "local", {}, reg, OPERATOR, dry_run=False)
    return journal, run, rb_path


@pytest.mark.parametrize("point", POINTS)
def test_a_cancel_at_each_point_of_the_start_ends_the_item_cancelled(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, point: str) -> None:
    pause = tmp_path / "pause"
    pause.mkdir()
    if point not in ("before-spawn", "running"):
        monkeypatch.setenv("RUNBOOK_TEST_PAUSE_AT", point)
        monkeypatch.setenv("RUNBOOK_TEST_PAUSE_DIR", str(pause))
    journal, run, _ = start(tmp_path)
    token = CancelToken()
    lines: list[str] = []
    if point == "before-spawn":
        token.cancel(REASON)
        result = run.execute("slow", token)
    else:
        def cancel_there() -> None:
            if point == "running":
                wait_for(lambda: "started" in lines, "the command's first line")
            else:
                wait_for((pause / f"{point}.reached").exists, f"the supervisor at {point}")
            token.cancel(REASON)

        t = threading.Thread(target=cancel_there, daemon=True)
        t.start()
        result = run.execute("slow", token, listener=lambda item, batch: lines.extend(batch))
        t.join(timeout=90)
    assert result.outcome is Outcome.CANCELLED, result.message
    assert REASON in result.message
    assert run.state.items["slow"].status is Status.CANCELLED

    # the journal, as another process reads it: one run, ended cancelled, nothing dangling
    events = journaled(tmp_path / "journal.db", run.meta.id)
    runs = [e for e in events if e.item == "slow" and e.kind in (Ev.ITEM_INTENT, Ev.ITEM_STARTED,
                                                                 Ev.ITEM_RESULT)]
    assert [e.kind for e in runs] == [Ev.ITEM_INTENT, Ev.ITEM_RESULT], runs
    assert runs[1].data["outcome"] == "cancelled" and REASON in runs[1].data["message"]
    state = fold(run.runbook, "local", events)
    assert state.items["slow"].status is Status.CANCELLED

    # nothing half-done: no pid file, no live supervisor, no lock held, the command not begun
    running = run.dir / "running"
    assert not (running / "slow.json").exists()
    assert run.running_detached() == []
    lock = running / "slow.lock"
    if point in NOT_TAKEN:
        assert not lock.exists()  # never claimed
        assert "did not" not in result.message
        assert not (run.dir / "logs" / "slow.log").exists()
    else:
        assert lock_is_free(lock)
    if point == "running":
        assert lines == ["started"]
    else:
        assert not (tmp_path / "marker").exists(), "the step's command ran"
        assert "before the step began" in result.message
    if point in ("begin", "unclaimed"):
        err = (running / "slow.err").read_text()
        assert "cancelled before the supervisor took it" in err

    # and it can be run again, to its end
    monkeypatch.delenv("RUNBOOK_TEST_PAUSE_AT", raising=False)
    (tmp_path / "gate").touch()
    again = run.execute("slow", CancelToken())
    assert again.outcome is Outcome.PASSED, again.message
    journal.close()


def test_a_supervisor_that_never_started_leaves_nothing(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed before it could do anything (no cancel): the item did not start, and says so;
    no intent, no pid file, no lock; the next run goes ahead."""
    pause = tmp_path / "pause"
    pause.mkdir()
    monkeypatch.setenv("RUNBOOK_TEST_PAUSE_AT", "begin")
    monkeypatch.setenv("RUNBOOK_TEST_PAUSE_DIR", str(pause))
    journal, run, _ = start(tmp_path)
    reached = pause / "begin.reached"

    def kill_it() -> None:
        wait_for(lambda: reached.exists() and reached.read_text(), "the supervisor to begin")
        os.kill(int(reached.read_text()), signal.SIGKILL)

    t = threading.Thread(target=kill_it, daemon=True)
    t.start()
    result = run.execute("slow", CancelToken())
    t.join(timeout=90)
    assert result.outcome is Outcome.FAILED
    assert "did not start" in result.message
    events = journaled(tmp_path / "journal.db", run.meta.id)
    assert not [e for e in events if e.item == "slow"]
    running = run.dir / "running"
    assert not (running / "slow.json").exists() and not (running / "slow.lock").exists()
    assert run.state.items["slow"].status is Status.PENDING

    monkeypatch.delenv("RUNBOOK_TEST_PAUSE_AT")
    (tmp_path / "gate").touch()
    assert run.execute("slow", CancelToken()).outcome is Outcome.PASSED
    journal.close()
