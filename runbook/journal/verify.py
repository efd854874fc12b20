"""Is the journal consistent? The checks behind `runbook verify`, each finding one line.

A session's events must be numbered 1, 2, 3... without a gap; nothing but what the rules
allow may follow `session.finished`; every result and fact belongs to a run (an intent or a
start before it, with no result yet); an intent left without a result must be explained
(a detached step still running, a driver still at it), else the action was interrupted;
every kind and payload must decode. The rows are read raw, so a row no event can be made
of is named instead of stopping the check.

For SQLite, the file itself: SQLite's own integrity check and journal mode, and the WAL.
A process that commits into a `journal.db-wal` that was deleted under it (issue 11: a
process's POSIX locks were dropped, another one believed it was the last, checkpointed and
unlinked the WAL) writes events nobody else will ever read; only /proc shows it, as a
descriptor linked to `journal.db-wal (deleted)`. Only processes this user may inspect are
seen.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runbook.journal.sqlite import Journal
from runbook.journal.store import JournalStore
from runbook.rules.events import Ev, Event

Row = tuple[int, float, str, str | None, str, str]  # seq, ts, kind, item, actor, data (JSON)
KINDS = {e.value: e for e in Ev}
# what the rules accept after session.finished (runbook.rules.state.refusal)
AFTER_FINISHED = frozenset({Ev.SESSION_RESUMED, Ev.NOTIFY_FAILED})
SELECT_ROWS = ("SELECT seq, ts, kind, item, actor, data FROM events WHERE session_id = {mark} "
               "ORDER BY seq")
ORPHANS = ("SELECT session_id, COUNT(*) FROM events WHERE session_id NOT IN "
           "(SELECT id FROM sessions) GROUP BY session_id ORDER BY session_id")
MAX_INTEGRITY_LINES = 10


@dataclass(frozen=True, slots=True)
class Finding:
    text: str
    problem: bool = True


@dataclass(frozen=True, slots=True)
class Holder:
    """A process with a descriptor on a deleted -wal or -shm of the journal."""

    pid: int
    files: tuple[str, ...]  # "-wal", "-shm"
    command: str


# -- reading ----------------------------------------------------------------------------

def rows(store: JournalStore, session_id: str) -> list[Row]:
    """The session's events as stored, undecoded."""
    return [(int(r[0]), float(r[1]), str(r[2]), r[3], str(r[4]), str(r[5]))
            for r in _query(store, SELECT_ROWS, (session_id,))]


