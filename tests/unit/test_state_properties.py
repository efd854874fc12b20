"""The run state and its gates: property tests over random operator actions, and unit tests.

The property tests drive `runbook.state` directly (refusal -> apply, with synthetic
events), and a real `Run` on a temporary journal whose automated items are
`shell` argv [true] / [false]. Whatever the operator does, a phase is never left
while one of its required items is not done, unless it was overridden with a
reason; and folding the journal from scratch gives the incremental state.
"""

from __future__ import annotations

import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from runbook.events import Ev, Event
from runbook.journal import Journal
from runbook.loader import load_text
from runbook.model import ItemKind, Runbook
from runbook.operator import Operator
from runbook.run import Refused, Run
from runbook.state import (
    DONE,
    Blocker,
    RunState,
    Status,
    apply,
    blocking,
    can_advance,
    fold,
    initial,
    refusal,
)
from steps import default_registry

REG = default_registry()
ENV = "local"
ACTOR = "tester@host"

TEXT = """\
runbook: 1
title: Gates
environments:
  local: {namespace: default}
  prod: {namespace: prod}
phases:
  - id: one
    title: One
    sections:
      - id: s1
        title: S1
        items:
          - {id: c1, title: Confirm one}
          - {id: ok, kind: check, title: OK, uses: shell, with: {argv: ["true"]}}
          - {id: bad, kind: check, title: Bad, uses: shell, with: {argv: ["false"]}}
          - {id: act, kind: action, title: Act, uses: shell, with: {argv: ["true"]}, needs: [ok]}
          - {id: n1, kind: note, title: A note}
          - {id: opt, title: Optional, required: false}
          - {id: prodonly, title: Prod only, when: {env: [prod]}}
  - id: two
    title: Two
    sections:
      - id: s2
        title: S2
        items:
          - id: how
            kind: choice
            title: How
            options:
              - id: a
                title: A
                items:
                  - {id: a1, kind: action, title: A1, uses: shell, with: {argv: ["true"]}}
              - id: b
                title: B
                items:
                  - {id: b1, title: B1}
          - {id: onlyb, title: Only B, when: {choice: how, option: b}}
          - {id: w, kind: wait, title: Watch, for: 0s}
  - id: three
    title: Three
    sections:
      - id: s3
        title: S3
        items:
          - {id: c3, title: Last}
"""

RB: Runbook = load_text(TEXT, "runbooks/gates.yaml", REG)
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


def settled(state: RunState) -> dict[str, tuple[Any, ...]]:
    """What a fold from scratch must give: a running item is interrupted."""
    out = {}
    for iid, s in state.items.items():
        status = s.status
        if status is Status.RUNNING:
            status = Status.NEEDS_RECONCILE if s.mutating_run else Status.PENDING
        out[iid] = (status, s.attempts, s.choice, s.reason, s.actor, s.cosigned_by)
    return out


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

OPERATOR = Operator("tester", "host", "")
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


# -- unit tests of the gates ---------------------------------------------------

class Driver:
    """Synthetic events applied through the gates; refused ones raise."""

    def __init__(self, env: str = ENV) -> None:
        self.env = env
        self.events: list[Event] = []
        self.state = initial(RB, env)

    def why(self, kind: Ev, item: str | None = None, **data: Any) -> str | None:
        return refusal(RB, self.state, kind, item, data, ACTOR)

    def do(self, kind: Ev, item: str | None = None, **data: Any) -> RunState:
        why = self.why(kind, item, **data)
        assert why is None, why
        ev = Event(len(self.events) + 1, float(len(self.events)), kind, item, ACTOR, data)
        self.events.append(ev)
        self.state = apply(RB, self.state, ev)
        return self.state

    def run(self, item: str, outcome: str = "passed", message: str = "") -> None:
        kind = Ev.ITEM_INTENT if RB.item(item).mutating else Ev.ITEM_STARTED
        self.do(kind, item)
        self.do(Ev.ITEM_RESULT, item, outcome=outcome, message=message)

    def finish_phase_one(self) -> None:
        self.do(Ev.ITEM_CONFIRMED, "c1")
        self.run("ok")
        self.run("bad")
        self.run("act")
        self.do(Ev.PHASE_ENTERED, index=1)

    def status(self, item: str) -> Status:
        return self.state.items[item].status


