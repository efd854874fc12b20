"""The detached side of a long step: `runbook _step`, started by `runbook.execute.detached.spawn`.

It reads its orders (journal, session, item, values) as JSON on stdin, opens the
session as the driver's agent, runs the one item through the executor (which
journals intent, facts and result, and writes the item's log file) and exits.
It first claims the item (a lock on `running/<item>.lock`, dropped however it ends):
a second supervisor for a claimed item (its driver died before the first journaled
anything, and a resume ran the item again) is refused, exit status 3, and leaves the
first one's pid file alone. SIGTERM or SIGINT cancel the step; SIGHUP is ignored: the
terminal that started it may be gone. Whatever goes wrong is written to stderr, which is the item's
`running/<item>.err` file, on one line.

A cancel can come at any moment of the start (spawn blocks SIGTERM and SIGINT until the handlers
below exist). Before the claim, the supervisor has not taken the item: it exits NOT_STARTED,
leaving no intent, pid file or lock, and the driver journals the cancelled run. From the claim
on, it journals: the executor never begins a step cancelled before it began. For tests only,
RUNBOOK_TEST_PAUSE_AT=POINT (begin, unclaimed, claimed, intent) holds it at that point of the
start until a cancel has reached it (or RUNBOOK_TEST_PAUSE_DIR/go exists), after writing
RUNBOOK_TEST_PAUSE_DIR/POINT.reached.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from runbook.execute.detached import (
    CANCEL_SIGNALS,
    NOT_STARTED,
    REFUSED,
    claim,
    live_supervisor,
    reason_file,
    write_pidfile,
)
from runbook.execute.stepkind import CancelToken, StepRegistry
from runbook.format.loader import LoadFailed, load, load_text
from runbook.format.model import Runbook
from runbook.journal.backends import open_journal
from runbook.journal.store import JournalError
from runbook.rules.events import Ev
from runbook.session.operator import Operator
from runbook.session.run import Refused, Run

DEFAULT_REASON = "cancelled by operator"
PAUSE_LIMIT = 120.0  # seconds a test pause holds at most


def supervise(registry: Callable[[], StepRegistry]) -> int:
    _pause("begin", lambda: bool(CANCEL_SIGNALS & signal.sigpending()))  # (still blocked)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    token = CancelToken()
    where: list[tuple[Path, str]] = []

    def cancel(signum: int, frame: Any) -> None:
        token.cancel(_reason(where))

    signal.signal(signal.SIGTERM, cancel)
    signal.signal(signal.SIGINT, cancel)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, CANCEL_SIGNALS)  # a cancel sent meanwhile lands now
    try:
        spec = json.loads(sys.stdin.read())
        item = str(spec["item"])
        if token.cancelled:
            return _not_started(item)
        reg = registry()
        journal = open_journal(str(spec["journal"]))
        meta = journal.session(str(spec["session"]))
        text = spec.get("runbook_text")
        runbook = (load_text(str(text), str(spec["runbook"]), reg) if text is not None
                   else load(str(spec["runbook"]), reg))
        if runbook.content_hash != spec.get("runbook_hash", runbook.content_hash):
            print(f"runbook _step: {spec['runbook']} changed since the session loaded it: "
                  "resume the session to load it again", file=sys.stderr)
            return 2
        runbook = _with_environment(runbook, meta.env, spec.get("environment"))
        operator = Operator(**spec["operator"])
        run = Run.open(journal, meta, runbook, dict(spec["variables"]), reg, operator,
                       role="agent")
    except (ValueError, KeyError, TypeError) as e:
        print(f"runbook _step: bad orders on stdin: {e}", file=sys.stderr)
        return 2
    except (LoadFailed, JournalError, OSError) as e:
        print(f"runbook _step: {e}", file=sys.stderr)
        return 2
    run.redactor.add(spec.get("secrets") or [])
    _pause("unclaimed", lambda: token.cancelled)
    if token.cancelled:  # not taken: the driver journals the cancelled run
        journal.close()
        return _not_started(item)
    if claim(run.dir, item) is None:  # another supervisor runs it (its driver died, a resume ran it)
        other = live_supervisor(run.dir, item)
        print(f"refused: {item}: already running (supervisor pid {other.pid if other else '?'})",
              file=sys.stderr)
        journal.close()
        return REFUSED
    where.append((run.dir, item))
    if token.cancelled:  # cancelled while claiming: the reason was not known to the handler
        token.reason = _reason(where)
    path = write_pidfile(run.dir, item)
    run.subscribe(lambda ev, state: _pause("intent", lambda: token.cancelled)
                  if ev.kind is Ev.ITEM_INTENT and ev.item == item else None)
    try:
        _pause("claimed", lambda: token.cancelled)
        run.execute(item, token, None, detach=False)
    except Refused as e:
        print(f"refused: {e}", file=sys.stderr)
        return REFUSED
    finally:
        path.unlink(missing_ok=True)
        reason_file(run.dir, item).unlink(missing_ok=True)
        journal.close()
    return 0


def _reason(where: list[tuple[Path, str]]) -> str:
    """Why the step is cancelled: the driver's words beside the pid file, once it is known."""
    if where:
        try:
            return reason_file(*where[0]).read_text().strip() or DEFAULT_REASON
        except OSError:
            pass
    return DEFAULT_REASON


def _not_started(item: str) -> int:
    print(f"{item}: cancelled before the supervisor took it: nothing was done", file=sys.stderr)
    return NOT_STARTED


def _pause(point: str, cancelled: Callable[[], bool]) -> None:
    """Tests only: hold at a named point of the start until a cancel has reached us."""
    if os.environ.get("RUNBOOK_TEST_PAUSE_AT") != point:
        return
    folder = Path(os.environ.get("RUNBOOK_TEST_PAUSE_DIR") or ".")
    (folder / f"{point}.reached").write_text(str(os.getpid()))
    deadline = time.monotonic() + PAUSE_LIMIT
    while not cancelled() and not (folder / "go").exists() and time.monotonic() < deadline:
        time.sleep(0.01)


def _with_environment(runbook: Runbook, name: str, given: dict[str, Any] | None) -> Runbook:
    """The runbook with environment `name` as the driver had it in memory."""
    if not given:
        return runbook
    envs = tuple(
        replace(e, values=tuple((str(k), str(v)) for k, v in given["values"].items()),
                namespace=str(given["namespace"]), context=str(given["context"]))
        if e.name == name else e for e in runbook.environments)
    return replace(runbook, environments=envs)
