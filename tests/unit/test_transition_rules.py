"""Each transition rule on its own: it refuses exactly its case, with its reason, and allows the
neighbours (the same event just inside the rule, or an event the rule does not govern).

The cases are a table, one entry per rule of POLICY; a rule without an entry fails
`test_every_rule_has_its_case`. Each refused case is also checked through `refusal`, so the
policy's order gives that rule's reason first. The runbook is the gate-test runbook
(gates_runbook.py); states are built by editing items directly, as the fold would leave them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from runbook.format.loader import load_text
from runbook.format.model import Runbook
from runbook.rules import transitions as t
from runbook.rules.events import Ev, Event
from runbook.rules.fold import apply
from runbook.rules.gates import blocking
from runbook.rules.proposal import Proposal, Rule, propose
from runbook.rules.state import NOTICE_NOTE, RunState, Status, evolve, initial
from runbook.rules.transitions import POLICY, refusal
from tests.unit.gates_runbook import ACTOR, ENV, RB, REG

START = apply(RB, initial(RB, ENV), Event(1, 0.0, Ev.SESSION_STARTED, None, ACTOR, {"env": ENV}))

# a runbook with a confirmation that needs a check (the gate runbook has none)
NEEDS_RB: Runbook = load_text("""\
runbook: 1
title: Needs
environments:
  local: {namespace: default}
phases:
  - id: p
    title: P
    sections:
      - id: s
        title: S
        items:
          - {id: ok, kind: check, title: OK, uses: shell, with: {argv: ["true"]}}
          - {id: after, title: After, needs: [ok]}
""", "runbooks/needs.yaml", REG)


def state(phase: int = 0, finished: bool = False, base: RunState = START,
          **items: dict[str, Any]) -> RunState:
    """`base` with some items' fields set (`ok={"status": Status.PASSED}`)."""
    changed = dict(base.items)
    for iid, fields in items.items():
        changed[iid] = evolve(changed[iid], **fields)
    return evolve(base, items=changed, phase=phase, finished=finished)


def p(kind: Ev, item: str | None = None, at: RunState = START, rb: Runbook = RB,
      **data: Any) -> Proposal:
    return propose(rb, at, kind, item, data, ACTOR)


PASSED = {"status": Status.PASSED}
RUNNING = {"status": Status.RUNNING}
PHASE_ONE_DONE = state(c1={"status": Status.CONFIRMED}, ok=PASSED, bad={"status": Status.OVERRIDDEN},
                       act=PASSED, n1={"status": Status.CONFIRMED})
IN_TWO = state(phase=1)
CHOSE_A = state(phase=1, how={"status": Status.CONFIRMED, "choice": "a"},
                b1={"status": Status.NOT_TAKEN, "reason": "option 'a' chosen"})


@dataclass
class Case:
    refused: list[tuple[Proposal, str]]  # proposals the rule refuses, and its reason
    allowed: list[Proposal] = field(default_factory=list)  # its neighbours, which it lets by


