"""The run state and its gates: property tests over random operator actions.

The property tests drive `runbook.rules` directly (refusal -> apply, with synthetic
events), and a real `Run` on a temporary journal whose automated items are
`shell` argv [true] / [false]. Whatever the operator does, a phase is never left
while one of its required items is not done, unless it was overridden with a
reason; and folding the journal from scratch gives the incremental state.
The plain unit tests of the gates are in test_gates.py; the runbook in gates_runbook.py.
"""

from __future__ import annotations

import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from runbook.format.model import ItemKind, Runbook
from runbook.journal.sqlite import Journal
from runbook.rules.events import Ev, Event
from runbook.rules.fold import apply, fold
from runbook.rules.gates import blocking
from runbook.rules.state import DONE, RunState, Status, initial
from runbook.rules.transitions import refusal
from runbook.session.run import Refused, Run
from tests.unit.gates_runbook import ACTOR, ENV, OPERATOR, RB, REG, settled

IDS = [i.id for i in RB.all_items()]
REASONS = ["", "   ", "checked by hand"]


# -- the invariants --------------------------------------------------------

def assert_gates_hold(rb: Runbook, state: RunState) -> None:
    """Every phase before the current one has all its required items done."""
    for q in range(state.phase):
        for it in rb.phases[q].items():
            if not it.required:
                continue
            st_ = state.items[it.id]
            assert st_.status in DONE, f"left phase {q} with {it.id} {st_.status}"
            if st_.status is Status.OVERRIDDEN:
                assert st_.reason.strip(), f"{it.id} overridden without a reason"


def assert_refusal_shape(why: object) -> None:
    assert why is None or (isinstance(why, str) and why.strip()), repr(why)


def assert_fold_matches(rb: Runbook, state: RunState, events: list[Event]) -> None:
    folded = fold(rb, ENV, events)
    assert settled(folded) == settled(state)
    assert folded.phase == state.phase
    assert folded.last_seq == state.last_seq


# -- property: the pure state machine ----------------------------------------

OUTCOMES = ["passed", "passed", "failed", "cancelled", "timed-out", "dry-run"]
NAMES = ["confirm", "skip", "override", "choose", "start", "result", "result", "reconcile",
         "cosign", "advance", "advance", "crash", "progress", "progress", "progress"]


@cache
def _sampler(options: tuple[Any, ...]) -> st.SearchStrategy[Any]:
    return st.sampled_from(options)


def pick(data: st.DataObject, options: list[Any] | tuple[Any, ...]) -> Any:
    """One of `options` (strategies are cached: building them dominates the run time)."""
    return data.draw(_sampler(tuple(options)))


def draw_item(data: st.DataObject, state: RunState, running_first: bool = False) -> str:
    """Mostly an item of the current phase (so phases get finished), sometimes any id."""
    running = [i for i, s in state.items.items() if s.status is Status.RUNNING]
    if running_first and running:
        return str(pick(data, running))
    here = [i.id for i in RB.phases[state.phase].items()]
    return str(pick(data, [*here, *here, *IDS, "nope"]))


def progress(data: st.DataObject, state: RunState) -> tuple[Any, ...]:
    """The natural next step for one of the current phase's blockers (or advance)."""
    blockers = blocking(RB, state, state.phase)
    if not blockers:
        return ("advance", 1)
    iid = pick(data, [b.item for b in blockers])
    it, status = RB.item(iid), state.items[iid].status
    if status is Status.RUNNING:
        return ("result", iid, pick(data, OUTCOMES))
    if status in (Status.FAILED, Status.CANCELLED):
        return pick(data, [("start", iid), ("override", iid, "known issue")])
    if status is Status.NEEDS_RECONCILE:
        return ("reconcile", iid, pick(data, ["retry", "done", "abort"]),
                "checked the cluster")
    if it.kind is ItemKind.CHOICE:
        return ("choose", iid, pick(data, ["a", "b"]))
    if it.kind in (ItemKind.CONFIRM, ItemKind.NOTE):
        return ("confirm", iid)
    return ("start", iid)


def draw_action(data: st.DataObject, state: RunState) -> tuple[Any, ...]:
    name = pick(data, NAMES)
    if name == "progress":
        return progress(data, state)
    if name == "crash":
        return (name,)
    if name == "advance":
        return (name, pick(data, [1, 1, 1, 0, 2, -1]))
    item = draw_item(data, state, running_first=name == "result")
    if name in ("skip", "override"):
        return (name, item, pick(data, REASONS))
    if name == "choose":
        return (name, item, pick(data, ["a", "b", "zzz"]))
    if name == "result":
        return (name, item, pick(data, OUTCOMES))
    if name == "reconcile":
        return (name, item, pick(data, ["retry", "done", "abort", "?"]),
                pick(data, REASONS))
    return (name, item)


