"""The pg.* and redis.health kinds against real servers (fixtures in conftest.py).

Every item runs through `Run.execute` on a journal in tmp_path, so the executor, the item log
and the journal are exercised, and after every run the test checks that no password appears
in any output line, the message, the facts, the journal events or any file under tmp_path.
Time bounds are generous: they catch a hang, not a slow machine.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from runbook.execute.stepkind import CancelToken, Outcome, StepResult
from runbook.format.loader import load_text
from runbook.journal.sqlite import Journal
from runbook.rules.events import Ev, Event
from runbook.sandbox.servers import (
    REDIS_PASSWORD,
    REPL_PASSWORD,
    TEST_PASSWORD,
    RedisServer,
    wait_streaming,
)
from runbook.session.operator import current
from runbook.session.run import Run
from steps import default_registry
from tests.integration.conftest import PgPair

pytestmark = pytest.mark.timeout(120)

WRONG_PASSWORD = "Wr0ng-guess-pw-73z"
SECRETS = (TEST_PASSWORD, REDIS_PASSWORD, REPL_PASSWORD, WRONG_PASSWORD)
PW_ENV = "RB_TEST_PGPASSWORD"
REDIS_PW_ENV = "RB_TEST_REDISPASSWORD"


# -- helpers ---------------------------------------------------------------------------

@dataclass
class Ran:
    result: StepResult
    events: list[Event]
    seconds: float
    root: Path
    batches: list[list[str]] = field(default_factory=list)

    @property
    def lines(self) -> list[str]:
        return [line for batch in self.batches for line in batch]

    @property
    def message(self) -> str:
        return self.result.message

    @property
    def facts(self) -> dict[str, Any]:
        return dict(self.result_event.data["facts"])

    @property
    def result_event(self) -> Event:
        return next(e for e in self.events if e.kind is Ev.ITEM_RESULT)


def runbook_text(uses: str, params: dict[str, Any], kind: str, timeout: str | None) -> str:
    item: dict[str, Any] = {"id": "x", "kind": kind, "title": "X", "uses": uses, "with": params}
    if timeout is not None:
        item["timeout"] = timeout
    return ("runbook: 1\ntitle: PG and Redis test\nenvironments:\n  local: {namespace: default}\n"
            "phases:\n  - id: p\n    title: P\n    sections:\n      - id: s\n        title: S\n"
            f"        items:\n          - {json.dumps(item)}\n")


def run_item(tmp_path: Path, uses: str, params: dict[str, Any], kind: str = "check",
             timeout: str | None = None, cancel: CancelToken | None = None) -> Ran:
    """Run one item in a fresh journal under tmp_path/<n>; then check nothing leaked."""
    root = tmp_path / f"run{len(list(tmp_path.glob('run*')))}"
    root.mkdir()
    reg = default_registry()
    rb = load_text(runbook_text(uses, params, kind, timeout), str(root / "t.yaml"), reg)
    journal = Journal(root / "journal.db")
    batches: list[list[str]] = []
    try:
        run = Run.start(journal, rb, "local", {}, reg, current(), dry_run=False)
        started = time.monotonic()
        result = run.execute("x", cancel or CancelToken(),
                             listener=lambda item, lines: batches.append(list(lines)))
        seconds = time.monotonic() - started
        events = journal.events(run.meta.id)
    finally:
        journal.close()
    ran = Ran(result, events, seconds, root, batches)
    assert_no_leak(ran)
    return ran


def assert_no_leak(ran: Ran) -> None:
    shown = json.dumps([ran.lines, ran.message, [e.data for e in ran.events]], default=str)
    files = [p for p in ran.root.rglob("*") if p.is_file() and p.name != "t.yaml"]
    assert any(p.name == "journal.db" for p in files)
    for secret in SECRETS:
        assert secret not in shown, f"{secret!r} shown"
        for p in files:
            assert secret.encode() not in p.read_bytes(), f"{secret!r} written to {p}"


@pytest.fixture
def pg_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PW_ENV, TEST_PASSWORD)
    monkeypatch.delenv("PGPASSWORD", raising=False)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections (kernel backlog) but never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s.getsockname()[1]



# -- pg.connect ----------------------------------------------------------------------------

def test_connect_reports_version(tmp_path: Path, pg_pair: PgPair, pg_env: None) -> None:
    ran = run_item(tmp_path, "pg.connect", {"url": pg_pair.primary.url(), "password_env": PW_ENV})
    assert ran.result.outcome is Outcome.PASSED, ran.message
    assert "PostgreSQL 15" in ran.message and "SELECT 1 ok" in ran.message
    assert ran.facts["server_version"].startswith("15")
    assert any("primary (read-write)" in line for line in ran.lines)


def test_connect_with_password_in_url_never_shows_it(tmp_path: Path, pg_pair: PgPair) -> None:
    url = pg_pair.primary.url(password=TEST_PASSWORD)
    ran = run_item(tmp_path, "pg.connect", {"url": url})
    assert ran.result.outcome is Outcome.PASSED, ran.message
    command = next(e for e in ran.events if e.kind is Ev.ITEM_STARTED).data["command"]
    assert f"runbook_test@127.0.0.1:{pg_pair.primary.port}/appdb" in command


def test_connect_wrong_password(tmp_path: Path, pg_pair: PgPair) -> None:
    ran = run_item(tmp_path, "pg.connect", {"url": pg_pair.primary.url(password=WRONG_PASSWORD)})
    assert ran.result.outcome is Outcome.FAILED
    assert "authentication failed" in ran.message and "runbook_test" in ran.message
    assert ran.seconds < 5


def test_connect_to_silent_server_times_out(tmp_path: Path, silent_port: int) -> None:
    url = f"postgresql://someone@127.0.0.1:{silent_port}/db"
    ran = run_item(tmp_path, "pg.connect", {"url": url, "connect_timeout": "2s"})
    assert ran.result.outcome is Outcome.FAILED
    assert "timeout" in ran.message, ran.message
    assert ran.seconds < 8


def test_missing_password_env(tmp_path: Path, pg_pair: PgPair,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RB_NOT_SET", raising=False)
    ran = run_item(tmp_path, "pg.connect", {"url": pg_pair.primary.url(),
                                            "password_env": "RB_NOT_SET"})
    assert ran.result.outcome is Outcome.FAILED
    assert "RB_NOT_SET is not set" in ran.message


# -- pg.pool -------------------------------------------------------------------------------

def test_pool_fits(tmp_path: Path, pg_pair: PgPair, pg_env: None) -> None:
    ran = run_item(tmp_path, "pg.pool", {"url": pg_pair.primary.url(), "password_env": PW_ENV,
                                         "pool_size": 10, "instances": 4})
    assert ran.result.outcome is Outcome.PASSED, ran.message
    assert "40 connections" in ran.message and "47 available" in ran.message
    assert ran.facts["available"] == 47 and ran.facts["max_connections"] == 50


def test_pool_over_max_connections(tmp_path: Path, pg_pair: PgPair, pg_env: None) -> None:
    ran = run_item(tmp_path, "pg.pool", {"url": pg_pair.primary.url(), "password_env": PW_ENV,
                                         "pool_size": 10, "instances": 4, "surge": 1})
    assert ran.result.outcome is Outcome.FAILED
    assert "need 50 connections" in ran.message and "only 47 are available" in ran.message
    assert "max_connections 50 - 3 superuser_reserved_connections" in ran.message


# -- pg.replication ------------------------------------------------------------------------

def repl_params(pg: PgPair, **extra: Any) -> dict[str, Any]:
    return {"primary_url": pg.primary.url(), "replica_url": pg.replica.url(),
            "password_env": PW_ENV, **extra}


def test_replication_ok(tmp_path: Path, pg_pair: PgPair, pg_env: None) -> None:
    ran = run_item(tmp_path, "pg.replication", repl_params(pg_pair, max_lag="30s"))
    assert ran.result.outcome is Outcome.PASSED, ran.message
    assert "replica streaming, 0 B behind, replay delay 0.0 s" in ran.message
    assert ran.facts["lag_seconds"] == 0 and ran.facts["replicas_on_primary"] == 1
    assert any("streaming" in line and "from 127.0.0.1" in line for line in ran.lines)


@pytest.fixture
def paused_replay(pg_pair: PgPair) -> Iterator[None]:
    pg_pair.replica.sql("SELECT pg_wal_replay_pause()")
    try:
        yield
    finally:
        pg_pair.replica.sql("SELECT pg_wal_replay_resume()")
        end = time.monotonic() + 15
        while pg_pair.replica.sql("SELECT pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()") \
                != [(True,)] and time.monotonic() < end:
            time.sleep(0.05)


def test_replication_lag_in_bytes(tmp_path: Path, pg_pair: PgPair, pg_env: None,
                                  paused_replay: None) -> None:
    pg_pair.primary.sql("INSERT INTO filler (payload) SELECT repeat('x', 1000) "
                        "FROM generate_series(1, 2000)", db="appdb")
    time.sleep(0.5)  # let the replica receive it
    ran = run_item(tmp_path, "pg.replication", repl_params(pg_pair, max_lag_bytes=65536))
    assert ran.result.outcome is Outcome.FAILED
    assert "replica lags" in ran.message and "over max_lag_bytes 65536" in ran.message
    assert "replay is paused" in ran.message
    assert ran.facts["lag_bytes"] > 65536 and ran.facts["replay_paused"] is True


def test_replication_lag_in_seconds(tmp_path: Path, pg_pair: PgPair, pg_env: None,
                                   paused_replay: None) -> None:
    pg_pair.primary.sql("INSERT INTO filler (payload) VALUES ('late')", db="appdb")
    time.sleep(1.5)
    ran = run_item(tmp_path, "pg.replication", repl_params(pg_pair, max_lag="1s"))
    assert ran.result.outcome is Outcome.FAILED
    assert "s behind the primary, over max_lag 1s" in ran.message, ran.message
    assert ran.facts["lag_seconds"] > 1


def test_replica_url_pointing_at_primary(tmp_path: Path, pg_pair: PgPair, pg_env: None) -> None:
    params = repl_params(pg_pair)
    params["replica_url"] = params["primary_url"]
    ran = run_item(tmp_path, "pg.replication", params)
    assert ran.result.outcome is Outcome.FAILED
    assert "is not in recovery" in ran.message


def test_replica_not_streaming(tmp_path: Path, pg_pair: PgPair, pg_env: None) -> None:
    rep = pg_pair.replica
    original = str(rep.sql("SHOW primary_conninfo")[0][0])
    rep.sql("ALTER SYSTEM SET primary_conninfo = ''")
    rep.sql("SELECT pg_reload_conf()")
    try:
        end = time.monotonic() + 10
        while rep.sql("SELECT count(*) FROM pg_stat_wal_receiver") != [(0,)]:
            assert time.monotonic() < end, "WAL receiver did not stop"
            time.sleep(0.05)
        ran = run_item(tmp_path, "pg.replication", repl_params(pg_pair))
        assert ran.result.outcome is Outcome.FAILED
        assert ran.message.startswith("replica not streaming"), ran.message
    finally:
        rep.sql("ALTER SYSTEM SET primary_conninfo = '" + original.replace("'", "''") + "'")
        rep.sql("SELECT pg_reload_conf()")
        wait_streaming(rep)


def test_stopped_primary_fails_fast(tmp_path: Path, pg_pair: PgPair, pg_env: None) -> None:
    pg_pair.primary.stop()
    try:
        ran = run_item(tmp_path, "pg.replication", repl_params(pg_pair))
        assert ran.result.outcome is Outcome.FAILED
        assert ran.message.startswith("primary down:"), ran.message
        assert "connection refused" in ran.message and ran.seconds < 3
        ran = run_item(tmp_path, "pg.connect", {"url": pg_pair.primary.url(),
                                                "password_env": PW_ENV})
        assert ran.result.outcome is Outcome.FAILED and ran.seconds < 3
        assert "cannot connect: connection refused (is the server down?)" in ran.message
    finally:
        pg_pair.primary.start()
        wait_streaming(pg_pair.replica)


def test_stopped_replica_fails_fast(tmp_path: Path, pg_pair: PgPair, pg_env: None) -> None:
    pg_pair.replica.stop()
    try:
        ran = run_item(tmp_path, "pg.replication", repl_params(pg_pair))
        assert ran.result.outcome is Outcome.FAILED and ran.seconds < 3
        assert ran.message.startswith("replica down:") and "connection refused" in ran.message
        assert any("0 streaming client(s)" in line for line in ran.lines)
    finally:
        pg_pair.replica.start()
        wait_streaming(pg_pair.replica)


# -- pg.connections ------------------------------------------------------------------------

def test_connections_stable(tmp_path: Path, pg_pair: PgPair, pg_env: None) -> None:
    ran = run_item(tmp_path, "pg.connections", {"url": pg_pair.primary.url(),
                   "password_env": PW_ENV, "watch": "2s", "interval": 0.4})
    assert ran.result.outcome is Outcome.PASSED, ran.message
    assert ran.facts["samples"] >= 5 and ran.facts["min"] == ran.facts["max"]
    assert 1.8 < ran.seconds < 5
    assert sum("client connections:" in line for line in ran.lines) == ran.facts["samples"]


def test_connections_unstable(tmp_path: Path, pg_pair: PgPair, pg_env: None) -> None:
    extra: list[psycopg.Connection[Any]] = []

    def open_more() -> None:
        time.sleep(0.6)
        for _ in range(5):
            extra.append(psycopg.connect(pg_pair.primary.admin_conninfo(), autocommit=True))

    opener = threading.Thread(target=open_more)
    opener.start()
    try:
        ran = run_item(tmp_path, "pg.connections", {"url": pg_pair.primary.url(),
                       "password_env": PW_ENV, "watch": "1.5s", "interval": 0.3,
                       "tolerance": 0.2})
    finally:
        opener.join()
        for c in extra:
            c.close()
    assert ran.result.outcome is Outcome.FAILED
    assert "connections varied by 5" in ran.message, ran.message


def test_connections_cancel(tmp_path: Path, pg_pair: PgPair, pg_env: None) -> None:
    cancel = CancelToken()
    threading.Timer(0.5, cancel.cancel, ("operator",)).start()
    ran = run_item(tmp_path, "pg.connections", {"url": pg_pair.primary.url(),
                   "password_env": PW_ENV, "watch": "1m"}, cancel=cancel)
    assert ran.result.outcome is Outcome.CANCELLED and ran.seconds < 3


# -- pg.backup and pg.restore --------------------------------------------------------------

def test_backup_then_restore_into_scratch(tmp_path: Path, pg_pair: PgPair, pg_env: None) -> None:
    ran = run_item(tmp_path, "pg.backup", {"url": pg_pair.primary.url(), "password_env": PW_ENV,
                                           "file": "pre.dump"}, kind="action")
    assert ran.result.outcome is Outcome.PASSED, ran.message
    facts = ran.facts
    dump = Path(facts["file"])
    assert dump.name == "pre.dump" and dump.parent.parent.name == "sessions"
    assert facts["bytes"] == dump.stat().st_size > 0
    import hashlib
    assert facts["sha256"] == hashlib.sha256(dump.read_bytes()).hexdigest()
    assert facts["database"] == "appdb"
    assert any("dumping contents of table" in line for line in ran.lines)
    assert not list(dump.parent.glob("*.partial"))

    scratch = pg_pair.primary.url(db="scratch")
    for _ in range(2):  # --clean --if-exists: a second restore replaces the first
        restored = run_item(tmp_path, "pg.restore", {"url": scratch, "password_env": PW_ENV,
                                                     "file": str(dump)}, kind="action")
        assert restored.result.outcome is Outcome.PASSED, restored.message
        assert restored.facts["sha256"] == facts["sha256"]
        assert pg_pair.primary.sql("SELECT count(*) FROM creators", db="scratch") == [(500,)]


def test_restore_refuses_a_missing_or_foreign_file(tmp_path: Path, pg_pair: PgPair,
                                                   pg_env: None) -> None:
    params = {"url": pg_pair.primary.url(db="scratch"), "password_env": PW_ENV}
    ran = run_item(tmp_path, "pg.restore", {**params, "file": str(tmp_path / "nope.dump")},
                   kind="action")
    assert ran.result.outcome is Outcome.FAILED and "backup file not found" in ran.message
    (tmp_path / "plain.sql").write_text("SELECT 1;\n")
    ran = run_item(tmp_path, "pg.restore", {**params, "file": str(tmp_path / "plain.sql")},
                   kind="action")
    assert ran.result.outcome is Outcome.FAILED and "not a pg_dump -Fc archive" in ran.message


def pg_dump_cmdlines(port: int) -> list[str]:
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        text = " ".join(a.decode(errors="replace") for a in argv)
        if "pg_dump" in text and f"port={port}" in text:
            out.append(text)
    return out


def test_backup_cancel_while_blocked(tmp_path: Path, pg_pair: PgPair, pg_env: None) -> None:
    """pg_dump waits on a lock; its argv holds no password; cancel ends it, leaving no file."""
    port = pg_pair.primary.port
    locker = psycopg.connect(pg_pair.primary.admin_conninfo("appdb"))
    locker.execute("LOCK TABLE creators IN ACCESS EXCLUSIVE MODE")
    cancel = CancelToken()
    seen: list[str] = []

    def watch() -> None:
        end = time.monotonic() + 10
        while not seen and time.monotonic() < end:
            seen.extend(pg_dump_cmdlines(port))
            time.sleep(0.05)
        time.sleep(0.3)
        cancel.cancel("operator")

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        ran = run_item(tmp_path, "pg.backup", {"url": pg_pair.primary.url(password=TEST_PASSWORD),
                                               "file": "blocked.dump", "grace": "2s"},
                       kind="action", cancel=cancel)
    finally:
        watcher.join()
        locker.close()
    assert seen and not any(TEST_PASSWORD in s for s in seen)
    assert ran.result.outcome is Outcome.CANCELLED, ran.message
    assert "partial dump removed" in ran.message and ran.seconds < 10
    assert not list(ran.root.rglob("blocked.dump*"))
    deadline = time.monotonic() + 3
    while pg_dump_cmdlines(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pg_dump_cmdlines(port)


# -- redis.health ----------------------------------------------------------------------------

def test_redis_up(tmp_path: Path, redis_server: RedisServer) -> None:
    ran = run_item(tmp_path, "redis.health", {"url": redis_server.url})
    assert ran.result.outcome is Outcome.PASSED, ran.message
    assert "unlimited memory" in ran.message and "master" in ran.message
    assert any("maxmemory 0 (unlimited)" in line for line in ran.lines)
    assert any("cluster mode not enabled" in line for line in ran.lines)
    assert ran.seconds < 3


def test_redis_with_password(tmp_path: Path, redis_auth_server: RedisServer,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REDIS_PW_ENV, REDIS_PASSWORD)
    ran = run_item(tmp_path, "redis.health", {"url": redis_auth_server.url,
                                              "password_env": REDIS_PW_ENV})
    assert ran.result.outcome is Outcome.PASSED, ran.message
    assert ran.facts["maxmemory"] == 64 * 2**20 and 0 < ran.facts["memory_ratio"] < 0.9
    in_url = redis_auth_server.url.replace("redis://", f"redis://:{REDIS_PASSWORD}@")
    ran = run_item(tmp_path, "redis.health", {"url": in_url, "max_memory_ratio": 0.0001})
    assert ran.result.outcome is Outcome.FAILED
    assert "of maxmemory" in ran.message and "over max_memory_ratio 0.0001" in ran.message


def test_redis_wrong_or_missing_password(tmp_path: Path, redis_auth_server: RedisServer) -> None:
    wrong = redis_auth_server.url.replace("redis://", f"redis://:{WRONG_PASSWORD}@")
    ran = run_item(tmp_path, "redis.health", {"url": wrong})
    assert ran.result.outcome is Outcome.FAILED and ran.seconds < 3
    assert "authentication failed (wrong password?)" in ran.message, ran.message
    ran = run_item(tmp_path, "redis.health", {"url": redis_auth_server.url})
    assert ran.result.outcome is Outcome.FAILED and ran.seconds < 3
    assert "needs a password" in ran.message, ran.message


def test_redis_down(tmp_path: Path, redis_factory: Any) -> None:
    server: RedisServer = redis_factory([])
    server.stop()
    ran = run_item(tmp_path, "redis.health", {"url": server.url})
    assert ran.result.outcome is Outcome.FAILED and ran.seconds < 3
    assert "is down or unreachable" in ran.message and "refused" in ran.message, ran.message


def test_redis_silent_server_times_out(tmp_path: Path, silent_port: int) -> None:
    ran = run_item(tmp_path, "redis.health", {"url": f"redis://127.0.0.1:{silent_port}/0",
                                              "timeout": "1s"})
    assert ran.result.outcome is Outcome.FAILED and ran.seconds < 4
    assert "no answer within 1s (timeout)" in ran.message, ran.message


def test_redis_cluster_state(tmp_path: Path, redis_factory: Any) -> None:
    server: RedisServer = redis_factory(["--cluster-enabled", "yes",
                                         "--cluster-config-file", "nodes.conf"])
    ran = run_item(tmp_path, "redis.health", {"url": server.url})
    assert ran.result.outcome is Outcome.FAILED
    assert "cluster_state is fail, not ok" in ran.message, ran.message
    import redis
    r = redis.Redis(port=server.port, socket_timeout=5, decode_responses=True)
    r.execute_command("CLUSTER ADDSLOTSRANGE", 0, 16383)
    end = time.monotonic() + 10
    while r.cluster("info").get("cluster_state") != "ok" and time.monotonic() < end:
        time.sleep(0.05)
    r.close()
    ran = run_item(tmp_path, "redis.health", {"url": server.url})
    assert ran.result.outcome is Outcome.PASSED, ran.message
    assert ran.facts["cluster_state"] == "ok"
