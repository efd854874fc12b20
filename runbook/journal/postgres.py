"""The journal on PostgreSQL, for a team on several hosts: SQLite's schema and behaviour.

Appends to one session are serialised by a transaction-scoped advisory lock on the session
id, so sequence numbers stay gapless and `append_checked` sees every event committed before
it. Each append notifies `runbook_events` with "<session>:<seq>" inside its transaction, so
the notification leaves only on commit; `wait` hears it on a listening connection of its
own. Session folders (logs, the runbook copy) stay on the local disk.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import TupleRow

from runbook.files import paths
from runbook.journal.pg_listen import Listener
from runbook.journal.store import Appended, Check, JournalError, SessionMeta, Wheel, decode_rows, facts_match
from runbook.rules.events import Ev, Event
from runbook.rules.redact import MASK, MIN_SECRET, mask_url_password

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS runbook_schema (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, created DOUBLE PRECISION NOT NULL, runbook_path TEXT NOT NULL,
    runbook_title TEXT NOT NULL, runbook_hash TEXT NOT NULL, env TEXT NOT NULL,
    dry_run INTEGER NOT NULL, operator TEXT NOT NULL, host TEXT NOT NULL, ssh TEXT NOT NULL,
    kube_context TEXT NOT NULL, variables TEXT NOT NULL, dir TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    session_id TEXT NOT NULL REFERENCES sessions(id), seq BIGINT NOT NULL,
    ts DOUBLE PRECISION NOT NULL, kind TEXT NOT NULL, item TEXT, actor TEXT NOT NULL,
    data TEXT NOT NULL, PRIMARY KEY (session_id, seq)
);
CREATE TABLE IF NOT EXISTS wheels (
    session_id TEXT PRIMARY KEY, holder TEXT NOT NULL, token TEXT NOT NULL,
    renewed DOUBLE PRECISION NOT NULL, expires DOUBLE PRECISION NOT NULL
);
"""
SESSION_COLUMNS = [f.name for f in fields(SessionMeta)]
CHANNEL = "runbook_events"  # payload "<session id>:<seq>", sent on commit
SCHEMA_LOCK = 0x72756E626F6F6B  # advisory lock key ("runbook") held while creating tables
CONNECT_TIMEOUT = 10  # seconds
SELECT_EVENTS = ("SELECT seq, ts, kind, item, actor, data FROM events "
                 "WHERE session_id = %s AND seq > %s ORDER BY seq")
_QUERY_PASSWORD = re.compile(r"(?<=[?&]password=)[^&\s]+")
Conn = psycopg.Connection[TupleRow]


