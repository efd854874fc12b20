"""The PostgreSQL journal from the command line, and what only the PostgreSQL journal has.

`runbook --journal postgresql://...` runs, lists, reports and resumes against a real
database (a fresh one per test on the `pg_pair` primary) without ever showing the
password; a wrong password is one line. Then: a dropped connection, the schema version,
several processes creating the tables at once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest

from runbook.journal.postgres import PgJournal
from runbook.journal.store import JournalError, SessionMeta
from runbook.rules.events import Ev
from runbook.sandbox.servers import TEST_PASSWORD, TEST_USER

if TYPE_CHECKING:
    from tests.integration.conftest import PgPair

pytestmark = pytest.mark.timeout(120)

RUNBOOK = """\
runbook: 1
title: Shared journal
environments:
  local: {}
phases:
  - id: p
    title: P
    sections:
      - id: s
        title: S
        items:
          - {id: hello, kind: check, title: Say hello, uses: shell, with: {argv: [echo, hello]}}
          - {id: change, kind: action, title: Change it, uses: shell, with: {argv: ["true"]}}
"""


class Db:
    def __init__(self, pg: PgPair, name: str) -> None:
        self.pg, self.name = pg, name
        self.url = pg.primary.url(password=TEST_PASSWORD, db=name)

    def sql(self, statement: str) -> list[tuple[object, ...]]:
        return self.pg.primary.sql(statement, db=self.name)


@pytest.fixture
def db(pg_pair: PgPair) -> Iterator[Db]:
    name = f"journal_{uuid.uuid4().hex[:12]}"
    pg_pair.primary.sql(f"CREATE DATABASE {name} OWNER {TEST_USER}")
    try:
        yield Db(pg_pair, name)
    finally:
        pg_pair.primary.sql(f"DROP DATABASE {name} WITH (FORCE)")


def runbook_cli(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RUNBOOK_STATE_DIR": str(tmp_path / "state")}
    out = subprocess.run([sys.executable, "-m", "runbook", "--journal", url, *args],
                         capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL,
                         timeout=60)
    assert TEST_PASSWORD not in out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    return out


def test_cli_runs_lists_reports_and_resumes_on_postgresql(tmp_path: Path, db: Db) -> None:
    rb = tmp_path / "rb.yaml"
    rb.write_text(RUNBOOK)
    ran = runbook_cli(tmp_path, db.url, "run", "--headless", "--dry-run", str(rb), "--env", "local")
    assert ran.returncode == 0, ran.stderr
    assert "completed" in ran.stdout
    port = db.pg.primary.port
    assert f"journal postgresql://{TEST_USER}:•••@127.0.0.1:{port}/{db.name}" in ran.stdout
    (sid,) = [str(row[0]) for row in db.sql("SELECT id FROM sessions")]
    kinds = [row[0] for row in db.sql("SELECT kind FROM events ORDER BY seq")]
    assert kinds[0] == Ev.SESSION_STARTED and kinds[-1] == Ev.SESSION_FINISHED

    listed = runbook_cli(tmp_path, db.url, "sessions")
    assert listed.returncode == 0, listed.stderr
    assert sid in listed.stdout and f"({len(kinds)} events, last session.finished)" in listed.stdout

    report = runbook_cli(tmp_path, db.url, "report", sid[:17])
    assert report.returncode == 0, report.stderr
    assert "Shared journal" in report.stdout and "Say hello" in report.stdout
    as_json = runbook_cli(tmp_path, db.url, "report", sid, "--format", "json")
    assert as_json.returncode == 0 and sid in as_json.stdout

    resumed = runbook_cli(tmp_path, db.url, "resume", "--headless")
    assert resumed.returncode == 2
    assert "no unfinished session" in resumed.stderr

    session_files = list((tmp_path / "state" / "sessions" / sid).rglob("*"))  # logs stay local
    assert any(f.suffix == ".log" for f in session_files)
    for f in session_files:
        if f.is_file():
            assert TEST_PASSWORD not in f.read_text(errors="replace"), f
    stored = db.sql("SELECT string_agg(data, '') FROM events")[0][0]
    assert isinstance(stored, str) and TEST_PASSWORD not in stored


def test_cli_wrong_password_is_one_masked_line(tmp_path: Path, db: Db) -> None:
    url = db.pg.primary.url(password="Wr0ng-pw-for-test", db=db.name)
    out = runbook_cli(tmp_path, url, "sessions")
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "Wr0ng-pw-for-test" not in out.stderr
    assert "password authentication failed" in out.stderr and ":•••@" in out.stderr


def test_cli_unreachable_server_is_one_line(tmp_path: Path) -> None:
    out = runbook_cli(tmp_path, f"postgresql://u:{TEST_PASSWORD}@127.0.0.1:1/x", "sessions")
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "cannot open journal" in out.stderr


# -- what only the PostgreSQL journal has ------------------------------------------------------


def meta(sid: str) -> SessionMeta:
    return SessionMeta(sid, time.time(), "/rb.yaml", "T", "h", "local", False, "amy", "h1", "",
                       "ctx", {}, f"/s/{sid}")


def test_dropped_connections_are_reopened(tmp_path: Path, db: Db) -> None:
    follower, driver = PgJournal(db.url, tmp_path), PgJournal(db.url, tmp_path)
    try:
        driver.create_session(meta("s1"))
        driver.append("s1", Ev.SESSION_STARTED)
        assert follower.wait("s1", 0, 1)  # listening from now on
        db.sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
               f"WHERE datname = '{db.name}' AND application_name = 'runbook'")
        assert [e.seq for e in follower.events("s1")] == [1]  # a read reconnects
        woke: list[bool] = []
        t = threading.Thread(target=lambda: woke.append(follower.wait("s1", 1, 10)))
        t.start()
        with pytest.raises(JournalError):  # a write on the dropped connection: never retried
            driver.append("s1", Ev.ITEM_FACT)
        began = time.monotonic()
        driver.append("s1", Ev.ITEM_FACT)  # on a new connection
        t.join(timeout=10)
        assert woke == [True] and time.monotonic() - began < 2
        assert [e.seq for e in follower.events("s1")] == [1, 2]
    finally:
        follower.close()
        driver.close()


def test_a_newer_schema_is_refused(tmp_path: Path, db: Db) -> None:
    PgJournal(db.url, tmp_path).close()
    db.sql("UPDATE runbook_schema SET version = 99")
    with pytest.raises(JournalError, match="schema version 99, this runbook knows 1") as e:
        PgJournal(db.url, tmp_path)
    assert TEST_PASSWORD not in str(e.value)


def test_many_processes_may_create_the_tables_at_once(tmp_path: Path, db: Db) -> None:
    code = ("import sys; from runbook.journal.postgres import PgJournal; "
            "PgJournal(sys.stdin.read()).close()")
    procs = [subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    for p in procs:
        _, err = p.communicate(db.url, timeout=60)
        assert p.returncode == 0, err
    assert db.sql("SELECT count(*) FROM runbook_schema") == [(1,)]
    with psycopg.connect(db.url) as conn:
        names = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables "
                                            "WHERE schemaname = 'public'")}
    assert names == {"runbook_schema", "sessions", "events", "wheels"}
