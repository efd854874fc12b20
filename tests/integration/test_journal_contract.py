"""The journal contract, on both backends: a SQLite file and a real PostgreSQL database.

Every test runs on each backend (a fresh database per test on the `pg_pair` primary) and
checks what a `Run` relies on: sessions, gapless ordered appends, conditional appends that
see others' events, two writers at once (threads, and processes), `wait`, and the wheel.
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from runbook.journal.backends import open_journal
from runbook.journal.store import JournalError, JournalStore, SessionMeta
from runbook.rules.events import Ev, Event
from runbook.sandbox.servers import TEST_PASSWORD, TEST_USER

if TYPE_CHECKING:
    from tests.integration.conftest import PgPair

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[2]
WRITES = 200  # events per writer in the concurrency tests
PAUSE = 0.002  # seconds between one writer's appends
LOCATOR_ENV = "RUNBOOK_TEST_JOURNAL"
WRITER = """\
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
from runbook.journal.backends import open_journal
from tests.integration.test_journal_contract import write_many
journal = open_journal(os.environ["RUNBOOK_TEST_JOURNAL"])
start_at = float(sys.argv[4])
time.sleep(max(0.0, start_at - time.time()))
print(json.dumps(write_many(journal, sys.argv[2], sys.argv[3], int(sys.argv[5]))))
journal.close()
"""


def pg_database(pg: PgPair) -> Iterator[str]:
    """A fresh database owned by the test user; its password-bearing URL."""
    name = f"journal_{uuid.uuid4().hex[:12]}"
    pg.primary.sql(f"CREATE DATABASE {name} OWNER {TEST_USER}")
    try:
        yield pg.primary.url(password=TEST_PASSWORD, db=name)
    finally:
        pg.primary.sql(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgresql"])
def locator(request: pytest.FixtureRequest, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("RUNBOOK_STATE_DIR", str(tmp_path / "state"))
    if request.param == "sqlite":
        yield str(tmp_path / "journal.db")
    else:
        yield from pg_database(request.getfixturevalue("pg_pair"))


@pytest.fixture
def opened(locator: str) -> Iterator[Callable[[], JournalStore]]:
    """`opened()` -> one more journal instance on the same store, closed after the test."""
    made: list[JournalStore] = []

    def make() -> JournalStore:
        made.append(open_journal(locator))
        return made[-1]

    yield make
    for j in made:
        j.close()


def meta(sid: str, created: float, env: str = "staging") -> SessionMeta:
    return SessionMeta(id=sid, created=created, runbook_path="/rb/deploy.yaml",
                       runbook_title="Deploy", runbook_hash="abc123", env=env, dry_run=False,
                       operator="amy", host="jump1", ssh="10.0.0.1 5000 10.0.0.2 22",
                       kube_context="prod", variables={"TAG": "v1.2", "TOKEN": "•••"},
                       dir=f"/state/sessions/{sid}")


def new_session(j: JournalStore, env: str = "staging") -> str:
    sid = f"s-{uuid.uuid4().hex[:8]}"
    j.create_session(meta(sid, time.time(), env))
    return sid


# -- sessions and events -------------------------------------------------------------------


def test_sessions_are_found_by_id_and_prefix(opened: Callable[[], JournalStore]) -> None:
    j = opened()
    first, second = meta("20250101-a1", 1000.0), meta("20250101-b2", 2000.0, env="prod")
    j.create_session(second)
    j.create_session(first)
    other = opened()  # another instance sees them
    assert other.session("20250101-b2") == second
    assert other.sessions() == [first, second]  # by creation time
    assert other.find_session("20250101-a") == first
    with pytest.raises(JournalError, match="matches 2 sessions"):
        other.find_session("2025")
    with pytest.raises(JournalError, match="no session matching"):
        other.find_session("zzz")
    with pytest.raises(JournalError, match="no session 'nope'"):
        other.session("nope")


EVENTS: list[tuple[Ev, str | None, str, dict[str, Any]]] = [
    (Ev.SESSION_STARTED, None, "amy", {"dry_run": False, "variables": {"TAG": "v1"}}),
    (Ev.ITEM_STARTED, "pre.check", "amy", {}),
    (Ev.ITEM_RESULT, "pre.check", "amy", {"status": "passed", "facts": {"rev": 7},
                                          "text": "naïve ✓ \"quoted\" \\ back", "n": 1.5}),
    (Ev.ITEM_FACT, "deploy[api]", "bob", {"path": Path("/tmp/x"), "nested": [1, {"b": None}]}),
]


def write_fixed(j: JournalStore, sid: str) -> list[Event]:
    return [j.append(sid, kind, item, actor, data, ts=1700000000.25 + n)
            for n, (kind, item, actor, data) in enumerate(EVENTS)]


def test_appends_are_gapless_and_read_back_identical(opened: Callable[[], JournalStore]) -> None:
    j = opened()
    sid = new_session(j)
    written = write_fixed(j, sid)
    assert [e.seq for e in written] == [1, 2, 3, 4]
    back = opened().events(sid)
    assert [e.seq for e in back] == [1, 2, 3, 4]
    assert back[:3] == written[:3]
    assert back[3].data == {"path": "/tmp/x", "nested": [1, {"b": None}]}  # default=str
    assert opened().events(sid, after=2) == back[2:]
    assert list(j.iter_events(sid, 3)) == back[3:]


def test_both_backends_store_the_same_text(tmp_path: Path, pg_pair: PgPair) -> None:
    sqlite_file = tmp_path / "journal.db"
    for url in pg_database(pg_pair):
        stores = [open_journal(str(sqlite_file)), open_journal(url)]
        try:
            for j in stores:
                j.create_session(meta("same", 1.0))
                write_fixed(j, "same")
            assert stores[0].events("same") == stores[1].events("same")
            assert stores[0].sessions() == stores[1].sessions()
        finally:
            for j in stores:
                j.close()
        query = "SELECT seq, ts, kind, item, actor, data FROM events ORDER BY seq"
        with closing(sqlite3.connect(sqlite_file)) as db:
            lite = db.execute(query).fetchall()
        with psycopg.connect(url) as conn:
            pg = conn.execute(query).fetchall()
        assert lite == pg


def test_append_checked_refusal_writes_nothing(opened: Callable[[], JournalStore]) -> None:
    a, b = opened(), opened()
    sid = new_session(a)
    for n in range(3):
        a.append(sid, Ev.ITEM_FACT, "x", "amy", {"n": n})
    seen: list[list[int]] = []

    def stale(new: list[Event]) -> str | None:
        seen.append([e.seq for e in new])
        return "others wrote since" if new else None

    done = b.append_checked(sid, 1, stale, Ev.ITEM_RESULT, "x", "bob", {"status": "passed"})
    assert done.event is None and done.refused == "others wrote since"
    assert [e.seq for e in done.new] == [2, 3] and done.new == a.events(sid, 1)
    assert seen == [[2, 3]]
    assert len(a.events(sid)) == 3
    done = b.append_checked(sid, 3, stale, Ev.ITEM_RESULT, "x", "bob", {"status": "passed"})
    assert done.new == [] and done.refused is None and done.event is not None
    assert done.event.seq == 4 and a.events(sid, 3) == [done.event]


def test_latest_fact_is_the_newest_of_the_environment(opened: Callable[[], JournalStore]) -> None:
    j = opened()
    old, new, other = new_session(j), new_session(j), new_session(j, env="prod")
    j.append(old, Ev.ITEM_RESULT, "i", data={"facts": {"revision": 3}}, ts=100.0)
    j.append(new, Ev.ITEM_RESULT, "i", data={"facts": {"revision": 4}}, ts=200.0)
    j.append(other, Ev.ITEM_RESULT, "i", data={"facts": {"revision": 9}}, ts=300.0)
    j.append(new, Ev.ITEM_FACT, "i", data={"facts": {"revision": 8}}, ts=400.0)  # not a result
    assert opened().latest_fact("staging", "revision") == 4
    assert j.latest_fact("staging", "missing") is None


def test_latest_fact_where_other_facts_match(opened: Callable[[], JournalStore]) -> None:
    """Facts recorded beside others (the cluster and namespace of a snapshot): `where`."""
    j = opened()
    sid = new_session(j)
    j.append(sid, Ev.ITEM_RESULT, "i", data={"facts": {"versions": {"a": 1}, "cluster": "uid:A",
                                                       "namespace": "shop"}}, ts=100.0)
    j.append(sid, Ev.ITEM_RESULT, "i", data={"facts": {"versions": {"a": 2}, "cluster": "uid:B",
                                                       "namespace": "shop"}}, ts=200.0)
    assert j.latest_fact("staging", "versions") == {"a": 2}
    assert j.latest_fact("staging", "versions", {"cluster": "uid:A"}) == {"a": 1}
    assert j.latest_fact("staging", "versions", {"cluster": "uid:A",
                                                 "namespace": "shop"}) == {"a": 1}
    assert j.latest_fact("staging", "versions", {"cluster": "uid:C"}) is None
    assert opened().latest_fact("staging", "versions", {"namespace": "other"}) is None


# -- two writers at once ----------------------------------------------------------------


def write_many(journal: JournalStore, sid: str, name: str, count: int) -> dict[str, Any]:
    """Append `count` events with append_checked, as a Run does; every third write is
    refused when others wrote since this writer last looked. Returns what it learned, in
    the order it learned it: [seq, writer, n] for others' events and its own."""
    learned: list[list[Any]] = []
    last, n, refusals = 0, 0, 0
    while n < count:
        def check(new: list[Event], n: int = n) -> str | None:
            return "others wrote since" if new and n % 3 == 0 else None

        done = journal.append_checked(sid, last, check, Ev.ITEM_FACT, f"item-{n}", name,
                                      {"n": n, "writer": name})
        learned += [[e.seq, e.actor, e.data["n"]] for e in done.new]
        last += len(done.new)
        if done.event is None:
            refusals += 1
            continue
        learned.append([done.event.seq, name, n])
        last, n = done.event.seq, n + 1
        time.sleep(PAUSE)  # a run does not append in a tight loop; SQLite's writer lock is unfair
    return {"learned": learned, "refusals": refusals}


