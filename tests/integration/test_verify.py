"""`runbook verify` and the outcomes of `runbook sessions`, from fresh processes.

The deleted WAL is made the way issue 11 met it: a process holding the journal drops its
own POSIX locks on the file (the old `os.close(os.open(journal.db))`), another process opens,
appends and closes, believes it was the last, checkpoints and unlinks `journal.db-wal`
and `-shm`; the first one's later events go into the deleted WAL, seen by nobody else.
Damage of each kind is written with sqlite3 (or SQL) directly, as no runbook code would.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from runbook.journal.sqlite import Journal
from runbook.journal.store import JournalStore, SessionMeta
from runbook.rules.events import Ev
from runbook.rules.outcome import ABANDONED_AFTER

if TYPE_CHECKING:
    from tests.integration.conftest import PgPair

pytestmark = pytest.mark.timeout(120)
REPO = Path(__file__).resolve().parents[2]

HOLDER = """\
import os, socket, sys, time
sys.path.insert(0, sys.argv[3])
from runbook.journal.sqlite import Journal
from runbook.rules.events import Ev
from tests.integration.test_verify import meta
db, sid = sys.argv[1], sys.argv[2]
j = Journal(db)
j.create_session(meta(sid, os.path.dirname(db)))
j.append(sid, Ev.SESSION_STARTED, actor="amy")
j.take_wheel(sid, "amy", f"{socket.gethostname()}/{os.getpid()}/test", 3600)
print("open", flush=True)
sys.stdin.readline()
os.close(os.open(db, os.O_RDONLY))  # what Journal.__init__ did: drops this process's locks
print("unlocked", flush=True)
sys.stdin.readline()
for n in range(3):
    j.append(sid, Ev.ITEM_CONFIRMED, item=f"step-{n}", actor="amy")
