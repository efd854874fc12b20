"""The maintenance window's budget: a warning when the window left is shorter than the
run's expected remaining duration plus the rollback's, at fixed times."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import pytest

from runbook.cli.headless import Headless
from runbook.format.loader import load, load_text
from runbook.format.model import Window
from runbook.journal.sqlite import Journal
from runbook.rules.events import Ev, Event
from runbook.rules.fold import apply, fold
from runbook.rules.state import Status, initial
from runbook.rules.window import WARNING_GUARD, expected_remaining, window_budget
from runbook.session.operator import Operator
from runbook.session.preflight import rollback_seconds, warn_once
from runbook.session.run import Run
from steps import default_registry

REG = default_registry()
ROOT = Path(__file__).resolve().parents[2]
WED_10 = 1736935200.0  # Wednesday 2025-01-15 10:00:00 UTC
WED_9_TO_11 = Window((2,), 9 * 60, 11 * 60, "UTC")  # 1h left at WED_10
SUN_2_TO_6 = Window((6,), 2 * 60, 6 * 60, "UTC")  # closed at WED_10
M = 60.0

RUNBOOK = """
runbook: 1
title: Budget
environments:
  prod:
    policy: {window: {days: [wed], start: "09:00", end: "11:00"}}
phases:
  - id: p
    title: P
    sections:
      - id: a
        title: A (a section of 30m, three items)
        expected: 20-40m
        items:
          - {id: a1, title: A1}
          - {id: a2, title: A2}
          - {id: a3, title: A3}
      - id: b
        title: B (items of their own)
        items:
          - {id: b1, title: B1, expected: 10m}
          - {id: b2, title: B2, expected: 5-15m}
          - {id: b3, title: B3}
          - id: how
            kind: choice
            title: How
            expected: 1m
            options:
              - {id: x, title: X, items: [{id: x1, title: X1, expected: 20m}]}
              - {id: y, title: Y}
