"""The run state's gates: unit tests with synthetic events, and the same gates through a real Run.

The runbook they use (and `settled`) is in gates_runbook.py; the property tests over random
operator actions are in test_state_properties.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runbook.journal.sqlite import Journal
from runbook.rules.events import Ev, Event
from runbook.rules.fold import apply, fold
from runbook.rules.gates import Blocker, blocking, can_advance
from runbook.rules.state import RunState, Status, initial
from runbook.rules.transitions import refusal
from runbook.session.run import Refused, Run
from tests.unit.gates_runbook import ACTOR, ENV, OPERATOR, RB, REG, settled

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