print(len(j.events(sid)), flush=True)
sys.stdin.readline()
"""

OTHER = """\
import sys
sys.path.insert(0, sys.argv[3])
from runbook.journal.sqlite import Journal
from runbook.rules.events import Ev
j = Journal(sys.argv[1])
j.append(sys.argv[2], Ev.FOLLOWER_JOINED, actor="bob", data={"token": "x"})
j.close()
"""


def meta(sid: str, root: str, created: float | None = None) -> SessionMeta:
    return SessionMeta(sid, time.time() if created is None else created, "/nowhere/rb.yaml",
                       "Verify me", "hash", "local", False, "amy", "vm", "", "", {},
                       str(Path(root) / "sessions" / sid))


def cli(tmp_path: Path, journal: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RUNBOOK_STATE_DIR": str(tmp_path / "state")}
    out = subprocess.run([sys.executable, "-m", "runbook", "--journal", journal, *args],
                         capture_output=True, text=True, env=env, cwd=REPO,
                         stdin=subprocess.DEVNULL, timeout=60)
    assert "Traceback" not in out.stderr, out.stderr
    return out


def finished_session(store: JournalStore, sid: str, root: Path, ts: float | None = None) -> None:
    """A clean session: started, one action passed, finished."""
    store.create_session(meta(sid, str(root), ts))
    store.append(sid, Ev.SESSION_STARTED, actor="amy", ts=ts)
    store.append(sid, Ev.ITEM_INTENT, "change", "amy", {"command": "true"}, ts=ts)
    store.append(sid, Ev.ITEM_RESULT, "change", "amy", {"outcome": "passed"}, ts=ts)
    store.append(sid, Ev.SESSION_FINISHED, actor="amy", data={"outcome": "completed"}, ts=ts)


def insert(db: Path, sid: str, seq: int, kind: str, item: str | None, data: str = "{}") -> None:
    con = sqlite3.connect(db)
    with con:
        con.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (sid, seq, time.time(), kind, item, "mallory", data))
    con.close()


# -- the WAL deleted under a live process -----------------------------------------------------

def test_verify_names_the_process_writing_into_a_deleted_wal(tmp_path: Path) -> None:
    db = tmp_path / "journal.db"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(db), "s1", str(REPO)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert holder.stdin is not None and holder.stdout is not None

    def tell() -> str:
        assert holder.stdin is not None and holder.stdout is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        return holder.stdout.readline().strip()

    try:
        assert holder.stdout.readline().strip() == "open"
        healthy = cli(tmp_path, str(db), "verify")  # a live process with a sound WAL: clean
        assert healthy.returncode == 0, healthy.stdout + healthy.stderr
        assert "no process writes into a deleted -wal or -shm" in healthy.stdout
        assert tell() == "unlocked"
        other = subprocess.run([sys.executable, "-c", OTHER, str(db), "s1", str(REPO)],
                               capture_output=True, text=True, timeout=60, cwd=REPO)
        assert other.returncode == 0, other.stderr
        assert not Path(f"{db}-wal").exists()  # the other process took itself for the last
        assert tell() == "5"  # the holder sees its 3 new events ...
        listed = cli(tmp_path, str(db), "sessions")
        assert "(2 events, last follower.joined)" in listed.stdout  # ... nobody else does

        found = cli(tmp_path, str(db), "verify")
        assert found.returncode == 1, found.stdout + found.stderr
        lines = found.stdout.splitlines()
        assert any(f"pid {holder.pid} " in ln and "holds a deleted journal.db-wal and -shm" in ln
                   for ln in lines), found.stdout
        assert any(ln.startswith("session s1: ") and f"pid {holder.pid} (its driver amy)" in ln
                   and "deleted journal.db-wal" in ln and "stop at event 2" in ln
                   for ln in lines), found.stdout
        assert lines[-1] == "verified 1 session: 2 problems"
        one = cli(tmp_path, str(db), "verify", "s1")
        assert one.returncode == 1 and "commits into a deleted journal.db-wal" in one.stdout
    finally:
        holder.kill()
        holder.wait()
        holder.stdin.close()
        holder.stdout.close()


# -- a healthy journal, and the usage errors ----------------------------------------------------

def test_a_healthy_journal_verifies_clean(tmp_path: Path) -> None:
    rb = tmp_path / "rb.yaml"
    rb.write_text(
        "runbook: 1\ntitle: Clean\nenvironments:\n  local: {}\nphases:\n  - id: p\n    title: P\n"
        "    sections:\n      - id: s\n        title: S\n        items:\n"
        "          - {id: hello, kind: check, title: Hi, uses: shell, with: {argv: [echo, hi]}}\n"
        "          - {id: change, kind: action, title: Change, uses: shell, "
        "with: {argv: [\"true\"]}}\n")
    db = tmp_path / "journal.db"
    ran = cli(tmp_path, str(db), "run", "--headless", str(rb), "--env", "local")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    journal = Journal(db)
    (sid,) = [s.id for s in journal.sessions()]
    live = "live-intent"  # an intent without a result yet, its driver live: a note, not a problem
    journal.create_session(meta(live, str(tmp_path)))
    journal.append(live, Ev.SESSION_STARTED, actor="amy")
    journal.append(live, Ev.ITEM_INTENT, "change", "amy", {"command": "true"})
    journal.take_wheel(live, "amy", "elsewhere/1/x", 3600)
    journal.close()

    out = cli(tmp_path, str(db), "verify")
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].endswith("quick_check ok, journal_mode wal, no process writes into a deleted "
                             "-wal or -shm")
    assert f"session {sid}: ok (" in out.stdout and ", completed)" in out.stdout
    assert f"session {live}: change: intent (seq 2) without a result yet: its driver amy is live" \
        in lines
    assert f"session {live}: ok (2 events, unfinished)" in lines
    assert lines[-1] == "verified 2 sessions: no problems"
    assert cli(tmp_path, str(db), "verify", sid[:15], "--full").returncode == 0

    unknown = cli(tmp_path, str(db), "verify", "no-such-session")
    assert unknown.returncode == 2 and unknown.stdout == ""
    assert unknown.stderr == "runbook: no session matching 'no-such-session'\n"
    missing = cli(tmp_path, str(tmp_path / "absent.db"), "verify")
    assert missing.returncode == 2 and "no journal at" in missing.stderr


# -- each kind of damage -------------------------------------------------------------------------

DAMAGE = {  # name: (rows to insert after a finished session of 4 events, what verify says)
    # (for those in UNFINISHED, after an unfinished session of 3)
    "gap": ([(7, "notify.failed", None, "{}")], "seq 5-6 missing (a gap before seq 7)"),
    "after-finished": ([(5, "item.confirmed", "check", "{}")],
                       "seq 5: item.confirmed after session.finished (seq 4)"),
    "result-without-intent": ([(4, "item.result", "other", '{"outcome": "passed"}')],
                              "seq 4: other item.result without an intent or start"),
    "unknown-kind": ([(5, "item.teleported", "change", "{}")],
                     "seq 5: unknown event kind 'item.teleported'"),
    "damaged-data": ([(5, "notify.failed", None, "{not json")], "seq 5: damaged data ("),
    "dangling-intent": ([(4, "item.intent", "later", '{"command": "x"}')],
                        "later: intent (seq 4) without a result, and nothing runs it"),
}


UNFINISHED = ("result-without-intent", "dangling-intent")


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_verify_finds_each_kind_of_damage(tmp_path: Path, damage: str) -> None:
    db = tmp_path / "journal.db"
    journal = Journal(db)
    finished_session(journal, "clean", tmp_path)
    if damage in UNFINISHED:  # started, one change passed
        journal.create_session(meta("bad", str(tmp_path)))
        journal.append("bad", Ev.SESSION_STARTED, actor="amy")
        journal.append("bad", Ev.ITEM_INTENT, "change", "amy", {"command": "true"})
        journal.append("bad", Ev.ITEM_RESULT, "change", "amy", {"outcome": "passed"})
    else:
        finished_session(journal, "bad", tmp_path)
    journal.close()
    added, said = DAMAGE[damage]
    for seq, kind, item, data in added:
        insert(db, "bad", seq, kind, item, data)

    out = cli(tmp_path, str(db), "verify")
    assert out.returncode == 1, out.stdout + out.stderr
    problems = [ln for ln in out.stdout.splitlines() if ln.startswith("session bad: ")]
    assert len(problems) == 1 and said in problems[0], out.stdout
    assert "session clean: ok (4 events, completed)" in out.stdout
    assert out.stdout.splitlines()[-1] == "verified 2 sessions: 1 problem"
    assert cli(tmp_path, str(db), "verify", "clean").returncode == 0
    listed = cli(tmp_path, str(db), "sessions")  # never a traceback, whatever the rows hold
    assert listed.returncode == 0 and "bad" in listed.stdout


# -- the outcomes `runbook sessions` shows -------------------------------------------------------

def test_sessions_shows_each_outcome(tmp_path: Path) -> None:
    db = tmp_path / "journal.db"
    journal = Journal(db)
    old = time.time() - ABANDONED_AFTER - 3600
    finished_session(journal, "s1-completed", tmp_path)
    journal.create_session(meta("s2-failed", str(tmp_path)))
    journal.append("s2-failed", Ev.SESSION_STARTED, actor="amy")
    journal.append("s2-failed", Ev.ITEM_INTENT, "migrate", "amy", {"command": "x"})
    journal.append("s2-failed", Ev.ITEM_RESULT, "migrate", "amy", {"outcome": "failed"})
    journal.create_session(meta("s3-unfinished", str(tmp_path)))
    journal.append("s3-unfinished", Ev.SESSION_STARTED, actor="amy")
    journal.create_session(meta("s4-abandoned", str(tmp_path), old))
    journal.append("s4-abandoned", Ev.SESSION_STARTED, actor="amy", ts=old)
    journal.append("s4-abandoned", Ev.ITEM_CONFIRMED, "check", "amy", ts=old)
    journal.create_session(meta("s5-attended", str(tmp_path), old))  # as old, its driver still there
    journal.append("s5-attended", Ev.SESSION_STARTED, actor="amy", ts=old)
    journal.take_wheel("s5-attended", "amy", f"{socket.gethostname()}/1/x", 3600)
    journal.create_session(meta("s6-overridden", str(tmp_path)))  # a failure overridden: not failed
    journal.append("s6-overridden", Ev.SESSION_STARTED, actor="amy")
    journal.append("s6-overridden", Ev.ITEM_STARTED, "probe", "amy")
    journal.append("s6-overridden", Ev.ITEM_RESULT, "probe", "amy", {"outcome": "timed-out"})
    journal.append("s6-overridden", Ev.ITEM_OVERRIDDEN, "probe", "amy", {"reason": "known"})
    journal.close()

    out = cli(tmp_path, str(db), "sessions")
    assert out.returncode == 0, out.stderr
    shown = {ln.split()[0]: ln for ln in out.stdout.splitlines()}
    expect = {"s1-completed": "completed", "s2-failed": "failed at migrate",
              "s3-unfinished": "unfinished", "s4-abandoned": "abandoned",
              "s5-attended": "unfinished", "s6-overridden": "unfinished"}
    column = {ln.index("amy@vm") - len(sid) for sid, ln in shown.items()}
    assert len(column) == 1, out.stdout  # the outcome is a column: what follows it lines up
    for sid, outcome in expect.items():
        line = shown[sid]
        assert f" local       {outcome} " in line, line
    assert "(4 events, last session.finished)" in shown["s1-completed"]

    report = cli(tmp_path, str(db), "report", "s2-failed", "--format", "json")
    assert json.loads(report.stdout)["outcome"] == "failed at migrate"


# -- the PostgreSQL journal: the same checks but the file's -----------------------------------

@pytest.fixture
def pg_url(pg_pair: PgPair) -> Iterator[str]:
    from runbook.sandbox.servers import TEST_PASSWORD, TEST_USER
    name = f"verify_{uuid.uuid4().hex[:12]}"
    pg_pair.primary.sql(f"CREATE DATABASE {name} OWNER {TEST_USER}")
    try:
        yield pg_pair.primary.url(password=TEST_PASSWORD, db=name)
    finally:
        pg_pair.primary.sql(f"DROP DATABASE {name} WITH (FORCE)")


def test_verify_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    import psycopg

    from runbook.journal.postgres import PgJournal
    journal = PgJournal(pg_url, sessions_root=tmp_path / "sessions")
    finished_session(journal, "clean", tmp_path)
    finished_session(journal, "bad", tmp_path)
    journal.close()
    out = cli(tmp_path, pg_url, "verify")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no file checks (the integrity and WAL checks are SQLite's)" in out.stdout
    assert "session bad: ok (4 events, completed)" in out.stdout

    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute("INSERT INTO events VALUES ('bad', 7, 0, 'item.result', 'x', 'm', '{}')")
    out = cli(tmp_path, pg_url, "verify")
    assert out.returncode == 1, out.stdout + out.stderr
    bad = [ln for ln in out.stdout.splitlines() if ln.startswith("session bad: ")]
    assert bad == ["session bad: seq 5-6 missing (a gap before seq 7)",
                   "session bad: seq 7: item.result after session.finished (seq 4)",
                   "session bad: seq 7: x item.result without an intent or start"], out.stdout
    assert "session clean: ok (4 events, completed)" in out.stdout
    assert "verified 2 sessions: 3 problems" in out.stdout