def _query(store: JournalStore, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    return store.read(sql, params)


# -- one session --------------------------------------------------------------------------

def check_session(found: Sequence[Row],
                  explained: Callable[[str], str | None] = lambda item: None) -> list[Finding]:
    """What is wrong with one session's rows. `explained(item)` says why an intent without a
    result is fine (its detached step runs, its driver is live), or None."""
    out: list[Finding] = []
    expected = 1
    finished = 0
    open_runs: dict[str, tuple[int, str]] = {}  # item -> (seq, kind) of its run's start
    for seq, _, kind, item, _, data in found:
        if seq != expected:
            out.append(Finding(_gap(expected, seq)))
        expected = seq + 1
        ev = KINDS.get(kind)
        if ev is None:
            out.append(Finding(f"seq {seq}: unknown event kind {kind!r}"))
        why = _damaged(data)
        if why:
            out.append(Finding(f"seq {seq}: damaged data ({why})"))
        if finished and ev is not None and ev not in AFTER_FINISHED:
            out.append(Finding(f"seq {seq}: {kind} after session.finished (seq {finished})"))
        if ev is Ev.SESSION_FINISHED and not finished:
            finished = seq
        if item is None or ev is None:
            continue
        started = open_runs.get(item)
        if ev in (Ev.ITEM_INTENT, Ev.ITEM_STARTED):
            if started is not None and started[1] == Ev.ITEM_INTENT.value:
                out.append(Finding(f"seq {seq}: {item} {kind} while its intent (seq {started[0]}) "
                                   "has no result"))
            open_runs[item] = (seq, kind)
        elif ev in (Ev.ITEM_RESULT, Ev.ITEM_FACT):
            if started is None:
                out.append(Finding(f"seq {seq}: {item} {kind} without an intent or start"))
            elif ev is Ev.ITEM_RESULT:
                del open_runs[item]
        elif ev is Ev.ITEM_RECONCILED:
            open_runs.pop(item, None)
    for item, (seq, kind) in open_runs.items():
        if kind != Ev.ITEM_INTENT.value:
            continue  # a read-only start without a result is simply run again
        reason = explained(item)
        if reason is not None:
            out.append(Finding(f"{item}: intent (seq {seq}) without a result yet: {reason}",
                               problem=False))
        else:
            out.append(Finding(f"{item}: intent (seq {seq}) without a result, and nothing runs "
                               "it: interrupted mid-action (resume reconciles it)"))
    return out


def decodable(found: Sequence[Row]) -> list[Event]:
    """The rows that make events (the others are findings of `check_session`)."""
    return [Event(seq, ts, KINDS[kind], item, actor, json.loads(data))
            for seq, ts, kind, item, actor, data in found if kind in KINDS and not _damaged(data)]


def _gap(expected: int, seq: int) -> str:
    if seq < expected:
        return f"seq {seq} after seq {expected - 1}: out of order"
    missing = f"seq {expected}" if seq == expected + 1 else f"seq {expected}-{seq - 1}"
    return f"{missing} missing (a gap before seq {seq})"


def _damaged(data: str) -> str:
    try:
        value = json.loads(data)
    except ValueError as e:
        return str(e)
    return "" if isinstance(value, dict) else f"a JSON {type(value).__name__}, not an object"


# -- the journal as a whole -------------------------------------------------------------------

def check_journal(store: JournalStore, full: bool = False,
                  holders: Sequence[Holder] | None = None) -> list[Finding]:
    """Events of no session; for SQLite: integrity, journal mode, deleted WAL holders
    (`holders`, else looked for now)."""
    out = [Finding(f"{n} event(s) of session {sid!r}, which is not in the sessions table")
           for sid, n in _query(store, ORPHANS)]
    if not isinstance(store, Journal):
        return [*out, Finding("no file checks (the integrity and WAL checks are SQLite's)",
                              problem=False)]
    pragma = "integrity_check" if full else "quick_check"
    result = [str(r[0]) for r in _query(store, f"PRAGMA {pragma}")]
    problems = [Finding(f"{pragma}: {line}") for line in result[:MAX_INTEGRITY_LINES]
                if result != ["ok"]]
    (mode,) = _query(store, "PRAGMA journal_mode")[0]
    if str(mode).lower() != "wal":
        problems.append(Finding(f"journal_mode is {mode}, not wal: readers and the writer block "
                                "each other"))
    for h in deleted_wal_holders(store.path) if holders is None else holders:
        problems.append(Finding(f"pid {h.pid} ({h.command}) holds a deleted "
                                f"{store.path.name}{' and '.join(h.files)}: what it journals "
                                "since is invisible to every other process"))
    return out + (problems or [Finding(f"{pragma} ok, journal_mode wal, no process writes into "
                                       "a deleted -wal or -shm", problem=False)])


def deleted_wal_holders(db: Path, proc: Path = Path("/proc")) -> list[Holder]:
    """Processes with a descriptor on this journal's -wal or -shm after it was deleted."""
    real = os.path.realpath(db)
    wanted = {f"{real}-wal (deleted)": "-wal", f"{real}-shm (deleted)": "-shm"}
    out: list[Holder] = []
    try:
        pids = sorted(int(p.name) for p in proc.iterdir() if p.name.isdigit())
    except OSError:
        return out
    for pid in pids:
        files: set[str] = set()
        try:
            for fd in (proc / str(pid) / "fd").iterdir():
                suffix = wanted.get(os.readlink(fd))
                if suffix is not None:
                    files.add(suffix)
        except OSError:  # gone meanwhile, or another user's
            continue
        if files:
            out.append(Holder(pid, tuple(sorted(files, reverse=True)), _command(proc, pid)))
    return out


def _command(proc: Path, pid: int, width: int = 60) -> str:
    try:
        raw = (proc / str(pid) / "cmdline").read_bytes()
    except OSError:
        return "?"
    text = " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)
    return text if len(text) <= width else text[:width - 1] + "…"
