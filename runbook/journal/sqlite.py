"""Append-only event store: SQLite in WAL mode, every append committed durably.

An event is committed (fsync'd) before `append` returns, so whatever the UI
shows has been journaled. Sequence numbers are assigned inside an IMMEDIATE
transaction, so several processes may append to one session safely.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from runbook.journal.store import (
    Appended,
    Check,
    JournalError,
    SessionMeta,
    Wheel,
    decode_rows,
    facts_match,
)
from runbook.rules.events import Ev, Event

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    runbook_path TEXT NOT NULL,
    runbook_title TEXT NOT NULL,
    runbook_hash TEXT NOT NULL,
    env TEXT NOT NULL,
    dry_run INTEGER NOT NULL,
    operator TEXT NOT NULL,
    host TEXT NOT NULL,
    ssh TEXT NOT NULL,
    kube_context TEXT NOT NULL,
    variables TEXT NOT NULL,
    dir TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    session_id TEXT NOT NULL REFERENCES sessions(id),
    seq INTEGER NOT NULL,
    ts REAL NOT NULL,
    kind TEXT NOT NULL,
    item TEXT,
    actor TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (session_id, seq)
);
CREATE TABLE IF NOT EXISTS wheels (
    session_id TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    token TEXT NOT NULL,
    renewed REAL NOT NULL,
    expires REAL NOT NULL
);
"""


POLL_SECONDS = 0.02  # how often `wait` looks for others' commits


class _Shared:
    """One SQLite connection per journal file per process, shared by every `Journal` on it.

    SQLite's locks are POSIX advisory locks, which belong to the process and the file: any
    close() of any descriptor of the file drops all of them. A second connection in the same
    process is handled by SQLite itself (it shares one lock table per inode), but one is
    still a second truth to keep in step, and `data_version` does not move for commits of
    the same connection. So a process opens each journal once; `writes` counts its own
    commits, which `wait` watches beside `data_version` (others' commits).
    """

    def __init__(self, key: str, db: sqlite3.Connection) -> None:
        self.key = key
        self.db = db
        self.lock = threading.Lock()
        self.users = 0
        self.writes = 0


_OPEN: dict[str, _Shared] = {}
_OPEN_LOCK = threading.Lock()
FILE_MODE = 0o666  # less the umask: a team's group may share a journal (SQLite's own is 0644)


def _umask() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def _connect(path: Path) -> sqlite3.Connection:
    """Open (creating through SQLite) and set up one connection; nothing but SQLite ever
    opens, truncates or closes the file or its -wal/-shm."""
    created = not path.exists()
    db = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
    try:
        if created:
            # chmod touches no descriptor (so no lock); the -wal and -shm SQLite makes later
            # take the database file's mode
            with contextlib.suppress(OSError):
                os.chmod(path, FILE_MODE & ~_umask())
        db.execute("PRAGMA busy_timeout=30000")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(SCHEMA)
    except BaseException:
        db.close()
        raise
    return db