def test_initial_blockers_and_their_reasons() -> None:
    d = Driver()
    assert blocking(RB, d.state, 0) == [
        Blocker("c1", "not confirmed"),
        Blocker("ok", "not run yet"),
        Blocker("bad", "not run yet"),
        Blocker("act", "not run yet"),
    ]  # n1 (a note), opt (not required) and prodonly (other env) do not block
    assert d.status("prodonly") is Status.SKIPPED
    assert d.state.items["prodonly"].reason == "not for environment local"
    assert not can_advance(RB, d.state, 0)


def test_blocker_reasons_follow_the_status() -> None:
    d = Driver()
    d.do(Ev.ITEM_STARTED, "ok")
    d.run("bad", "failed", "exit status 1")
    reasons = {b.item: b.reason for b in blocking(RB, d.state, 0)}
    assert reasons["ok"] == "still running"
    assert reasons["bad"] == "failed (exit status 1); retry it or override with a reason"
    d.do(Ev.ITEM_RESULT, "ok", outcome="cancelled")
    assert {b.item: b.reason for b in blocking(RB, d.state, 0)}["ok"] == \
        "cancelled; run it again or override with a reason"
    assert str(blocking(RB, d.state, 0)[0]) == "c1: not confirmed"


def test_later_phase_reasons() -> None:
    d = Driver()
    d.finish_phase_one()
    reasons = {b.item: b.reason for b in blocking(RB, d.state, 1)}
    assert reasons == {"how": "no option chosen", "a1": "not run yet", "b1": "not confirmed",
                       "onlyb": "not confirmed", "w": "watch period not done"}


def test_advance_refused_while_blocked_and_only_one_phase_at_a_time() -> None:
    d = Driver()
    why = d.why(Ev.PHASE_ENTERED, index=1)
    assert why is not None and why.startswith("blocked by: c1: not confirmed; ok: not run yet")
    assert d.why(Ev.PHASE_ENTERED, index=2) == "can only move to the next phase (now in phase 1)"
    d.do(Ev.ITEM_CONFIRMED, "c1")
    d.run("ok")
    d.run("act")
    d.run("bad", "failed", "exit status 1")
    assert d.why(Ev.PHASE_ENTERED, index=1) == (
        "blocked by: bad: failed (exit status 1); retry it or override with a reason")
    d.do(Ev.ITEM_OVERRIDDEN, "bad", reason="known flaky")
    assert d.do(Ev.PHASE_ENTERED, index=1).phase == 1
    assert d.state.items["bad"].reason == "known flaky"


def test_later_phase_is_locked() -> None:
    d = Driver()
    assert d.why(Ev.ITEM_CONFIRMED, "c3") == \
        "phase 'Three' is locked until the earlier phases are done"
    assert d.why(Ev.ITEM_CHOSEN, "how", option="a") == \
        "phase 'Two' is locked until the earlier phases are done"


def test_a_running_item_cannot_be_confirmed_skipped_or_overridden() -> None:
    d = Driver()
    d.do(Ev.ITEM_STARTED, "ok")
    running = "it is running; wait for it or cancel it first"
    assert d.why(Ev.ITEM_CONFIRMED, "ok") == running
    assert d.why(Ev.ITEM_OVERRIDDEN, "ok", reason="r") == running
    assert d.why(Ev.ITEM_STARTED, "ok") == "cannot run: it is running"
    d.do(Ev.ITEM_RESULT, "ok", outcome="passed")
    assert d.why(Ev.ITEM_RESULT, "ok", outcome="passed") == "no run in progress"


