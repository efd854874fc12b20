"""The pre-flight guards of an environment's policy, as data: what the operator must be asked
before acting on an item, and at which moment.

Each front-end (headless, the TUI, any later one) asks `due(...)` before it acts on an
item, asks the questions it returns, in order, and hands each answer back to the session
(`runbook.session.preflight.Preflight.answer`), which journals it. The moments are the
README's, one per guard:

- outside the maintenance window, a reason, before the first item of the session
  (`FIRST_ITEM`: the operator's first action on any item; journaled `guard.override`);
- the typed environment name, before the first change (`FIRST_CHANGE`: the first mutating
  item to start; journaled `guard.confirmed`);
- the window's budget, before each change (`EACH_CHANGE`): a warning, nothing to answer,
  journaled once (`guard.warning`) the first time it is shown;
- the advance notice, on confirming its item (`CONFIRM`): who sent it, and where (the
  answer is the confirmation's note).

Dry runs ask only for the notice's note (the transition rules require it whatever the run).
Pure: the state, the policy and `now` (epoch seconds) in, questions out.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from runbook.format.model import Environment, Item, Runbook
from runbook.rules.state import RunState
from runbook.rules.window import (
    WARNING_GUARD,
    WindowBudget,
    expected_remaining,
    notice_due,
    window_budget,
    window_status,
)


class Guard(enum.StrEnum):
    """A pre-flight guard; its value is the `guard` journaled (the key in RunState.guards)."""

    WINDOW = "window"
    TYPED_ENV = "typed-env"
    BUDGET = WARNING_GUARD
    NOTICE = "notice"


class Moment(enum.StrEnum):
    """When a guard's question is asked."""

    FIRST_ITEM = "before the first item"
    FIRST_CHANGE = "before the first change"
    EACH_CHANGE = "before each change"
    CONFIRM = "on confirming the item"


class Action(enum.StrEnum):
    """What the operator is about to do to an item."""

    ACT = "act"  # anything: confirm, choose, skip, override, reconcile, start
    START = "start"  # start an automated item
    CONFIRM = "confirm"  # confirm it (a person checked it)


@dataclass(frozen=True, slots=True)
class Question:
    guard: Guard
    moment: Moment
    title: str  # the situation, one line: "OUTSIDE window Sun 02:00-06:00 UTC: opens in 3d"
    prompt: str  # what is asked
    expect: str = ""  # the one valid answer (the environment's name); else any non-empty one
    warning: bool = False  # nothing to answer: show `title`, hand back "" and go on
    item: str | None = None  # the item acted on
    budget: WindowBudget | None = None  # the warning's figures, for the journal

    def accepts(self, answer: str | None) -> bool:
        """Whether `answer` lets the action go on (None: the operator cancelled)."""
        if self.warning:
            return True
        if answer is None:
            return False
        return answer.strip() == self.expect if self.expect else bool(answer.strip())


def due(runbook: Runbook, env: Environment, state: RunState, item: Item | None, action: Action,
        now: float, *, dry_run: bool, rollback_s: Callable[[], float | None]) -> list[Question]:
    """The questions to ask, in order, before `action` on `item` (None: several items, as
    "run the section's checks"). `rollback_s` gives the rollback's expected duration; it is
    called only when the budget is looked at."""
    out: list[Question] = []
    policy = env.policy
    item_id = item.id if item is not None else None
    if not dry_run and Guard.WINDOW not in state.guards:
        status = window_status(policy.window, now)
        if not status.open:
            out.append(Question(Guard.WINDOW, Moment.FIRST_ITEM, status.text,
                                "Outside the maintenance window: going on needs a reason, "
                                "which is journaled.", item=item_id))
    if action is Action.START and item is not None and item.mutating and not dry_run:
        if policy.typed_confirmation and Guard.TYPED_ENV not in state.guards:
            out.append(Question(Guard.TYPED_ENV, Moment.FIRST_CHANGE,
                                f"This is the first change to {env.name.upper()}.",
                                f"type the environment name ({env.name}) to go on",
                                expect=env.name, item=item_id))
        if policy.window is not None:
            budget = window_budget(policy.window, now, expected_remaining(runbook, state),
                                   rollback_s())
            if budget.warn:
                out.append(Question(Guard.BUDGET, Moment.EACH_CHANGE, budget.text, "",
                                    warning=True, item=item_id, budget=budget))
    if action is Action.CONFIRM and item is not None:
        asks = state.items[item.id].note_required
        if asks and not state.items[item.id].done:
            notice = notice_due(policy, now)
            out.append(Question(Guard.NOTICE, Moment.CONFIRM, notice.text if notice else "",
                                asks, item=item_id))
    return out
