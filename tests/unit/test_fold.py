"""The fold is `reduce(apply)` plus the one interrupted pass, over any journal.

Property tests over arbitrary events (any kind, any item, known or not, refused or not: a
journal may hold anything an older version wrote): folding at once equals applying one at a
time from any point and then interrupting; the pass changes only running items, leaves none
running, and gives the same done one item at a time (as `Run.interrupted` does). And a live
`Run` that interrupts an item shows exactly what a fresh fold of its journal shows.
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError, replace
from functools import reduce
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runbook.journal.sqlite import Journal
from runbook.rules.events import Ev, Event
from runbook.rules.fold import apply, fold, interrupt, interrupted
from runbook.rules.state import ItemState, RunState, Status, evolve, initial
from runbook.session.run import Run
from tests.unit.gates_runbook import ACTOR, ENV, OPERATOR, RB, REG

IDS = [i.id for i in RB.all_items()]

payloads = st.fixed_dictionaries({}, optional={
    "index": st.integers(-1, 4),
    "outcome": st.sampled_from(["passed", "failed", "cancelled", "dry-run", "timed-out"]),
    "message": st.sampled_from(["", "exit status 1"]),
    "exit_code": st.sampled_from([None, 0, 1]),
    "facts": st.dictionaries(st.sampled_from(["pid", "revision"]), st.integers(0, 9), max_size=2),
    "key": st.sampled_from(["pid", "revision"]),
    "value": st.integers(0, 9),
    "note": st.sampled_from(["", "n"]),
    "reason": st.sampled_from(["", "r"]),
    "option": st.sampled_from(["a", "b", "zzz"]),
    "resolution": st.sampled_from(["retry", "done", "abort", "?"]),
    "guard": st.sampled_from(["window", "typed-name"]),
    "token": st.sampled_from(["t1", "t2"]),
    "to": st.sampled_from(["", "bob@desk"]),
})
raw_events = st.tuples(st.sampled_from(list(Ev)), st.sampled_from([None, None, *IDS, "gone"]),
                       st.sampled_from([ACTOR, "bob@desk"]), payloads)


def numbered(raw: list[tuple[Ev, str | None, str, dict[str, object]]]) -> list[Event]:
    return [Event(n + 1, float(n), kind, item, actor, data)
            for n, (kind, item, actor, data) in enumerate(raw)]


def applied(events: list[Event], start: RunState | None = None) -> RunState:
    return reduce(lambda s, e: apply(RB, s, e), events, start or initial(RB, ENV))


@settings(max_examples=300, deadline=None)
@given(st.lists(raw_events, max_size=60), st.integers(0, 60))
def test_fold_is_reduce_apply_then_the_interrupted_pass(
        raw: list[tuple[Ev, str | None, str, dict[str, object]]], split: int) -> None:
    events = numbered(raw)
    folded = fold(RB, ENV, events)
    live = applied(events)  # what a live Run holds: its running items still running
    assert folded == interrupt(live)
    # one event at a time from any point (a live Run between its emits and syncs)
    assert interrupt(applied(events[split:], applied(events[:split]))) == folded
    # the pass changes only running items, and nothing but their status and message
    running = [iid for iid, s in live.items.items() if s.status is Status.RUNNING]
    for iid, s in live.items.items():
        assert folded.items[iid] == (interrupted(s) if iid in running else s)
    assert evolve(live, items=folded.items) == folded
    assert not any(s.status is Status.RUNNING for s in folded.items.values())
    assert interrupt(folded) is folded
    # one item at a time, as Run.interrupted does, ends the same
    assert reduce(lambda s, iid: interrupt(s, (iid,)), running, live) == folded


def test_an_interrupted_item_is_reconciled_after_an_intent_and_simply_rerun_otherwise() -> None:
    acting = ItemState(Status.RUNNING, attempts=1, mutating_run=True, facts={"pid": 7})
    reading = ItemState(Status.RUNNING, attempts=2)
    assert interrupted(acting) == replace(acting, status=Status.NEEDS_RECONCILE,
                                          message="interrupted: intent journaled, no result")
    assert interrupted(reading) == replace(reading, status=Status.PENDING,
                                           message="interrupted before a result")


def test_evolve_is_dataclasses_replace() -> None:
    st_ = ItemState(facts={"pid": 1}, cosigned_by="bob@desk")
    assert evolve(st_, attempts=2, status=Status.RUNNING) == replace(st_, attempts=2,
                                                                      status=Status.RUNNING)
    state = initial(RB, ENV)
    assert evolve(state, last_seq=9, phase=1) == replace(state, last_seq=9, phase=1)
    with pytest.raises(TypeError, match="no field 'atempts'"):
        evolve(st_, atempts=2)
    with pytest.raises(FrozenInstanceError):
        evolve(st_).attempts = 3  # type: ignore[misc]


def test_a_live_run_interrupting_an_item_shows_what_a_fresh_fold_shows(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.db")
    try:
        run = Run.start(journal, RB, ENV, {}, REG, OPERATOR, dry_run=False)
        run.emit(Ev.ITEM_STARTED, "ok", {"command": "true"})
        run.emit(Ev.ITEM_RESULT, "ok", {"outcome": "passed", "exit_code": 0})
        run.emit(Ev.ITEM_INTENT, "act", {"command": "true"})
        run.emit(Ev.ITEM_FACT, "act", {"key": "pid", "value": 4242})
        run.emit(Ev.ITEM_STARTED, "bad", {"command": "false"})
        running_before = run.state

        run.interrupted("act")  # its detached step died without a result
        fresh = fold(RB, ENV, journal.events(run.meta.id))
        assert run.state.items["act"] == fresh.items["act"]
        assert run.state.items["act"].status is Status.NEEDS_RECONCILE
        assert run.state.items["act"].facts == {"pid": 4242}
        assert run.state.items["bad"] == running_before.items["bad"]  # still this process's to run

        run.interrupted("bad")
        run.interrupted("c1")  # not running: nothing to do
        assert run.state.items == fresh.items
        assert run.state.last_seq == fresh.last_seq
        assert Run.open(journal, run.meta, RB, {}, REG, OPERATOR).state.items == run.state.items
    finally:
        journal.close()
