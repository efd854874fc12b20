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
"""

from __future__ import annotations

import json
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from runbook.execute.detached import REFUSED, claim, live_supervisor, reason_file, write_pidfile
from runbook.execute.stepkind import CancelToken, StepRegistry
from runbook.format.loader import LoadFailed, load, load_text
from runbook.format.model import Runbook
from runbook.journal.backends import open_journal
from runbook.journal.store import JournalError
from runbook.session.operator import Operator
from runbook.session.run import Refused, Run


def supervise(registry: StepRegistry) -> int:
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    token = CancelToken()
    where: list[tuple[Path, str]] = []

    def cancel(signum: int, frame: Any) -> None:
        reason = "cancelled by operator"
        if where:
            try:
                reason = reason_file(*where[0]).read_text().strip() or reason
            except OSError:
                pass
        token.cancel(reason)

    signal.signal(signal.SIGTERM, cancel)
    signal.signal(signal.SIGINT, cancel)
    try:
        spec = json.loads(sys.stdin.read())
        item = str(spec["item"])
        journal = open_journal(str(spec["journal"]))
        meta = journal.session(str(spec["session"]))
        text = spec.get("runbook_text")
        runbook = (load_text(str(text), str(spec["runbook"]), registry) if text is not None
                   else load(str(spec["runbook"]), registry))
        if runbook.content_hash != spec.get("runbook_hash", runbook.content_hash):
            print(f"runbook _step: {spec['runbook']} changed since the session loaded it: "
                  "resume the session to load it again", file=sys.stderr)
            return 2
        runbook = _with_environment(runbook, meta.env, spec.get("environment"))
        operator = Operator(**spec["operator"])
        run = Run.open(journal, meta, runbook, dict(spec["variables"]), registry, operator,
                       role="agent")
    except (ValueError, KeyError, TypeError) as e:
        print(f"runbook _step: bad orders on stdin: {e}", file=sys.stderr)
        return 2
    except (LoadFailed, JournalError, OSError) as e:
        print(f"runbook _step: {e}", file=sys.stderr)
        return 2
    run.redactor.add(spec.get("secrets") or [])
    if claim(run.dir, item) is None:  # another supervisor runs it (its driver died, a resume ran it)
        other = live_supervisor(run.dir, item)
        print(f"refused: {item}: already running (supervisor pid {other.pid if other else '?'})",
              file=sys.stderr)
        journal.close()
        return REFUSED
    where.append((run.dir, item))
    reason_file(run.dir, item).unlink(missing_ok=True)
    path = write_pidfile(run.dir, item)
    try:
        run.execute(item, token, None, detach=False)
    except Refused as e:
        print(f"refused: {e}", file=sys.stderr)
        return REFUSED
    finally:
        path.unlink(missing_ok=True)
        journal.close()
    return 0


def _with_environment(runbook: Runbook, name: str, given: dict[str, Any] | None) -> Runbook:
    """The runbook with environment `name` as the driver had it in memory."""
    if not given:
        return runbook
    envs = tuple(
        replace(e, values=tuple((str(k), str(v)) for k, v in given["values"].items()),
                namespace=str(given["namespace"]), context=str(given["context"]))
        if e.name == name else e for e in runbook.environments)
    return replace(runbook, environments=envs)
