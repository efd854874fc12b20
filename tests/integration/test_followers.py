"""Many followers on one session: each sees the driver's events, each is listed, each leaves."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from runbook.format.loader import load_text
from runbook.journal.sqlite import Journal
from runbook.rules.events import Ev
from runbook.rules.state import Status
from runbook.session.operator import Operator
from runbook.session.run import Run
from steps import default_registry

RUNBOOK = """
runbook: 1
title: Followers
environments: {local: {}}
phases:
  - id: p
    title: P
    sections:
      - id: s
        title: S
        items:
          - {id: a, title: A}
          - {id: b, title: B}
"""


def test_many_followers_see_the_driver_live(tmp_path: Path) -> None:
    reg = default_registry()
    rb = load_text(RUNBOOK, "f.yaml", reg)
    db = tmp_path / "journal.db"
    driver = Run.start(Journal(db), rb, "local", {}, reg, Operator("alice", "h1", ""), False)
    followers = [Run.attach(Journal(db), driver.meta, rb, reg, Operator(f"f{n}", "h2", ""))
                 for n in range(4)]
    stop = threading.Event()

    def follow(run: Run) -> None:  # what the TUI's SessionFollower does
        while not stop.is_set():
            if run.journal.wait(run.meta.id, run.state.last_seq, 0.1):
                run.sync()

    threads = [threading.Thread(target=follow, args=(f,)) for f in followers]
    for t in threads:
        t.start()
    try:
        driver.sync()
        assert sorted(driver.state.followers.values()) == [f"f{n}@h2" for n in range(4)]
        driver.confirm("a")
        seen = time.monotonic()
        while not all(f.state.items["a"].status is Status.CONFIRMED for f in followers):
            assert time.monotonic() - seen < 5, "a follower did not see the confirmation"
            time.sleep(0.01)
        followers[0].close()  # one leaves
        driver.confirm("b")
        deadline = time.monotonic() + 5
        while not all(f.state.items["b"].status is Status.CONFIRMED for f in followers[1:]):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert sorted(followers[1].state.followers.values()) == [f"f{n}@h2" for n in (1, 2, 3)]
        assert all(f.state.driver == "alice@h1" and not f.driving for f in followers)
    finally:
        stop.set()
        for t in threads:
            t.join()


def test_a_handover_seen_before_the_giver_released_its_lease_still_passes_the_wheel(
        tmp_path: Path) -> None:
    """The giver journals the handover, then releases its lease; a receiver that folds the
    handover in between (a fast LISTEN, a slow giver) must still get the wheel."""
    reg = default_registry()
    rb = load_text(RUNBOOK, "f.yaml", reg)
    db = tmp_path / "journal.db"
    alice = Run.start(Journal(db), rb, "local", {}, reg, Operator("alice", "h1", ""), False)
    bob = Run.attach(Journal(db), alice.meta, rb, reg, Operator("bob", "h2", ""))
    try:
        alice.emit(Ev.WHEEL_PASSED, data={"to": "bob@h2", "from": alice.operator.name,
                                          "how": "handover", "token": ""})
        assert alice.wheel.current() is not None  # alice's lease is still live
        bob.sync()
        assert bob.driving
        alice.wheel.release()  # what hand_over does next: it must not take bob's wheel away
        assert bob.wheel.held()
    finally:
        bob.close()
        alice.close()
