"""The session lifecycle with stand-in services: what it takes, in which order it lets go,
what a refused lock leaves behind (nothing), and who gets a notifier (the driver only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbook.format.loader import load_text
from runbook.format.model import Environment, Runbook
from runbook.journal.sqlite import Journal
from runbook.rules.events import Ev
from runbook.session.lifecycle import HeldLock, Lifecycle, LockRefused, SessionServices
from runbook.session.operator import Operator
from runbook.session.run import Refused, Run
from steps import default_registry

REG = default_registry()
ANN, BOB = Operator("ann", "host", ""), Operator("bob", "host", "")
RUNBOOK = """
runbook: 1
title: Life
environments:
  prod: {namespace: prod, policy: {lock: true}}
phases:
  - id: p
    title: P
    sections:
      - {id: s, title: S, items: [{id: look, title: Look}]}
"""


class Trail:
    """What happened, in order, across the stand-ins."""

    def __init__(self, journal: Journal) -> None:
        self.steps: list[str] = []
        self.journal = journal
        self.session = ""

    def wheel_held(self) -> bool:
        return self.journal.wheel(self.session) is not None


class FakeLock:
    def __init__(self, trail: Trail, previous: str = "") -> None:
        self.trail = trail
        self.previous = previous

    def describe(self) -> str:
        return "lease prod/runbook-life-prod"

    def release(self) -> None:
        self.trail.steps.append(f"lock released (wheel held: {self.trail.wheel_held()})")


class FakeNotifier:
    def __init__(self, trail: Trail, run: Run) -> None:
        self.trail = trail
        self.run = run
        trail.steps.append(f"notifier for {run.operator.name}")

    def close(self) -> None:
        self.trail.steps.append(f"notifier closed (wheel held: {self.trail.wheel_held()})")


@pytest.fixture
def rb(tmp_path: Path) -> Runbook:
    return load_text(RUNBOOK, str(tmp_path / "life.yaml"), REG)


def services(trail: Trail, refuse: str = "", previous: str = "") -> SessionServices:
    def take_lock(path: str, env: Environment, operator: str, context: str, dry_run: bool,
                  break_reason: str) -> HeldLock | None:
        if refuse:
            raise LockRefused(refuse)
        trail.steps.append(f"lock taken by {operator}")
        return FakeLock(trail, previous)

    return SessionServices(take_lock=take_lock,
                           notifier=lambda run: FakeNotifier(trail, run))


def test_a_driver_closes_notifier_then_wheel_then_lock_then_journal(
        tmp_path: Path, rb: Runbook, monkeypatch: pytest.MonkeyPatch) -> None:
    journal = Journal(tmp_path / "j.db")
    trail = Trail(Journal(tmp_path / "j.db"))
    close = journal.close
    monkeypatch.setattr(journal, "close", lambda: (trail.steps.append("journal closed"),
                                                   close())[-1])
    with Lifecycle(journal, services(trail), owns_journal=True) as life:
        run = life.drive(lambda: Run.start(journal, rb, "prod", {}, REG, ANN, False), rb, "prod",
                         ANN.name, None, False)
        trail.session = run.meta.id
        run.finish()
    assert trail.steps == ["lock taken by ann@host", "notifier for ann@host",
                           "notifier closed (wheel held: True)",
                           "lock released (wheel held: False)", "journal closed"]
    events = trail.journal.events(run.meta.id)
    assert [(e.kind, e.get("guard")) for e in events] == [
        (Ev.SESSION_STARTED, None), (Ev.GUARD_CONFIRMED, "lock"), (Ev.SESSION_FINISHED, None)]
    assert events[1].get("reason") == "holding lease prod/runbook-life-prod"


def test_a_refused_lock_journals_nothing_and_a_broken_one_says_from_whom(
        tmp_path: Path, rb: Runbook) -> None:
    journal = Journal(tmp_path / "j.db")
    trail = Trail(journal)
    opened: list[Run] = []
    with Lifecycle(journal, services(trail, refuse="held by bob")) as life, \
            pytest.raises(LockRefused, match="held by bob"):
        life.drive(lambda: opened.append(Run.start(journal, rb, "prod", {}, REG, ANN, False))
                   or opened[0], rb, "prod", ANN.name, None, False)
    assert opened == [] and journal.sessions() == [] and trail.steps == []
    with Lifecycle(journal, services(trail, previous="bob on box (pid 1)")) as life:
        run = life.drive(lambda: Run.start(journal, rb, "prod", {}, REG, ANN, False), rb, "prod",
                         ANN.name, None, False, "bob's laptop died")
    broke = [e for e in journal.events(run.meta.id) if e.get("guard") == "lock-break"]
    assert broke[0].get("reason") == "took the lock from bob on box (pid 1): bob's laptop died"


def test_a_session_that_cannot_open_releases_the_lock(tmp_path: Path, rb: Runbook) -> None:
    journal = Journal(tmp_path / "j.db")
    trail = Trail(journal)
    driver = Run.start(journal, rb, "prod", {}, REG, ANN, False)
    trail.session = driver.meta.id
    with Lifecycle(journal, services(trail)) as life, pytest.raises(Refused, match="holds"):
        life.drive(lambda: Run.resume(journal, driver.meta, rb, {}, REG, BOB), rb, "prod",
                   BOB.name, None, False)
    assert trail.steps == ["lock taken by bob@host", "lock released (wheel held: True)"]
    driver.close()


def test_a_follower_gets_no_notifier_until_it_takes_the_wheel(tmp_path: Path,
                                                             rb: Runbook) -> None:
    journal = Journal(tmp_path / "j.db")
    trail = Trail(journal)
    driver = Run.start(journal, rb, "prod", {}, REG, ANN, False)
    trail.session = driver.meta.id
    with Lifecycle(journal, services(trail)) as life:
        follower = life.adopt(Run.attach(journal, driver.meta, rb, REG, BOB))
        assert life.notifier is None and life.lock is None
        driver.hand_over(BOB.name)
        follower.sync()  # the handover reaches the follower: it drives now
        assert follower.driving and trail.steps == ["notifier for bob@host"]
    assert trail.steps[-1] == "notifier closed (wheel held: True)"
    assert not trail.wheel_held()  # bob, driving, released it on leaving
    driver.close()