"""


def book():
    return load_text(RUNBOOK, "budget.yaml", REG)


def test_no_window_never_warns() -> None:
    b = window_budget(None, WED_10, 10 * 3600, 3600)
    assert not b.warn and b.status.open and b.text == "any time (no maintenance window)"


def test_a_closed_window_does_not_warn_it_refuses() -> None:
    b = window_budget(SUN_2_TO_6, WED_10, 3 * 3600, 3600)
    assert not b.warn and not b.status.open and b.text.startswith("OUTSIDE window")


def test_enough_time_left_shows_the_clock() -> None:
    b = window_budget(WED_9_TO_11, WED_10, 30 * M, 20 * M)
    assert not b.warn and b.needed_s == 50 * M
    assert b.text == "in window Wed 09:00-11:00 UTC: 1h00m left"


def test_window_shorter_than_run_plus_rollback_warns() -> None:
    b = window_budget(WED_9_TO_11, WED_10 + 10 * M, 40 * M, 15 * M)
    assert b.warn
    assert b.text == "window 50m left < 55m needed (run 40m + rollback 15m)"


def test_exactly_enough_does_not_warn() -> None:
    assert not window_budget(WED_9_TO_11, WED_10, 45 * M, 15 * M).warn


def test_unknown_rollback_counts_the_run_only() -> None:
    b = window_budget(WED_9_TO_11, WED_10, 70 * M, None)
    assert b.warn and b.text == "window 1h00m left < 1h10m needed (run 1h10m; rollback unknown)"
    assert not window_budget(WED_9_TO_11, WED_10, 50 * M, None).warn


def test_expected_remaining_counts_what_is_not_done() -> None:
    rb = book()
    state = initial(rb, "prod")
    # section a: 30m (midpoint of 20-40m); b1 10m, b2 10m, how 1m, x1 20m; b3 nothing
    assert expected_remaining(rb, state) == (30 + 10 + 10 + 1 + 20) * M
    ev = [Event(1, WED_10, Ev.ITEM_CONFIRMED, "a1"), Event(2, WED_10, Ev.ITEM_CONFIRMED, "b1"),
          Event(3, WED_10, Ev.ITEM_CHOSEN, "how", data={"option": "y"})]
    state = fold(rb, "prod", ev)
    assert state.items["x1"].status is Status.NOT_TAKEN
    # a: two of three items left; b2 10m; b1, how done; x1 not taken
    assert expected_remaining(rb, state) == (20 + 10) * M


def test_rollback_of_the_bundled_deploy() -> None:
    deploy = load(ROOT / "runbooks" / "creatorbridge-deploy.yaml", REG)
    rollback = load(ROOT / "runbooks" / "creatorbridge-rollback.yaml", REG)
    seconds = rollback_seconds(deploy, REG, "production")
    assert seconds == expected_remaining(rollback, initial(rollback, "production"))
    assert 5 * M <= seconds <= 20 * M  # quick rollback 1-5m, verification 5-15m
    assert rollback_seconds(rollback, REG, "production") is None  # a rollback has none


@pytest.fixture
def run(tmp_path: Path) -> Run:
    path = tmp_path / "budget.yaml"
    path.write_text(RUNBOOK)
    rb = load(path, REG)
    return Run.start(Journal(tmp_path / "j.db"), rb, "prod", {}, REG,
                     Operator("alice", "host", ""), dry_run=False)


def warnings(run: Run) -> list[Event]:
    return [e for e in run.journal.events(run.meta.id) if e.kind is Ev.GUARD_WARNING]


def test_the_warning_is_journaled_once_and_survives_a_fold(run: Run) -> None:
    b = window_budget(WED_9_TO_11, WED_10 + 30 * M, expected_remaining(run.runbook, run.state),
                      10 * M)
    assert b.warn
    assert warn_once(run, b) and not warn_once(run, b)
    [ev] = warnings(run)
    assert ev.get("guard") == WARNING_GUARD and ev.get("reason") == b.text
    assert ev.get("window_left_s") == 30 * M and ev.get("rollback_s") == 10 * M
    refolded = fold(run.runbook, "prod", run.journal.events(run.meta.id))
    assert refolded.guards[WARNING_GUARD] == b.text
    assert apply(run.runbook, initial(run.runbook, "prod"), ev).guards[WARNING_GUARD] == b.text
    assert "window" not in refolded.guards  # the window override is another guard


def test_no_warning_journaled_in_a_dry_run_or_without_a_warning(tmp_path: Path) -> None:
    rb = book()
    dry = Run.start(Journal(tmp_path / "j.db"), rb, "prod", {}, REG, Operator("a", "h", ""),
                    dry_run=True)
    short = window_budget(WED_9_TO_11, WED_10 + 50 * M, 60 * M, 0)
    assert short.warn and not warn_once(dry, short)
    real = Run.start(Journal(tmp_path / "k.db"), rb, "prod", {}, REG, Operator("a", "h", ""),
                     dry_run=False)
    assert not warn_once(real, window_budget(WED_9_TO_11, WED_10, 10 * M, 0))
    assert not warnings(dry) and not warnings(real)


HEADLESS = """
runbook: 1
title: Headless budget
environments:
  prod:
    policy: {window: {days: [wed], start: "09:00", end: "11:00"}}
phases:
  - id: p
    title: P
    sections:
      - id: s
        title: S
        expected: 90m
        items:
          - {id: change, kind: action, title: Change, uses: shell, with: {argv: ["true"]}}
          - {id: again, kind: action, title: Again, uses: shell, with: {argv: ["true"]}}
"""


def test_headless_warns_before_each_change_and_journals_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("runbook.cli.headless.time", SimpleNamespace(time=lambda: WED_10))
    path = tmp_path / "h.yaml"
    path.write_text(HEADLESS)
    r = Run.start(Journal(tmp_path / "j.db"), load(path, REG), "prod", {}, REG,
                  Operator("alice", "host", ""), dry_run=False)
    out = io.StringIO()
    assert Headless(r, None, out).main() == 0
    lines = [x.strip() for x in out.getvalue().splitlines() if "⚠" in x]
    # 1h left; 90m before the first change, 45m before the second (no rollback runbook)
    assert lines == ["⚠ window 1h00m left < 1h30m needed (run 1h30m; rollback unknown)"]
    assert len(warnings(r)) == 1