def test_automated_items_are_not_confirmed_and_confirms_are_not_run() -> None:
    d = Driver()
    assert d.why(Ev.ITEM_CONFIRMED, "act") == "an action item is not confirmed by hand"
    assert d.why(Ev.ITEM_CONFIRMED, "ok") == "a check item is not confirmed by hand"
    assert d.why(Ev.ITEM_STARTED, "c1") == "a confirm item is not run"
    d.do(Ev.ITEM_CONFIRMED, "c1")
    assert d.why(Ev.ITEM_CONFIRMED, "c1") == "already confirmed"


def test_skip_rules() -> None:
    d = Driver()
    assert d.why(Ev.ITEM_SKIPPED, "c1", reason="busy") == \
        "a required item cannot be skipped; override it with a reason"
    assert d.why(Ev.ITEM_SKIPPED, "opt", reason="") == "a skip needs a reason"
    assert d.why(Ev.ITEM_SKIPPED, "opt", reason="  ") == "a skip needs a reason"
    d.do(Ev.ITEM_SKIPPED, "opt", reason="not today")
    assert d.status("opt") is Status.SKIPPED
    assert d.why(Ev.ITEM_SKIPPED, "opt", reason="again") == "already skipped"


def test_override_needs_a_reason() -> None:
    d = Driver()
    assert d.why(Ev.ITEM_OVERRIDDEN, "c1") == "an override needs a reason"
    assert d.why(Ev.ITEM_OVERRIDDEN, "c1", reason="") == "an override needs a reason"
    assert d.why(Ev.ITEM_OVERRIDDEN, "c1", reason=" \t ") == "an override needs a reason"
    d.do(Ev.ITEM_OVERRIDDEN, "c1", reason="done out of band")
    assert d.state.items["c1"].reason == "done out of band"
    assert d.why(Ev.ITEM_OVERRIDDEN, "c1", reason="again") == "already overridden"


def test_needs_must_be_done_first() -> None:
    d = Driver()
    assert d.why(Ev.ITEM_INTENT, "act") == "waiting for: ok"
    d.run("ok", "failed")
    assert d.why(Ev.ITEM_INTENT, "act") == "waiting for: ok"
    d.run("ok")
    assert d.why(Ev.ITEM_INTENT, "act") is None


def test_choosing_an_option_marks_the_other_branch_not_taken() -> None:
    d = Driver()
    d.finish_phase_one()
    assert d.why(Ev.ITEM_INTENT, "a1") == "choose option 'a' of 'how' first"
    assert d.why(Ev.ITEM_CONFIRMED, "b1") == "choose option 'b' of 'how' first"
    assert d.why(Ev.ITEM_CHOSEN, "how", option="c") == "no option 'c'"
    assert d.why(Ev.ITEM_CHOSEN, "c1", option="a") == "not a choice item"
    d.do(Ev.ITEM_CHOSEN, "how", option="a")
    assert d.status("how") is Status.CONFIRMED
    assert d.state.items["how"].choice == "a"
    assert d.status("b1") is Status.NOT_TAKEN
    assert d.state.items["b1"].reason == "option 'a' chosen"
    assert d.status("onlyb") is Status.NOT_TAKEN  # when: {choice: how, option: b}
    assert d.status("a1") is Status.PENDING
    assert d.why(Ev.ITEM_CONFIRMED, "b1") == "not taken: option 'a' chosen"
    assert d.why(Ev.ITEM_CHOSEN, "how", option="b") == "option 'a' was already chosen"
    assert [b.item for b in blocking(RB, d.state, 1)] == ["a1", "w"]
    d.run("a1")
    d.run("w")
    assert d.do(Ev.PHASE_ENTERED, index=2).phase == 2


def test_choosing_the_other_option() -> None:
    d = Driver()
    d.finish_phase_one()
    d.do(Ev.ITEM_CHOSEN, "how", option="b")
    assert d.status("a1") is Status.NOT_TAKEN
    assert d.status("b1") is Status.PENDING
    assert d.status("onlyb") is Status.PENDING
    assert [b.item for b in blocking(RB, d.state, 1)] == ["b1", "onlyb", "w"]


