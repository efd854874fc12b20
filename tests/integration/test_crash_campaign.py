"""Crash campaign (issue 6): 50 runs of a runbook with mutating shell steps, each SIGKILLed at a random
moment; every session reopens, no committed event is lost or duplicated, every interrupted mutating item
is needs-reconcile, no mutating step runs twice.

A DRIVER process runs a read-only check and four mutating shell actions, each appending "<item> <run
token> <pid>" to a marker file between two random naps (the marker counts the changes really made).
A random delay after it has reported a random number of committed events, the driver is frozen
(SIGSTOP: the moment holds still while the test looks), then SIGKILLed: "driver" kills it alone (SSH
dropped: its detached supervisors live on and must land their results; half the time a resume comes
at once, re-attaches and runs on), "host" kills everything it started too. Some runs, from that moment
on, hunt for a moment (freeze, look, thaw): a step running, or a frozen process holding the journal's
write lock. The journal must then be whole and the session reopen with every intent lacking a result
needs-reconcile; reconcile (done if the marker shows the change, else retry), run the rest, and each
change has happened exactly once. CRASH_SEED overrides the fixed seed; `pytest -s` prints the tally.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

from runbook.execute.stepkind import Outcome
from runbook.format.loader import load
from runbook.journal.sqlite import Journal
from runbook.rules.events import Ev
from runbook.rules.fold import fold
from runbook.rules.state import Status
from runbook.session.operator import current
from runbook.session.run import Refused, Run
from steps import default_registry

pytestmark = pytest.mark.timeout(900)  # 51 runs: ~80 s quiet, several minutes loaded

REPO = Path(__file__).resolve().parents[2]
RUNS, SEED = 50, int(os.environ.get("CRASH_SEED", "20240606"))  # RUNS: runs killed
ACTIONS = ["m1", "m2", "m3", "m4"]
ORDER = ["pre", *ACTIONS]
EVENTS = 17  # a driver left alone commits 17 events: start, 3 per item, finish
Row = tuple[int, str, str | None, str]

DRIVER = """\
import sys
sys.path.insert(0, sys.argv[1])
from runbook.journal.sqlite import Journal
from runbook.format.loader import load
from runbook.session.operator import current
from runbook.session.run import Run
from steps import default_registry

def show(ev, state=None):  # called once the event is committed
    print("ev", ev.seq, ev.kind.value, ev.item or "-", flush=True)

reg = default_registry()
run = Run.start(Journal(sys.argv[3]), load(sys.argv[2], reg), "local", {}, reg, current(), dry_run=False)
for ev in run.journal.events(run.meta.id):
    show(ev)
run.subscribe(show)
for item in sys.argv[4].split(","):
    run.execute(item)
run.finish()
"""


def write_runbook(d: Path, token: str, rng: random.Random, hold: float = 0) -> Path:
    items = [{"id": "pre", "kind": "check", "title": "Pre", "uses": "shell", "with": {"argv": ["true"]}}]
    for name in ACTIONS:
        script = (f"sleep {rng.uniform(0, 0.08):.3f}; echo {name} {token} $$ >> ${{env.marker}}; "
                  f"sleep {rng.uniform(0, 0.08) + hold:.3f}")
        items.append({"id": name, "kind": "action", "title": name, "uses": "shell",
                      "with": {"script": script, "grace": "1s"}})
    path = d / "campaign.yaml"
    path.write_text(
        "runbook: 1\ntitle: Crash campaign\nenvironments:\n  local: {namespace: default, "
        f"values: {{marker: {json.dumps(str(d / 'marker'))}}}}}\n"
        "phases:\n  - id: p\n    title: P\n    sections:\n      - id: s\n        title: S\n"
        "        items:\n" + "".join(f"          - {json.dumps(it)}\n" for it in items))
    return path


# -- processes ---------------------------------------------------------------------------------------

def proc_stat(pid: int) -> list[str]:
    """/proc/PID/stat after the command name: state, ppid, ..."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(errors="replace")
    except OSError:
        return []
    return raw[raw.rfind(")") + 2:].split()


def alive(pid: int) -> bool:
    return proc_stat(pid)[:1] not in ([], ["Z"], ["X"])