def check_order(journal: JournalStore, sid: str, results: dict[str, dict[str, Any]]) -> None:
    final = [[e.seq, e.actor, e.data["n"]] for e in journal.events(sid)]
    assert [row[0] for row in final] == list(range(1, 2 * WRITES + 1))  # no gap, no duplicate
    for name, result in results.items():
        assert [row[2] for row in final if row[1] == name] == list(range(WRITES))
        learned = result["learned"]
        assert learned == final[:len(learned)]  # what each writer saw matches the final order
        assert learned[-1][1] == name  # it learned everything up to its own last write
    interleaved = sum(1 for a, b in itertools.pairwise(final) if a[1] != b[1])
    refusals = {name: r["refusals"] for name, r in results.items()}
    print(f"\n{WRITES}x2 events: writers alternated {interleaved} times, refusals {refusals}")
    assert interleaved >= 10  # they did write at the same time


def test_two_writers_in_threads_keep_one_order(opened: Callable[[], JournalStore]) -> None:
    a, b = opened(), opened()
    sid = new_session(a)
    results: dict[str, dict[str, Any]] = {}
    barrier = threading.Barrier(2)

    def writer(j: JournalStore, name: str) -> None:
        barrier.wait()
        results[name] = write_many(j, sid, name, WRITES)

    threads = [threading.Thread(target=writer, args=(j, name)) for j, name in ((a, "a"), (b, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    check_order(a, sid, results)


def test_two_writers_in_processes_keep_one_order(locator: str,
                                                 opened: Callable[[], JournalStore]) -> None:
    j = opened()
    sid = new_session(j)
    start_at = f"{time.time() + 1.5:.3f}"  # both begin together, once their imports are done
    env = {**os.environ, LOCATOR_ENV: locator}
    procs = {name: subprocess.Popen([sys.executable, "-c", WRITER, str(REPO), sid, name,
                                     start_at, str(WRITES)], env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
             for name in ("p1", "p2")}
    results = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=90)
        assert proc.returncode == 0, err
        results[name] = json.loads(out)
    check_order(j, sid, results)


# -- waiting for others' events ---------------------------------------------------------------


def test_wait_wakes_when_another_instance_appends(opened: Callable[[], JournalStore],
                                                  locator: str) -> None:
    follower, driver = opened(), opened()
    sid = new_session(driver)
    driver.append(sid, Ev.SESSION_STARTED)
    assert follower.wait(sid, 0, 5)  # already there: at once
    latencies: list[float] = []
    for n in range(25):
        woke: dict[str, Any] = {}

        def follow(woke: dict[str, Any] = woke, after: int = n + 1) -> None:
            woke["ok"] = follower.wait(sid, after, 5)
            woke["at"] = time.perf_counter()

        t = threading.Thread(target=follow)
        t.start()
        time.sleep(0.03)  # the follower is waiting
        before = time.perf_counter()
        driver.append(sid, Ev.ITEM_FACT, "i", "amy", {"n": n})
        t.join(timeout=10)
        assert woke["ok"] is True
        latencies.append(woke["at"] - before)
    ms = sorted(x * 1000 for x in latencies)
    backend = "postgresql" if locator.startswith("postgresql") else "sqlite"
    print(f"\nwait() wake-up after another instance's append ({backend}): "
          f"median {statistics.median(ms):.1f} ms, max {ms[-1]:.1f} ms")
    assert ms[-1] < 250  # the pairing target, with room for a loaded machine
    began = time.monotonic()
    assert follower.wait(sid, 26, 0.3) is False
    assert 0.29 <= time.monotonic() - began < 1.5


# -- the wheel ------------------------------------------------------------------------------


def test_wheel_take_renew_release_expire_force(opened: Callable[[], JournalStore]) -> None:
    a, b = opened(), opened()
    sid = new_session(a)
    assert a.wheel(sid) is None
    mine = a.take_wheel(sid, "amy@h1", "tok-a", ttl=30)
    assert (mine.holder, mine.token) == ("amy@h1", "tok-a") and mine.live(time.time())
    assert b.wheel(sid) == mine
    held = b.take_wheel(sid, "bob@h2", "tok-b", ttl=30)  # live and not ours: refused
    assert held == mine
    again = a.take_wheel(sid, "amy@h1", "tok-a", ttl=30)  # ours: renewed
    assert again.token == "tok-a" and again.expires >= mine.expires
    assert a.renew_wheel(sid, "tok-a", ttl=0.3)
    assert not b.renew_wheel(sid, "tok-b", ttl=30)
    b.release_wheel(sid, "tok-b")  # not the holder: nothing happens
    assert a.wheel(sid) is not None
    time.sleep(0.4)  # amy's lease expires
    taken = b.take_wheel(sid, "bob@h2", "tok-b", ttl=30)
    assert taken.token == "tok-b"
    assert not a.renew_wheel(sid, "tok-a", ttl=30)  # lost it
    forced = a.take_wheel(sid, "amy@h1", "tok-a", ttl=30, force=True)
    assert forced.token == "tok-a" and b.wheel(sid) == forced
    a.release_wheel(sid, "tok-a")
    assert b.wheel(sid) is None
    assert b.take_wheel(sid, "bob@h2", "tok-b", ttl=30).token == "tok-b"  # free again


def test_wheel_has_one_winner_when_many_take_at_once(opened: Callable[[], JournalStore]) -> None:
    stores = [opened() for _ in range(4)]
    sid = new_session(stores[0])
    barrier = threading.Barrier(len(stores))
    got: list[str] = []

    def take(j: JournalStore, token: str) -> None:
        barrier.wait()
        got.append(j.take_wheel(sid, f"op-{token}", token, ttl=30).token)

    threads = [threading.Thread(target=take, args=(j, f"t{i}")) for i, j in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(got) == 4 and len(set(got)) == 1  # all agree on one holder