def proposed(action: tuple[Any, ...], state: RunState) -> tuple[Ev, str | None, dict[str, Any]]:
    name = action[0]
    if name == "advance":
        return Ev.PHASE_ENTERED, None, {"index": state.phase + action[1]}
    item = action[1]
    if name == "confirm":
        return Ev.ITEM_CONFIRMED, item, {}
    if name == "skip":
        return Ev.ITEM_SKIPPED, item, {"reason": action[2]}
    if name == "override":
        return Ev.ITEM_OVERRIDDEN, item, {"reason": action[2]}
    if name == "choose":
        return Ev.ITEM_CHOSEN, item, {"option": action[2]}
    if name == "start":
        mutating = item in IDS and RB.item(item).mutating
        return (Ev.ITEM_INTENT if mutating else Ev.ITEM_STARTED), item, {"command": "x"}
    if name == "result":
        return Ev.ITEM_RESULT, item, {"outcome": action[2], "message": "m", "exit_code": 0}
    if name == "reconcile":
        return Ev.ITEM_RECONCILED, item, {"resolution": action[2], "reason": action[3]}
    if name == "cosign":
        return Ev.ITEM_COSIGNED, item, {}
    raise AssertionError(name)


@settings(max_examples=200, deadline=None)
@given(st.data(), st.integers(0, 80))
def test_random_actions_never_break_the_gates(data: st.DataObject, steps: int) -> None:
    events = [Event(1, 0.0, Ev.SESSION_STARTED, None, ACTOR, {"env": ENV})]
    state = apply(RB, initial(RB, ENV), events[0])
    for _ in range(steps):
        action = draw_action(data, state)
        if action[0] == "crash":  # the process dies; a resume folds the journal
            state = fold(RB, ENV, events)
            assert not any(s.status is Status.RUNNING for s in state.items.values())
            assert_gates_hold(RB, state)
            continue
        kind, item, payload = proposed(action, state)
        why = refusal(RB, state, kind, item, payload, ACTOR)
        assert_refusal_shape(why)
        if why is not None:
            continue
        before = state.phase
        ev = Event(len(events) + 1, float(len(events)), kind, item, ACTOR, payload)
        events.append(ev)
        state = apply(RB, state, ev)
        assert state.phase == (before + 1 if kind is Ev.PHASE_ENTERED else before)
        assert_gates_hold(RB, state)
        if kind is Ev.PHASE_ENTERED:
            assert not blocking(RB, state, before)
        if kind is Ev.ITEM_OVERRIDDEN:
            assert state.items[item].reason.strip()
        assert_fold_matches(RB, state, events)
    event(f"reached phase {state.phase}")


@settings(max_examples=200, deadline=None)
@given(st.data(), st.integers(0, 60))
def test_blocking_agrees_with_the_advance_gate(data: st.DataObject, steps: int) -> None:
    """`blocking` lists exactly the required, not-done items; advancing is refused iff any."""
    state = initial(RB, ENV)
    seq = 0
    for _ in range(steps):
        action = draw_action(data, state)
        if action[0] == "crash":
            continue
        kind, item, payload = proposed(action, state)
        if refusal(RB, state, kind, item, payload, ACTOR) is None:
            seq += 1
            state = apply(RB, state, Event(seq, float(seq), kind, item, ACTOR, payload))
        blockers = blocking(RB, state, state.phase)
        expected = [i.id for i in RB.phases[state.phase].items()
                    if i.required and not state.items[i.id].done]
        assert [b.item for b in blockers] == expected
        assert all(b.reason.strip() for b in blockers)
        why = refusal(RB, state, Ev.PHASE_ENTERED, None, {"index": state.phase + 1}, ACTOR)
        last = state.phase == len(RB.phases) - 1
        assert (why is None) == (not blockers and not last)
        if last:
            assert why == f"can only move to the next phase (now in phase {state.phase + 1})"
        elif blockers:
            assert why == "blocked by: " + "; ".join(str(b) for b in blockers)


# -- property: a real Run on a journal -----------------------------------------

AUTOMATED = ["ok", "bad", "act", "a1", "w"]


def draw_run_action(data: st.DataObject, state: RunState) -> tuple[Any, ...]:
    name = pick(data, ["execute", "confirm", "skip", "override", "choose", "advance",
                       *["progress"] * 6])
    if name == "progress":
        step = progress(data, state)
        if step[0] == "start":
            return ("execute", step[1])
        if step[0] == "advance":
            return ("advance",)
        return step
    if name == "advance":
        return (name,)
    if name == "execute":
        here = [i for i in AUTOMATED if RB.item(i).phase == RB.phases[state.phase].id]
        return (name, pick(data, here or AUTOMATED))
    if name == "choose":
        return (name, "how", pick(data, ["a", "b"]))
    item = draw_item(data, state)
    if name in ("skip", "override"):
        return (name, item, pick(data, REASONS))
    return (name, item)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.integers(0, 30))
def test_a_real_run_keeps_the_gates(data: st.DataObject, steps: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal(Path(tmp) / "journal.db")
        try:
            run = Run.start(journal, RB, ENV, {}, REG, OPERATOR, dry_run=False)
            for _ in range(steps):
                action = draw_run_action(data, run.state)
                name = action[0]
                before = run.state.phase
                try:
                    if name == "execute":
                        run.execute(action[1])
                    elif name == "confirm":
                        run.confirm(action[1])
                    elif name == "skip":
                        run.skip(action[1], action[2])
                    elif name == "override":
                        run.override(action[1], action[2])
                    elif name == "choose":
                        run.choose(action[1], action[2])
                    else:
                        run.advance()
                except Refused as e:
                    assert str(e).strip()
                    assert run.state.phase == before
                assert_gates_hold(RB, run.state)
                assert not any(s.status is Status.RUNNING for s in run.state.items.values())
                assert_fold_matches(RB, run.state, journal.events(run.meta.id))
            event(f"run reached phase {run.state.phase}")
        finally:
            journal.close()