CASES: dict[Rule, Case] = {
    t.session_finished: Case(
        [(p(Ev.ITEM_CONFIRMED, "c1", state(finished=True)), "the session is finished"),
         (p(Ev.PHASE_ENTERED, at=state(finished=True), index=1), "the session is finished")],
        [p(Ev.SESSION_RESUMED, at=state(finished=True)), p(Ev.NOTIFY_FAILED, at=state(finished=True)),
         p(Ev.ITEM_CONFIRMED, "c1")]),
    t.next_phase_only: Case(
        [(p(Ev.PHASE_ENTERED, index=2), "can only move to the next phase (now in phase 1)"),
         (p(Ev.PHASE_ENTERED, index=0), "can only move to the next phase (now in phase 1)"),
         (p(Ev.PHASE_ENTERED), "can only move to the next phase (now in phase 1)"),
         (p(Ev.PHASE_ENTERED, at=state(phase=2), index=3),
          "can only move to the next phase (now in phase 3)")],
        [p(Ev.PHASE_ENTERED, index=1), p(Ev.PHASE_ENTERED, at=IN_TWO, index=2),
         p(Ev.ITEM_CONFIRMED, "c1", index=5)]),
    t.phase_blocked: Case(
        [(p(Ev.PHASE_ENTERED, index=1),
          "blocked by: " + "; ".join(str(b) for b in blocking(RB, START, 0))),
         (p(Ev.PHASE_ENTERED, at=state(base=PHASE_ONE_DONE, bad={"status": Status.FAILED,
                                                                 "message": "exit status 1"}),
            index=1),
          "blocked by: bad: failed (exit status 1); retry it or override with a reason")],
        [p(Ev.PHASE_ENTERED, at=PHASE_ONE_DONE, index=1), p(Ev.ITEM_CONFIRMED, "c1")]),
    t.unknown_item: Case(
        [(p(Ev.ITEM_CONFIRMED, "nope"), "no item 'nope'"),
         (p(Ev.ITEM_RESULT, "nope", outcome="passed"), "no item 'nope'")],
        [p(Ev.ITEM_CONFIRMED, "c1"), p(Ev.PHASE_ENTERED, "nope", index=1),
         p(Ev.GUARD_OVERRIDE, guard="window", reason="x")]),
    t.phase_locked: Case(
        [(p(Ev.ITEM_CONFIRMED, "c3"), "phase 'Three' is locked until the earlier phases are done"),
         (p(Ev.ITEM_STARTED, "w", at=START), "phase 'Two' is locked until the earlier phases are done")],
        [p(Ev.ITEM_CONFIRMED, "c3", state(phase=2)), p(Ev.ITEM_RESULT, "w", outcome="passed"),
         p(Ev.ITEM_FACT, "w", key="k", value=1), p(Ev.ITEM_CONFIRMED, "c1")]),
    t.not_taken: Case(
        [(p(Ev.ITEM_CONFIRMED, "b1", CHOSE_A), "not taken: option 'a' chosen"),
         (p(Ev.ITEM_OVERRIDDEN, "b1", CHOSE_A, reason="r"), "not taken: option 'a' chosen")],
        [p(Ev.ITEM_RESULT, "b1", CHOSE_A), p(Ev.ITEM_CONFIRMED, "b1", IN_TWO),
         p(Ev.ITEM_STARTED, "a1", CHOSE_A)]),
    t.branch_not_chosen: Case(
        [(p(Ev.ITEM_STARTED, "a1", IN_TWO), "choose option 'a' of 'how' first"),
         (p(Ev.ITEM_CONFIRMED, "b1", state(phase=1, how={"choice": "a"})),
          "choose option 'b' of 'how' first")],
        [p(Ev.ITEM_STARTED, "a1", CHOSE_A), p(Ev.ITEM_RESULT, "a1", IN_TWO),
         p(Ev.ITEM_STARTED, "w", IN_TWO)]),
    t.condition_unanswered: Case(
        [(p(Ev.ITEM_CONFIRMED, "onlyb", IN_TWO), "answer 'how' first (this item applies only to 'b')")],
        [p(Ev.ITEM_CONFIRMED, "onlyb", state(phase=1, how={"choice": "b"})),
         p(Ev.ITEM_FACT, "onlyb", IN_TWO), p(Ev.ITEM_CONFIRMED, "c1")]),
    t.not_runnable: Case(
        [(p(Ev.ITEM_STARTED, "c1"), "a confirm item is not run"),
         (p(Ev.ITEM_INTENT, "n1"), "a note item is not run"),
         (p(Ev.ITEM_STARTED, "how", IN_TWO), "a choice item is not run")],
        [p(Ev.ITEM_STARTED, "ok"), p(Ev.ITEM_INTENT, "act"), p(Ev.ITEM_STARTED, "w", IN_TWO),
         p(Ev.ITEM_CONFIRMED, "c1")]),
    t.not_startable: Case(
        [(p(Ev.ITEM_STARTED, "ok", state(ok=PASSED)), "cannot run: it is passed"),
         (p(Ev.ITEM_STARTED, "ok", state(ok=RUNNING)), "cannot run: it is running"),
         (p(Ev.ITEM_INTENT, "act", state(act={"status": Status.NEEDS_RECONCILE})),
          "cannot run: it is needs-reconcile")],
        [p(Ev.ITEM_STARTED, "ok"), p(Ev.ITEM_STARTED, "bad", state(bad={"status": Status.FAILED})),
         p(Ev.ITEM_STARTED, "bad", state(bad={"status": Status.CANCELLED})),
         p(Ev.ITEM_RESULT, "ok", state(ok=RUNNING))]),
    t.no_run_in_progress: Case(
        [(p(Ev.ITEM_RESULT, "ok", outcome="passed"), "no run in progress"),
         (p(Ev.ITEM_FACT, "ok", state(ok=PASSED), key="pid", value=1), "no run in progress")],
        [p(Ev.ITEM_RESULT, "ok", state(ok=RUNNING)), p(Ev.ITEM_FACT, "ok", state(ok=RUNNING)),
         p(Ev.ITEM_STARTED, "ok")]),
    t.item_running: Case(
        [(p(Ev.ITEM_OVERRIDDEN, "ok", state(ok=RUNNING), reason="r"),
          "it is running; wait for it or cancel it first"),
         (p(Ev.ITEM_COSIGNED, "act", state(act=RUNNING)), "it is running; wait for it or cancel it first")],
        [p(Ev.ITEM_RESULT, "ok", state(ok=RUNNING)), p(Ev.ITEM_STARTED, "ok", state(ok=RUNNING)),
         p(Ev.ITEM_OVERRIDDEN, "ok", reason="r")]),
    t.not_confirmable: Case(
        [(p(Ev.ITEM_CONFIRMED, "ok"), "a check item is not confirmed by hand"),
         (p(Ev.ITEM_CONFIRMED, "act"), "an action item is not confirmed by hand"),
         (p(Ev.ITEM_CONFIRMED, "w", IN_TWO), "a wait item is not confirmed by hand")],
        [p(Ev.ITEM_CONFIRMED, "c1"), p(Ev.ITEM_CONFIRMED, "n1"), p(Ev.ITEM_OVERRIDDEN, "ok", reason="r")]),
    t.required_not_skippable: Case(
        [(p(Ev.ITEM_SKIPPED, "c1", reason="r"),
          "a required item cannot be skipped; override it with a reason")],
        [p(Ev.ITEM_SKIPPED, "opt", reason="r"), p(Ev.ITEM_OVERRIDDEN, "c1", reason="r")]),
    t.already_done: Case(
        [(p(Ev.ITEM_CONFIRMED, "c1", state(c1={"status": Status.CONFIRMED})), "already confirmed"),
         (p(Ev.ITEM_OVERRIDDEN, "ok", state(ok=PASSED), reason="r"), "already passed"),
         (p(Ev.ITEM_SKIPPED, "opt", state(opt={"status": Status.SKIPPED}), reason="r"), "already skipped"),
         (p(Ev.ITEM_OVERRIDDEN, "prodonly", reason="r"), "already skipped")],
        [p(Ev.ITEM_CONFIRMED, "c1"), p(Ev.ITEM_OVERRIDDEN, "bad", state(bad={"status": Status.FAILED}),
                                       reason="r"),
         p(Ev.ITEM_COSIGNED, "ok", state(ok=PASSED))]),
    t.needs_unmet: Case(
        [(p(Ev.ITEM_INTENT, "act"), "waiting for: ok"),
         (p(Ev.ITEM_INTENT, "act", state(ok={"status": Status.FAILED})), "waiting for: ok"),
         (p(Ev.ITEM_CONFIRMED, "after", rb=NEEDS_RB, at=initial(NEEDS_RB, ENV)), "waiting for: ok")],
        [p(Ev.ITEM_INTENT, "act", state(ok=PASSED)), p(Ev.ITEM_OVERRIDDEN, "act", reason="r"),
         p(Ev.ITEM_CONFIRMED, "after", rb=NEEDS_RB,
           at=state(base=initial(NEEDS_RB, ENV), ok={"status": Status.OVERRIDDEN}))]),
    t.note_required: Case(
        [(p(Ev.ITEM_CONFIRMED, "c1", state(c1={"note_required": NOTICE_NOTE})),
          f"confirming it needs a note saying {NOTICE_NOTE} (or override it with that as the reason)"),
         (p(Ev.ITEM_CONFIRMED, "c1", state(c1={"note_required": NOTICE_NOTE}), note="   "),
          f"confirming it needs a note saying {NOTICE_NOTE} (or override it with that as the reason)")],
        [p(Ev.ITEM_CONFIRMED, "c1", state(c1={"note_required": NOTICE_NOTE}), note="amy, in #ops"),
         p(Ev.ITEM_CONFIRMED, "c1"),
         p(Ev.ITEM_OVERRIDDEN, "c1", state(c1={"note_required": NOTICE_NOTE}), reason="r")]),
    t.skip_needs_reason: Case(
        [(p(Ev.ITEM_SKIPPED, "opt"), "a skip needs a reason"),
         (p(Ev.ITEM_SKIPPED, "opt", reason="  "), "a skip needs a reason")],
        [p(Ev.ITEM_SKIPPED, "opt", reason="not today"), p(Ev.ITEM_CONFIRMED, "opt")]),
    t.override_needs_reason: Case(
        [(p(Ev.ITEM_OVERRIDDEN, "bad"), "an override needs a reason"),
         (p(Ev.ITEM_OVERRIDDEN, "bad", reason=" "), "an override needs a reason")],
        [p(Ev.ITEM_OVERRIDDEN, "bad", reason="known issue"), p(Ev.ITEM_SKIPPED, "opt", reason="r")]),
    t.not_a_choice: Case(
        [(p(Ev.ITEM_CHOSEN, "c1", option="a"), "not a choice item")],
        [p(Ev.ITEM_CHOSEN, "how", IN_TWO, option="a"), p(Ev.ITEM_CONFIRMED, "c1")]),
    t.already_chosen: Case(
        [(p(Ev.ITEM_CHOSEN, "how", CHOSE_A, option="b"), "option 'a' was already chosen")],
        [p(Ev.ITEM_CHOSEN, "how", IN_TWO, option="b")]),
    t.unknown_option: Case(
        [(p(Ev.ITEM_CHOSEN, "how", IN_TWO, option="zzz"), "no option 'zzz'"),
         (p(Ev.ITEM_CHOSEN, "how", IN_TWO), "no option None")],
        [p(Ev.ITEM_CHOSEN, "how", IN_TWO, option="b")]),
    t.nothing_to_reconcile: Case(
        [(p(Ev.ITEM_RECONCILED, "act", resolution="retry"), "nothing to reconcile"),
         (p(Ev.ITEM_RECONCILED, "act", state(act={"status": Status.FAILED}), resolution="retry"),
          "nothing to reconcile")],
        [p(Ev.ITEM_RECONCILED, "act", state(act={"status": Status.NEEDS_RECONCILE}), resolution="retry")]),
    t.bad_resolution: Case(
        [(p(Ev.ITEM_RECONCILED, "act", state(act={"status": Status.NEEDS_RECONCILE}), resolution="?"),
          "resolution must be retry, done or abort"),
         (p(Ev.ITEM_RECONCILED, "act", state(act={"status": Status.NEEDS_RECONCILE})),
          "resolution must be retry, done or abort")],
        [p(Ev.ITEM_RECONCILED, "act", state(act={"status": Status.NEEDS_RECONCILE}), resolution=r)
         for r in ("retry", "abort")]),
    t.done_needs_reason: Case(
        [(p(Ev.ITEM_RECONCILED, "act", state(act={"status": Status.NEEDS_RECONCILE}), resolution="done"),
          "marking an interrupted action done needs a reason"),
         (p(Ev.ITEM_RECONCILED, "act", state(act={"status": Status.NEEDS_RECONCILE}), resolution="done",
            reason="  "), "marking an interrupted action done needs a reason")],
        [p(Ev.ITEM_RECONCILED, "act", state(act={"status": Status.NEEDS_RECONCILE}), resolution="done",
           reason="the rollout finished"),
         p(Ev.ITEM_RECONCILED, "act", state(act={"status": Status.NEEDS_RECONCILE}), resolution="retry")]),
    t.already_cosigned: Case(
        [(p(Ev.ITEM_COSIGNED, "act", state(act={"cosigned_by": "bob@desk"})),
          "already co-signed by bob@desk")],
        [p(Ev.ITEM_COSIGNED, "act"), p(Ev.ITEM_INTENT, "act", state(act={"cosigned_by": "bob@desk"}))]),
}