def test_intent_without_result_folds_to_needs_reconcile() -> None:
    d = Driver()
    d.run("ok")
    d.do(Ev.ITEM_INTENT, "act")
    assert d.status("act") is Status.RUNNING  # apply: it is still running
    folded = fold(RB, ENV, d.events)
    assert folded.items["act"].status is Status.NEEDS_RECONCILE
    assert folded.items["act"].message == "interrupted: intent journaled, no result"
    assert {b.item: b.reason for b in blocking(RB, folded, 0)}["act"] == \
        "interrupted mid-action; reconcile it (retry, mark done or abort)"
    d.state = folded
    assert d.why(Ev.ITEM_INTENT, "act") == "cannot run: it is needs-reconcile"
    assert d.why(Ev.ITEM_RECONCILED, "act", resolution="done", reason="") == \
        "marking an interrupted action done needs a reason"
    assert d.why(Ev.ITEM_RECONCILED, "act", resolution="maybe") == \
        "resolution must be retry, done or abort"
    d.do(Ev.ITEM_RECONCILED, "act", resolution="retry")
    assert d.status("act") is Status.PENDING
    assert d.why(Ev.ITEM_RECONCILED, "act", resolution="retry") == "nothing to reconcile"


def test_read_only_started_without_result_folds_to_pending() -> None:
    d = Driver()
    d.do(Ev.ITEM_STARTED, "ok")
    folded = fold(RB, ENV, d.events)
    assert folded.items["ok"].status is Status.PENDING
    assert folded.items["ok"].message == "interrupted before a result"
    assert folded.items["ok"].attempts == 1
    d.state = folded
    assert d.why(Ev.ITEM_STARTED, "ok") is None  # it can simply be run again


def test_a_finished_session_refuses_everything() -> None:
    d = Driver()
    d.do(Ev.SESSION_FINISHED)
    assert d.state.finished
    assert d.why(Ev.ITEM_CONFIRMED, "c1") == "the session is finished"
    assert d.why(Ev.PHASE_ENTERED, index=1) == "the session is finished"
    assert fold(RB, ENV, d.events).finished


def test_unknown_item_is_refused() -> None:
    assert Driver().why(Ev.ITEM_CONFIRMED, "nope") == "no item 'nope'"


def test_apply_does_not_touch_the_old_state() -> None:
    d = Driver()
    before = d.state
    d.do(Ev.ITEM_CONFIRMED, "c1")
    assert before.items["c1"].status is Status.PENDING


# -- the same gates through a real Run -----------------------------------------

@pytest.fixture
def run(tmp_path: Path):
    journal = Journal(tmp_path / "journal.db")
    r = Run.start(journal, RB, ENV, {}, REG, OPERATOR, dry_run=False)
    yield r
    journal.close()


def test_run_blocks_then_overrides(run: Run) -> None:
    run.confirm("c1")
    assert run.execute("ok").outcome == "passed"
    assert run.execute("bad").outcome == "failed"
    assert run.execute("act").outcome == "passed"
    with pytest.raises(Refused, match=r"^blocked by: bad: failed \(exit status 1\)"):
        run.advance()
    with pytest.raises(Refused, match=r"^bad: an override needs a reason$"):
        run.override("bad", "  ")
    with pytest.raises(Refused, match=r"^c1: already confirmed$"):
        run.confirm("c1")
    run.override("bad", "false is expected to fail")
    run.advance()
    assert run.state.phase == 1
    run.choose("how", "b")
    assert run.state.items["a1"].status is Status.NOT_TAKEN
    with pytest.raises(Refused, match=r"^a1: not taken"):
        run.execute("a1")
    events = run.journal.events(run.meta.id)
    assert settled(fold(RB, ENV, events)) == settled(run.state)


def test_executing_a_confirm_item_is_refused(run: Run) -> None:
    with pytest.raises(Refused, match=r"^c1: a confirm item is not run$"):
        run.execute("c1")
