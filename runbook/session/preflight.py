"""The pre-flight guards of a run: the questions of `runbook.rules.preflight` for this
session, and their answers journaled.

A front-end asks `Preflight.due(action, item, now)` before acting on an item, asks what it
returns in order, and hands every answer back to `answer` (None when the operator
cancelled): True means go on. Headless and the TUI do nothing else with the guards, so
they ask the same questions at the same moments and journal the same events:
`guard.override` (window, with the reason), `guard.confirmed` (typed-env), `guard.warning`
(the window's budget, once); the notice's answer is the confirmation's note.
"""

from __future__ import annotations

from pathlib import Path

from runbook.execute.stepkind import StepRegistry
from runbook.format.loader import LoadFailed, load
from runbook.format.model import Item, Runbook
from runbook.rules.events import Ev
from runbook.rules.preflight import Action, Guard, Question, due
from runbook.rules.state import initial
from runbook.rules.window import WARNING_GUARD, WindowBudget, expected_remaining
from runbook.session.run import Refused, Run


class Preflight:
    def __init__(self, run: Run) -> None:
        self.run = run
        self._rollback_s: float | None = None  # the rollback's expected duration, read
        self._rollback_read = False  # once, the first time the budget is looked at

    def due(self, action: Action, item: Item | None, now: float) -> list[Question]:
        """What to ask before `action` on `item` now. Nothing for a follower: the transition
        rules refuse its action anyway (and say who drives)."""
        r = self.run
        if not r.driving:
            return []
        return due(r.runbook, r.env, r.state, item, action, now, dry_run=r.meta.dry_run,
                   rollback_s=self.rollback_s)

    def answer(self, question: Question, answer: str | None = "") -> bool:
        """Take the operator's answer: journal it where the guard journals; True if the
        action may go on. A guard already journaled (asked twice at once) is not again."""
        if not question.accepts(answer):
            return False
        r = self.run
        text = (answer or "").strip()
        if question.guard is Guard.WINDOW and Guard.WINDOW not in r.state.guards:
            r.emit(Ev.GUARD_OVERRIDE, data={"guard": Guard.WINDOW.value, "reason": text})
        elif question.guard is Guard.TYPED_ENV and Guard.TYPED_ENV not in r.state.guards:
            r.emit(Ev.GUARD_CONFIRMED, data={"guard": Guard.TYPED_ENV.value,
                                             "reason": f"typed {text}"})
        elif question.guard is Guard.BUDGET and question.budget is not None:
            warn_once(r, question.budget)
        return True

    def rollback_s(self) -> float | None:
        if not self._rollback_read:
            r = self.run
            self._rollback_s = rollback_seconds(r.runbook, r.registry, r.env.name)
            self._rollback_read = True
        return self._rollback_s


def rollback_seconds(runbook: Runbook, registry: StepRegistry, env: str) -> float | None:
    """The expected duration of the runbook's rollback (`rollback:`) in environment `env`,
    or None when it has none or it cannot be read."""
    if not runbook.rollback:
        return None
    try:
        rollback = load(Path(runbook.path).parent / runbook.rollback, registry)
    except LoadFailed:
        return None
    return expected_remaining(rollback, initial(rollback, env))


def warn_once(run: Run, budget: WindowBudget) -> bool:
    """Journal the window warning the first time it applies in a real run; True if it did."""
    if not budget.warn or run.meta.dry_run or run.state.finished or not run.driving \
            or WARNING_GUARD in run.state.guards:
        return False
    try:
        run.emit(Ev.GUARD_WARNING, data={
            "guard": WARNING_GUARD, "reason": budget.text,
            "window_left_s": round(budget.status.remaining_s or 0.0),
            "run_s": round(budget.run_s),
            "rollback_s": None if budget.rollback_s is None else round(budget.rollback_s)})
    except Refused:
        return False
    return True