def children(pid: int) -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir()
            if p.name.isdigit() and proc_stat(int(p.name))[1:2] == [str(pid)]]


def descendants(pid: int) -> list[int]:
    out = children(pid)
    for c in out:
        out.extend(children(c))
    return out


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def wait_for(done: Callable[[], bool], what: str, timeout: float = 30, poll: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(poll)


def wait_dead(pid: int) -> None:
    wait_for(lambda: not alive(pid), f"pid {pid} to end")


def stopped(pid: int) -> bool:
    return proc_stat(pid)[:1] not in (["R"], ["S"], ["D"])


def freeze(root: int, tree: bool) -> list[int]:
    """SIGSTOP `root` and, with `tree`, every descendant, each before its children are listed (a stopped
    process starts no new one). Returns the stopped pids, `root` first."""
    frozen, todo = [], [root]
    while todo:
        pid = todo.pop(0)
        try:
            os.kill(pid, signal.SIGSTOP)
        except ProcessLookupError:
            continue
        wait_for(partial(stopped, pid), "a stop", 5, 1e-4)
        if alive(pid):
            frozen.append(pid)
            todo.extend(children(pid) if tree else [])
    return frozen


def found(root: int, db: Path, target: str) -> bool:
    if target == "step":  # a step runs (under a supervisor)
        return any(cmdline(p).startswith(b"bash\0-c") for p in descendants(root))
    if target == "spawn":  # a supervisor runs that has not written its pid file (yet, or any more)
        return (any(b"_step" in cmdline(p) for p in children(root))
                and not any(db.parent.glob("sessions/*/running/*.json")))
    return db.exists() and write_locked(db, 1)  # a frozen process holds the journal's write lock


def hunt(root: int, tree: bool, db: Path, target: str, then: float) -> list[int]:
    """Freeze, look, thaw, for up to 2 s, until the target is found (a step: and `then` seconds more)."""
    deadline = time.monotonic() + 2.0
    while True:
        frozen = freeze(root, tree)
        if not frozen or time.monotonic() > deadline or found(root, db, target):
            break
        for pid in reversed(frozen):
            os.kill(pid, signal.SIGCONT)
        time.sleep(0.001)
    if target == "step" and frozen:
        for pid in reversed(frozen):
            os.kill(pid, signal.SIGCONT)
        time.sleep(then)
        frozen = freeze(root, tree)
    return frozen


# -- the journal and the marker ------------------------------------------------------------------------

def journal_rows(db: Path, timeout: float = 10) -> tuple[list[str], list[Row]]:
    """Integrity, one session, contiguous seqs, known kinds, JSON objects: (sessions, rows)."""
    if not db.exists():
        return [], []
    con = sqlite3.connect(str(db), timeout=timeout)
    try:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        if {"sessions", "events"} - {r[0] for r in con.execute("SELECT name FROM sqlite_master")}:
            return [], []
        sessions = [r[0] for r in con.execute("SELECT id FROM sessions")]
        rows = con.execute("SELECT seq, kind, item, data FROM events ORDER BY seq").fetchall()
    finally:
        con.close()
    assert len(sessions) <= 1 and (sessions or not rows)
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    assert all(Ev(r[1]) and isinstance(json.loads(r[3]), dict) for r in rows)
    # a driver killed between creating its session and journaling its start leaves a session whose
    # first event is session.resumed
    assert not rows or rows[0][1] in (Ev.SESSION_STARTED, Ev.SESSION_RESUMED)
    return sessions, rows


def check_sequences(rows: list[Row]) -> dict[str, str]:
    """Per item: a start, facts (each key once), one passed result; or, after a resume, a reconcile (of
    an intent) or a new start (of the check). Returns the items left open -> their start kind."""
    opened: dict[str, str] = {}
    keys: dict[str, set[str]] = {}
    resumed: set[str] = set()  # open items a session.resumed came after
    for seq, kind, item, data in rows:
        if item is None:
            resumed |= set(opened) if kind == Ev.SESSION_RESUMED else set()
        elif kind in (Ev.ITEM_INTENT, Ev.ITEM_STARTED):
            assert kind == (Ev.ITEM_STARTED if item == "pre" else Ev.ITEM_INTENT), seq
            assert item not in opened or (item == "pre" and item in resumed), f"seq {seq}: {item} restarted"
            opened[item], keys[item] = kind, set()
            resumed.discard(item)
        elif kind == Ev.ITEM_FACT:
            key = json.loads(data)["key"]
            assert item in opened and key not in keys[item], f"seq {seq}: stray fact {key}"
            keys[item].add(key)
        elif kind == Ev.ITEM_RESULT:
            assert opened.pop(item, None), f"seq {seq}: a result for {item} with no run open"
            assert json.loads(data)["outcome"] == "passed", data
        elif kind == Ev.ITEM_RECONCILED:
            assert item in resumed and opened.pop(item) == Ev.ITEM_INTENT, seq
            resumed.discard(item)
    return opened


def marks(d: Path, token: str) -> Counter[str]:
    """How many times each change really happened (lines in the marker)."""
    lines = (d / "marker").read_text().splitlines() if (d / "marker").exists() else []
    assert all(ln.split()[1] == token for ln in lines), lines
    return Counter(ln.split()[0] for ln in lines)


def write_locked(db: Path, tries: int) -> bool:
    """Someone (a frozen process, if every try fails) holds the journal's write lock."""
    for n in range(tries):
        con = sqlite3.connect(f"file:{db}?mode=rw", uri=True, timeout=0, isolation_level=None)
        try:
            con.execute("BEGIN IMMEDIATE").execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:
            time.sleep(0.02 * (n + 1 < tries))
        finally:
            con.close()
    return True


def moment(d: Path, token: str) -> tuple[str, list[Row]]:
    """Where the frozen driver (and its steps) stood, and the journal at that moment."""
    try:
        sessions, rows = journal_rows(d / "journal.db", timeout=0.5)
    except sqlite3.OperationalError:  # frozen while creating the journal: nothing to read
        return "creating the journal (readers locked out)", []
    opened = check_sequences(rows)
    if not rows or rows[-1][1] == Ev.SESSION_FINISHED:
        return ("after the end" if rows else "session created, not started" if sessions
                else "before the session existed"), rows
    if opened:
        item = next(iter(opened))
        return ("read-only check running" if item == "pre" else "change made, no result yet"
                if marks(d, token)[item] else "intent journaled, change not made yet"), rows
    spawned = len(list(d.glob("sessions/*/running/*.err")))  # made just before a supervisor is spawned
    if spawned > sum(r[1] == Ev.ITEM_RESULT for r in rows if r[2] in ACTIONS):
        return "supervisor spawned, no intent yet", rows
    return "between items", rows


# -- the campaign -----------------------------------------------------------------------------------------

def resume(db: Path, runbook: Path, sid: str) -> tuple[Journal, Run]:
    journal, reg = Journal(db), default_registry()
    return journal, Run.resume(journal, journal.session(sid), load(runbook, reg), {}, reg, current())


def kill(proc: subprocess.Popen[bytes], how: str, d: Path, token: str, frozen: list[int],
         tally: Counter[str]) -> tuple[list[Row], list[int]]:
    """Look at the frozen moment, then SIGKILL. Returns the rows at the kill and the survivors."""
    try:
        if (d / "journal.db").exists():
            tally[f"killed holding the journal's write lock ({how})"] += write_locked(d / "journal.db", 3)
        survivors = children(proc.pid) if how == "driver" and frozen else []
        what, at_kill = moment(d, token)
        tally["moment: " + what] += 1
    finally:
        for pid in frozen if how == "host" else frozen[:1]:
            os.kill(pid, signal.SIGKILL)
    assert proc.stderr is not None
    assert proc.wait(10) == (-signal.SIGKILL if frozen else 0), proc.stderr.read().decode()
    proc.stderr.close()
    tally[f"kills: {how}" if frozen else f"finished before the kill ({how})"] += 1
    for pid in frozen:
        wait_dead(pid)
    return at_kill, survivors


def resume_at_once(db: Path, runbook: Path, survivors: list[int], tally: Counter[str]) -> tuple[Journal, Run]:
    """Resume while a surviving supervisor runs, or is still starting, and run on: its item shows as
    running once its intent is journaled and is re-attached to; started again, it is refused."""
    journal, run = resume(db, runbook, journal_rows(db)[0][0])
    seen = journal_rows(db)[1][:run.state.last_seq]
    opened = check_sequences(seen)
    for name in ACTIONS:
        done = any(r[1] == Ev.ITEM_RESULT and r[2] == name for r in seen)
        want = Status.RUNNING if name in opened else Status.PASSED if done else Status.PENDING
        assert run.state.items[name].status is want, (name, run.state.items[name])
    for name in ORDER:
        if name in run.running_detached():
            tally["early resume: re-attached to a running step"] += 1
            assert run.reattach(name).outcome is Outcome.PASSED
        elif not run.state.items[name].done:
            try:
                assert run.execute(name).outcome is Outcome.PASSED
            except Refused:  # a starting supervisor holds it: follow that one
                tally["early resume: refused (already running), then re-attached"] += 1
                wait_for(partial(lambda i: i in run.running_detached() or not any(map(alive, survivors)),
                                 name), "the supervisor's pid file")
                assert run.reattach(name).outcome is Outcome.PASSED
    return journal, run


def one_run(tmp: Path, n: int, how: str, rng: random.Random, tally: Counter[str]) -> None:
    d, token = tmp / f"run{n:02d}", f"run{n:02d}"
    d.mkdir()
    runbook, db = write_runbook(d, token, rng), d / "journal.db"
    # the moment: `delay` seconds after the driver has seen `after` events committed (of 17 in all);
    # one run in eight aims at the session's start
    after = 0 if rng.random() < 0.125 else rng.randrange(1, EVENTS - 2)
    delay, then, u, coin = rng.uniform(0, 0.25), rng.uniform(0, 0.15), rng.random(), rng.random() < 0.5
    target = "step" if u < 0.3 else "" if u >= 0.6 or not after else "lock" if how == "host" else "spawn"
    early_resume = coin or target == "spawn"
    proc = subprocess.Popen([sys.executable, str(tmp / "driver.py"), str(REPO), str(runbook), str(db),
                             ",".join(ORDER)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    assert proc.stdout is not None
    lines: list[bytes] = []  # "ev SEQ KIND ITEM" for each event the driver saw committed
    reader = threading.Thread(target=lines.extend, args=(iter(proc.stdout.readline, b""),))
    reader.start()
    wait_for(lambda: len(lines) >= after or proc.poll() is not None, "the driver's events")
    time.sleep(delay)
    frozen = hunt(proc.pid, how == "host", db, target, then) if target else freeze(proc.pid, how == "host")
    tally[f"hunted: {target}" if target else "plain random moment"] += 1
    at_kill, survivors = kill(proc, how, d, token, frozen, tally)
    reader.join(10)
    journal, run = None, None
    if early_resume and any(map(alive, survivors)):
        journal, run = resume_at_once(db, runbook, survivors, tally)
    for pid in survivors:
        wait_dead(pid)

    sessions, rows = journal_rows(db)
    assert rows[:len(at_kill)] == at_kill  # nothing committed was lost or rewritten
    for _, seq, kind, item in (ln.split() for ln in lines if ln.endswith(b"\n")):
        assert rows[int(seq) - 1][1:3] == (kind.decode(), None if item == b"-" else item.decode())
    opened, counts = check_sequences(rows), marks(d, token)
    resumed = next((r[0] - 1 for r in rows if r[1] == Ev.SESSION_RESUMED), len(rows))
    tally["results landed after the kill, before a resume"] += sum(
        r[1] == Ev.ITEM_RESULT for r in rows[len(at_kill):resumed])
    if how == "driver":  # every surviving step journaled its result
        assert [i for i, k in opened.items() if k == Ev.ITEM_INTENT] == []
    for name in ACTIONS:
        intended = any(r[1] == Ev.ITEM_INTENT and r[2] == name for r in rows)
        assert counts[name] <= 1 if name in opened else counts[name] == intended, counts
    if not sessions or (rows and rows[-1][1] == Ev.SESSION_FINISHED):  # nothing to reopen
        assert counts == (dict.fromkeys(ACTIONS, 1) if sessions else {})
        return

    journal, run = (journal, run) if run is not None else resume(db, runbook, sessions[0])
    assert journal is not None
    try:
        tally["sessions reopened"] += 1
        for name in ORDER:
            ran = any(r[2] == name for r in rows)
            want = ((Status.NEEDS_RECONCILE if name in ACTIONS else Status.PENDING) if name in opened
                    else Status.PASSED if ran else Status.PENDING)
            assert run.state.items[name].status is want, (name, run.state.items[name])
        for name in sorted(opened.keys() & set(ACTIONS)):
            resolution = "done" if counts[name] else "retry"
            run.reconcile(name, resolution, "crash campaign: the marker says whether it changed")
            tally[f"interrupted, reconciled {resolution}"] += 1
        for name in ORDER:
            if not run.state.items[name].done:
                assert run.execute(name).outcome is Outcome.PASSED, name
        run.finish()
        run.close()
        _, final = journal_rows(db)
        assert rows == final[:len(rows)] and check_sequences(final) == {}
        assert marks(d, token) == dict.fromkeys(ACTIONS, 1)  # each change happened exactly once
        state = fold(load(runbook, default_registry()), "local", journal.iter_events(sessions[0]))
        assert state.finished and all(state.items[i].status is Status.PASSED for i in ORDER)
    finally:
        journal.close()


def test_crash_campaign(tmp_path: Path) -> None:
    (tmp_path / "driver.py").write_text(DRIVER)
    rng, tally, n, began = random.Random(SEED), Counter[str](), 0, time.monotonic()
    while tally["kills: driver"] + tally["kills: host"] < RUNS:  # runs that ended first do not count
        assert n < 2 * RUNS, f"{n} runs, only {RUNS} killed: the moments are drawn too late"
        how = "host" if tally["kills: host"] < tally["kills: driver"] else "driver"
        try:
            one_run(tmp_path, n, how, rng, tally)
        except AssertionError as e:
            raise AssertionError(f"run {n} ({how} kill, seed {SEED}): {e}") from e
        n += 1
    print(f"\ncrash campaign: {n} runs, {RUNS} killed, in {time.monotonic() - began:.1f}s, seed {SEED}")
    for key, value in sorted(tally.items()):
        print(f"  {key}: {value}")


def test_a_second_supervisor_for_an_item_is_refused(tmp_path: Path) -> None:
    """The driver dies just after m1's supervisor has claimed m1 (the test holds it there) and a resume
    runs m1 again: the second supervisor is refused and leaves the first one's pid file alone; the first
    runs m1, once, and the resumed session re-attaches to it. (Before the claim, the second one ran m1 and
    the first, refused, deleted the pid file, hiding the running step; or, when the first had journaled
    its intent meanwhile, the driver took the second's refusal for an interruption, to be reconciled and
    run again while the first still ran it.)"""
    (tmp_path / "driver.py").write_text(DRIVER)
    d = tmp_path / "run"
    d.mkdir()
    runbook, db = write_runbook(d, "run", random.Random(0), hold=0.5), d / "journal.db"
    proc = subprocess.Popen([sys.executable, str(tmp_path / "driver.py"), str(REPO), str(runbook), str(db),
                             "m1"], stdout=subprocess.DEVNULL, start_new_session=True)
    wait_for(lambda: any(d.glob("sessions/*/running/m1.err")), "the spawn", poll=0.0005)
    lock = sqlite3.connect(str(db), isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # the supervisor's intent waits for the journal's write lock
    try:
        wait_for(lambda: any(d.glob("sessions/*/running/m1.json")), "the pid file")
        first = int(json.loads(next(d.glob("sessions/*/running/m1.json")).read_text())["pid"])
        freeze(first, tree=False)  # claimed, pid file written, intent not journaled
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    journal, run = resume(db, runbook, journal_rows(db)[0][0])
    try:
        try:
            with pytest.raises(Refused, match="running"):
                run.execute("m1")
            assert run.running_detached() == ["m1"]
        finally:
            os.kill(first, signal.SIGCONT)
        assert run.reattach("m1").outcome is Outcome.PASSED
    finally:
        journal.close()
    wait_dead(first)
    assert check_sequences(journal_rows(db)[1]) == {}
    assert marks(d, "run") == {"m1": 1}