class Journal:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._closed = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError:
            pass  # sqlite's own error says it better
        key = os.path.realpath(self.path)
        with _OPEN_LOCK:
            shared = _OPEN.get(key)
            if shared is None:
                try:
                    shared = _Shared(key, _connect(self.path))
                except sqlite3.DatabaseError as e:
                    raise JournalError(f"{self.path}: cannot open journal: {e}") from None
                _OPEN[key] = shared
            shared.users += 1
        self._shared = shared
        self._db = shared.db
        self._lock = shared.lock

    def close(self) -> None:
        """Let go of the shared connection; the last `Journal` on the file closes it."""
        with _OPEN_LOCK:
            if self._closed:
                return
            self._closed = True
            shared = self._shared
            shared.users -= 1
            if shared.users > 0:
                return
            _OPEN.pop(shared.key, None)
        with shared.lock:
            shared.db.close()

    def create_session(self, meta: SessionMeta) -> None:
        row = asdict(meta)
        row["variables"] = json.dumps(meta.variables, sort_keys=True)
        row["dry_run"] = int(meta.dry_run)
        cols = ", ".join(row)
        marks = ", ".join(f":{k}" for k in row)
        with self._lock:
            self._db.execute(f"INSERT INTO sessions ({cols}) VALUES ({marks})", row)

    @property
    def sessions_root(self) -> Path:
        return self.path.parent / "sessions"

    def describe(self) -> str:
        return str(self.path)

    def locator(self) -> str:
        return str(self.path.resolve())

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
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")  # the write lock: nobody appends until we commit
            try:
                new: list[Event] = []
                if after is not None:
                    new = list(decode_rows(session_id, db.execute(
                        "SELECT seq, ts, kind, item, actor, data FROM events "
                        "WHERE session_id = ? AND seq > ? ORDER BY seq", (session_id, after),
                    ).fetchall()))
                    why = check(new) if check is not None else None
                    if why is not None:
                        db.execute("ROLLBACK")
                        return Appended(new, None, why)
                (seq,) = db.execute(
                    "SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE session_id = ?",
                    (session_id,),
                ).fetchone()
                when = time.time() if ts is None else ts
                db.execute(
                    "INSERT INTO events (session_id, seq, ts, kind, item, actor, data) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (session_id, seq, when, kind.value, item, actor, text),
                )
                db.execute("COMMIT")
                self._shared.writes += 1
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        return Appended(new, Event(seq, when, kind, item, actor, payload))

    def wait(self, session_id: str, after: int, timeout: float) -> bool:
        """Poll SQLite's data_version (it moves when another connection commits)."""
        deadline = time.monotonic() + timeout
        seen: tuple[int, int] | None = None
        while True:
            with self._lock:
                (data_version,) = self._db.execute("PRAGMA data_version").fetchone()
                version = (data_version, self._shared.writes)  # others' commits, then ours
                if version != seen:
                    seen = version
                    (last,) = self._db.execute(
                        "SELECT COALESCE(MAX(seq), 0) FROM events WHERE session_id = ?",
                        (session_id,)).fetchone()
                    if last > after:
                        return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(POLL_SECONDS, left))

    def read(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """Rows of a read-only query (`{mark}` for a parameter) on this journal's own
        connection, for consistency checks: never a second connection to the file."""
        with self._lock:
            return list(self._db.execute(sql.format(mark="?"), params).fetchall())

    def events(self, session_id: str, after: int = 0) -> list[Event]:
        return list(self.iter_events(session_id, after))

    def iter_events(self, session_id: str, after: int = 0) -> Iterator[Event]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, ts, kind, item, actor, data FROM events "
                "WHERE session_id = ? AND seq > ? ORDER BY seq", (session_id, after),
            ).fetchall()
        return decode_rows(session_id, rows)

    def session(self, session_id: str) -> SessionMeta:
        with self._lock:
            cur = self._db.execute("SELECT * FROM sessions WHERE id = ?", (session_id,))
            row = cur.fetchone()
            names = [d[0] for d in cur.description]
        if row is None:
            raise JournalError(f"no session {session_id!r} in {self.path}")
        return _meta(dict(zip(names, row, strict=True)))

    def sessions(self) -> list[SessionMeta]:
        with self._lock:
            cur = self._db.execute("SELECT * FROM sessions ORDER BY created")
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
        return [_meta(dict(zip(names, r, strict=True))) for r in rows]

    def latest_fact(self, env: str, key: str, where: Mapping[str, Any] | None = None) -> Any:
        """The newest value of fact `key` in an item result of any session of `env` (with
        `where`: whose result's facts also hold those values)."""
        needle = f'%"{key}"%'
        with self._lock:
            rows = self._db.execute(
                "SELECT e.data FROM events e JOIN sessions s ON s.id = e.session_id "
                "WHERE s.env = ? AND e.kind = 'item.result' AND e.data LIKE ? "
                "ORDER BY e.ts DESC, e.seq DESC", (env, needle),
            ).fetchall()
        for (data,) in rows:
            facts = json.loads(data).get("facts") or {}
            if key in facts and facts_match(facts, where):
                return facts[key]
        return None

    # -- the wheel: who drives a session --------------------------------------------
    def wheel(self, session_id: str) -> Wheel | None:
        with self._lock:
            row = self._db.execute("SELECT holder, token, renewed, expires FROM wheels "
                                   "WHERE session_id = ?", (session_id,)).fetchone()
        return Wheel(*row) if row else None

    def take_wheel(self, session_id: str, holder: str, token: str, ttl: float,
                   force: bool = False) -> Wheel:
        now = time.time()
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT holder, token, renewed, expires FROM wheels "
                                 "WHERE session_id = ?", (session_id,)).fetchone()
                cur = Wheel(*row) if row else None
                if cur is None or force or cur.token == token or not cur.live(now):
                    cur = Wheel(holder, token, now, now + ttl)
                    db.execute("INSERT OR REPLACE INTO wheels VALUES (?, ?, ?, ?, ?)",
                               (session_id, holder, token, now, now + ttl))
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        return cur

    def renew_wheel(self, session_id: str, token: str, ttl: float) -> bool:
        now = time.time()
        with self._lock:
            cur = self._db.execute("UPDATE wheels SET renewed = ?, expires = ? "
                                   "WHERE session_id = ? AND token = ?",
                                   (now, now + ttl, session_id, token))
        return cur.rowcount == 1

    def release_wheel(self, session_id: str, token: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM wheels WHERE session_id = ? AND token = ?",
                             (session_id, token))

    def find_session(self, prefix: str) -> SessionMeta:
        matches = [s for s in self.sessions() if s.id.startswith(prefix)]
        if not matches:
            raise JournalError(f"no session matching {prefix!r}")
        if len(matches) > 1:
            raise JournalError(f"{prefix!r} matches {len(matches)} sessions; give more of the id")
        return matches[0]


def _meta(row: dict[str, Any]) -> SessionMeta:
    row["variables"] = json.loads(row["variables"])
    row["dry_run"] = bool(row["dry_run"])
    return SessionMeta(**row)