def lock_key(session_id: str) -> int:
    """A signed 64-bit advisory lock key for a session's appends."""
    digest = hashlib.blake2b(session_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class PgJournal:
    def __init__(self, url: str, sessions_root: Path | None = None,
                 connect_timeout: float = CONNECT_TIMEOUT) -> None:
        self._url = url
        self._root = sessions_root or paths.state_dir() / "sessions"
        self._password = ""
        try:
            params = conninfo_to_dict(url)
        except psycopg.Error as e:
            raise JournalError(f"{self.describe()}: not a PostgreSQL URL: {self._clean(e)}") from None
        self._password = str(params.get("password") or "")
        self._params: dict[str, Any] = {"connect_timeout": max(2, round(connect_timeout)),
                                        "application_name": "runbook"}
        self._params.update({k: v for k, v in params.items() if k in self._params})  # the URL's win
        self._timeout = int(self._params["connect_timeout"])  # libpq counts whole seconds
        self._listener = Listener(self._connect, CHANNEL, self._timeout + 1)
        self._lock = threading.Lock()
        self._closed = False
        self._conn = self._connect()
        self._prepare()

    # -- connections -------------------------------------------------------------------
    def _clean(self, e: BaseException) -> str:
        """An error as one line, without the password."""
        text = " ".join(str(e).split()) or type(e).__name__
        if len(self._password) >= MIN_SECRET:
            text = text.replace(self._password, MASK)
        return _QUERY_PASSWORD.sub(MASK, mask_url_password(text))

    def _connect(self) -> Conn:
        try:
            return psycopg.connect(self._url, autocommit=True, **self._params)
        except psycopg.Error as e:
            raise JournalError(f"{self.describe()}: cannot open journal: {self._clean(e)}") from None

    def _prepare(self) -> None:
        try:
            with self._db() as db:
                (exists,) = _one(db.execute("SELECT to_regclass('runbook_schema') IS NOT NULL"))
                if not exists:
                    with db.transaction():  # one process creates them; the others wait, then skip
                        db.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
                        db.execute(SCHEMA)
                        db.execute("INSERT INTO runbook_schema SELECT %s WHERE NOT EXISTS "
                                   "(SELECT 1 FROM runbook_schema)", (SCHEMA_VERSION,))
                (version,) = _one(db.execute("SELECT max(version) FROM runbook_schema"))
        except (psycopg.Error, JournalError) as e:
            self.close()
            why = str(e) if isinstance(e, JournalError) else self._clean(e)
            raise JournalError(f"{self.describe()}: cannot set up the journal tables: {why}") from None
        if version != SCHEMA_VERSION:
            self.close()
            raise JournalError(f"{self.describe()}: journal schema version {version}, "
                               f"this runbook knows {SCHEMA_VERSION}")

    @contextmanager
    def _db(self) -> Iterator[Conn]:
        """The shared connection, reconnected if it broke; connection errors as JournalError."""
        with self._lock:
            if self._closed:
                raise JournalError(f"{self.describe()}: journal is closed")
            if self._conn.broken or self._conn.closed:
                self._conn = self._connect()
            try:
                yield self._conn
            except (psycopg.OperationalError, psycopg.InterfaceError) as e:
                raise JournalError(f"{self.describe()}: {self._clean(e)}") from None

    def read(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """Rows of a read-only query (`{mark}` for a parameter), for consistency checks."""
        return list(self._fetch(sql.format(mark="%s"), params or None))

    def _fetch(self, query: str, params: Any = None) -> list[TupleRow]:
        """Rows of a read; once more on a new connection if the old one was found dropped.
        (Writes are never retried: a write cut off at its commit may have been committed.)"""
        try:
            with self._db() as db:
                return db.execute(query, params).fetchall()
        except JournalError:
            if not self._conn.broken:
                raise
        with self._db() as db:
            return db.execute(query, params).fetchall()

    def close(self) -> None:
        self._listener.close(self._notify)
        with self._lock:
            self._closed = True
            self._conn.close()

    def _notify(self, channel: str) -> None:
        with self._db() as db:
            db.execute(f"NOTIFY {channel}")

    @property
    def sessions_root(self) -> Path:
        return self._root

    def describe(self) -> str:
        return _QUERY_PASSWORD.sub(MASK, mask_url_password(self._url))

    def locator(self) -> str:
        return self._url

    # -- sessions ----------------------------------------------------------------------
    def create_session(self, meta: SessionMeta) -> None:
        row = asdict(meta)
        row["variables"] = json.dumps(meta.variables, sort_keys=True)
        row["dry_run"] = int(meta.dry_run)
        cols = ", ".join(row)
        marks = ", ".join(f"%({k})s" for k in row)
        with self._db() as db:
            db.execute(f"INSERT INTO sessions ({cols}) VALUES ({marks})", row)

    def session(self, session_id: str) -> SessionMeta:
        found = self._sessions("WHERE id = %s", session_id)
        if not found:
            raise JournalError(f"no session {session_id!r} in {self.describe()}")
        return found[0]

    def sessions(self) -> list[SessionMeta]:
        return self._sessions("", None)

    def find_session(self, prefix: str) -> SessionMeta:
        matches = self._sessions("WHERE starts_with(id, %s)", prefix)
        if not matches:
            raise JournalError(f"no session matching {prefix!r}")
        if len(matches) > 1:
            raise JournalError(f"{prefix!r} matches {len(matches)} sessions; give more of the id")
        return matches[0]

    def _sessions(self, where: str, arg: str | None) -> list[SessionMeta]:
        rows = self._fetch(f"SELECT {', '.join(SESSION_COLUMNS)} FROM sessions {where} "
                           "ORDER BY created", (arg,) if where else None)
        return [_meta(dict(zip(SESSION_COLUMNS, r, strict=True))) for r in rows]

    def latest_fact(self, env: str, key: str, where: Mapping[str, Any] | None = None) -> Any:
        """The newest value of fact `key` in an item result of any session of `env` (with
        `where`: whose result's facts also hold those values)."""
        rows = self._fetch("SELECT e.data FROM events e JOIN sessions s ON s.id = e.session_id "
                           "WHERE s.env = %s AND e.kind = 'item.result' AND e.data LIKE %s "
                           "ORDER BY e.ts DESC, e.seq DESC", (env, f'%"{key}"%'))
        for (data,) in rows:
            facts = json.loads(data).get("facts") or {}
            if key in facts and facts_match(facts, where):
                return facts[key]
        return None

    # -- events ------------------------------------------------------------------------
    def append(self, session_id: str, kind: Ev, item: str | None = None, actor: str = "",
               data: dict[str, Any] | None = None, ts: float | None = None) -> Event:
        """Commit one event and return it with its sequence number."""
        done = self._append(session_id, None, None, kind, item, actor, data, ts)
        assert done.event is not None
        return done.event

    def append_checked(self, session_id: str, after: int, check: Check, kind: Ev,
                       item: str | None = None, actor: str = "",
                       data: dict[str, Any] | None = None) -> Appended:
        return self._append(session_id, after, check, kind, item, actor, data, None)

    def _append(self, session_id: str, after: int | None, check: Check | None, kind: Ev,
                item: str | None, actor: str, data: dict[str, Any] | None,
                ts: float | None) -> Appended:
        payload = data or {}
        text = json.dumps(payload, sort_keys=True, default=str)
        new: list[Event] = []
        why: str | None = None
        seq = 0
        with self._db() as db, db.transaction() as tx:
            # its own statement: the reads below then see whatever the last holder committed
            db.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(session_id),))
            if after is not None:
                new = list(decode_rows(session_id,
                                       db.execute(SELECT_EVENTS, (session_id, after)).fetchall()))
                why = check(new) if check is not None else None
                if why is not None:
                    raise psycopg.Rollback(tx)
            when = time.time() if ts is None else ts
            seq = _one(db.execute(
                "WITH ins AS (INSERT INTO events (session_id, seq, ts, kind, item, actor, data) "
                "SELECT %(s)s, COALESCE(MAX(seq), 0) + 1, %(ts)s, %(k)s, %(i)s, %(a)s, %(d)s "
                "FROM events WHERE session_id = %(s)s RETURNING seq) "
                "SELECT seq, pg_notify(%(ch)s, %(s)s || ':' || seq) FROM ins",
                {"s": session_id, "ts": when, "k": kind.value, "i": item, "a": actor,
                 "d": text, "ch": CHANNEL}))[0]
        if why is not None:
            return Appended(new, None, why)
        return Appended(new, Event(seq, when, kind, item, actor, payload))

    def events(self, session_id: str, after: int = 0) -> list[Event]:
        return list(self.iter_events(session_id, after))

    def iter_events(self, session_id: str, after: int = 0) -> Iterator[Event]:
        return decode_rows(session_id, self._fetch(SELECT_EVENTS, (session_id, after)))

    def _last_seq(self, session_id: str) -> int:
        ((last,),) = self._fetch("SELECT COALESCE(MAX(seq), 0) FROM events WHERE session_id = %s",
                                 (session_id,))
        return int(last)

    # -- waiting: LISTEN on a connection of its own (journal_pg_listen) --------------
    def wait(self, session_id: str, after: int, timeout: float) -> bool:
        """True as soon as the session has an event after `after`; False after `timeout`."""
        return self._listener.wait(session_id, after, timeout, self._last_seq)

    # -- the wheel: who drives a session -----------------------------------------------
    def wheel(self, session_id: str) -> Wheel | None:
        rows = self._fetch("SELECT holder, token, renewed, expires FROM wheels "
                           "WHERE session_id = %s", (session_id,))
        return Wheel(*rows[0]) if rows else None

    def take_wheel(self, session_id: str, holder: str, token: str, ttl: float,
                   force: bool = False) -> Wheel:
        now = time.time()
        with self._db() as db, db.transaction():
            db.execute(
                "INSERT INTO wheels AS w VALUES (%(s)s, %(h)s, %(t)s, %(now)s, %(exp)s) "
                "ON CONFLICT (session_id) DO UPDATE SET holder = EXCLUDED.holder, "
                "token = EXCLUDED.token, renewed = EXCLUDED.renewed, expires = EXCLUDED.expires "
                "WHERE %(force)s OR w.token = EXCLUDED.token OR w.expires <= %(now)s",
                {"s": session_id, "h": holder, "t": token, "now": now, "exp": now + ttl,
                 "force": force})
            row = _one(db.execute("SELECT holder, token, renewed, expires FROM wheels "
                                  "WHERE session_id = %s", (session_id,)))
        return Wheel(*row)

    def renew_wheel(self, session_id: str, token: str, ttl: float) -> bool:
        now = time.time()
        with self._db() as db:
            cur = db.execute("UPDATE wheels SET renewed = %s, expires = %s "
                             "WHERE session_id = %s AND token = %s",
                             (now, now + ttl, session_id, token))
        return cur.rowcount == 1

    def release_wheel(self, session_id: str, token: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM wheels WHERE session_id = %s AND token = %s",
                       (session_id, token))


def _one(cur: psycopg.Cursor[TupleRow]) -> TupleRow:
    row = cur.fetchone()
    assert row is not None
    return row


def _meta(row: dict[str, Any]) -> SessionMeta:
    row["variables"] = json.loads(row["variables"])
    row["dry_run"] = bool(row["dry_run"])
    return SessionMeta(**row)
