"""`runbook verify [SESSION]`: is the journal consistent? One line per finding.

Exit 0 when nothing is wrong, 1 when something is (a gap, an event after the end, a result
without its intent, an interrupted action, an unknown kind, a damaged payload or file, a
process writing into a deleted WAL), 2 for a usage error such as an unknown session. The
checks are `runbook.journal.verify`'s; here they are given what only this host knows: which
detached steps and drivers are alive, and which session a process writing into a deleted
WAL serves (its wheel token names its host and pid, a supervisor's pid file its pid).
"""

from __future__ import annotations

import argparse
import functools
import socket
import time
from pathlib import Path
from typing import Any

from runbook.cli.common import CliError, open_store
from runbook.journal.sqlite import Journal
from runbook.journal.store import JournalError, JournalStore, SessionMeta
from runbook.journal.verify import (
    Finding,
    Holder,
    check_journal,
    check_session,
    decodable,
    deleted_wal_holders,
    rows,
)

EXIT_PROBLEM = 1


def add_parser(sub: Any) -> None:
    v = sub.add_parser("verify", help="check the journal: sequence gaps, events after the end, "
                                      "results without intent, the WAL; exit 1 if any problem")
    v.add_argument("session", nargs="?", help="session id or a unique prefix (default: all)")
    v.add_argument("--full", action="store_true",
                   help="SQLite's full integrity_check instead of its quick_check")
    v.set_defaults(fn=cmd_verify)


def cmd_verify(args: argparse.Namespace) -> int:
    from runbook.rules.outcome import outcome
    from runbook.session.report import attended
    j = open_store(args)
    try:
        metas = [j.find_session(args.session)] if args.session else j.sessions()
        holders = deleted_wal_holders(j.path) if isinstance(j, Journal) else []
        problems = 0
        for f in check_journal(j, args.full, holders):
            problems += _say(f"journal {j.describe()}", f)
        now = time.time()
        for meta in metas:
            found = rows(j, meta.id)
            findings = _deleted_wal(j, meta, holders, len(found))
            findings += check_session(found, functools.partial(_explained, j, meta, now=now))
            for f in findings:
                problems += _say(f"session {meta.id}", f)
            if not any(f.problem for f in findings):
                told = outcome(decodable(found), now, attended(j, meta, now))
                print(f"session {meta.id}: ok ({len(found)} events, {told})")
    except JournalError as e:
        raise CliError(str(e)) from None
    sessions = f"{len(metas)} session{'s' if len(metas) != 1 else ''}"
    print(f"verified {sessions}: " + (f"{problems} problem{'s' if problems != 1 else ''}"
                                      if problems else "no problems"))
    return EXIT_PROBLEM if problems else 0


def _say(where: str, f: Finding) -> int:
    print(f"{where}: {f.text}")
    return int(f.problem)


def _explained(j: JournalStore, meta: SessionMeta, item: str, *, now: float) -> str | None:
    """Why an intent without a result is not (yet) a problem, or None."""
    from runbook.execute.detached import live_supervisor
    sup = live_supervisor(Path(meta.dir), item)
    if sup is not None:
        return f"its detached step runs (supervisor pid {sup.pid})"
    wheel = j.wheel(meta.id)
    if wheel is not None and wheel.live(now):
        return f"its driver {wheel.holder} is live"
    return None


def _deleted_wal(j: JournalStore, meta: SessionMeta, holders: list[Holder],
                 seen: int) -> list[Finding]:
    """The session's processes on this host that write into a deleted WAL of this journal."""
    if not holders:
        return []
    from runbook.execute.detached import live_supervisors
    mine: dict[int, str] = {}
    wheel = j.wheel(meta.id)
    if wheel is not None:
        host, _, rest = wheel.token.partition("/")
        pid = rest.partition("/")[0]
        if host == socket.gethostname() and pid.isdigit():
            mine[int(pid)] = f"its driver {wheel.holder}"
    for sup in live_supervisors(Path(meta.dir)):
        mine[sup.pid] = f"the detached step of {sup.item_id}"
    return [Finding(f"pid {h.pid} ({mine[h.pid]}) commits into a deleted "
                    f"{Path(j.describe()).name}{' and '.join(h.files)}: every event it journals "
                    f"is lost to everyone else, who see the session stop at event {seen}")
            for h in holders if h.pid in mine]