def test_every_rule_has_its_case() -> None:
    assert set(CASES) == set(POLICY)
    assert len({r.name for r in POLICY}) == len(POLICY)


@pytest.mark.parametrize("rule", POLICY, ids=lambda r: r.name)
def test_the_rule_refuses_its_case_and_allows_the_neighbours(rule: Rule) -> None:
    case = CASES[rule]
    for proposal, reason in case.refused:
        assert rule(proposal) == reason, proposal
        # and in the policy, no earlier rule speaks first
        assert refusal(proposal.runbook, proposal.state, proposal.kind, proposal.item_id,
                       proposal.data, proposal.actor) == reason, proposal
    for proposal in case.allowed:
        assert rule(proposal) is None, proposal


@pytest.mark.parametrize("rule", POLICY, ids=lambda r: r.name)
def test_the_rule_says_why_it_exists(rule: Rule) -> None:
    assert rule.why.strip()
    assert rule.kinds


def test_refusal_is_the_first_rule_that_refuses() -> None:
    """A finished session, in phase one, confirming a later phase's watch: the policy's order
    decides which of the three reasons is given."""
    proposal = p(Ev.ITEM_CONFIRMED, "w", state(finished=True))
    refusing = [r.name for r in POLICY if r(proposal) is not None]
    assert refusing == ["session_finished", "phase_locked", "not_confirmable"]
    assert refusal(RB, proposal.state, Ev.ITEM_CONFIRMED, "w", {}, ACTOR) == "the session is finished"


def test_nothing_refuses_what_no_rule_governs() -> None:
    assert refusal(RB, START, Ev.GUARD_OVERRIDE, None, {"guard": "window"}, ACTOR) is None
    assert refusal(RB, START, Ev.FOLLOWER_JOINED, None, {"token": "t"}, ACTOR) is None
    assert refusal(RB, START, Ev.ITEM_CONFIRMED, "c1", {}, ACTOR) is None
