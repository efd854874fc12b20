"""What a transition rule is: a proposed event, and a named rule that may refuse it.

Modelled on Prefect's orchestration rules: a rule governs some kinds of event (Prefect's
from/to states), has a name and a docstring that says why it exists, and gives the reason
it refuses, or None. The rules themselves, in their order, are in `transitions.py`.
"""

from __future__ import annotations

import enum
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from runbook.format.model import Item, Runbook
from runbook.rules.events import Ev
from runbook.rules.state import ItemState, RunState, item_index


@dataclass(frozen=True, slots=True)
class Proposal:
    """An event someone proposes now, and what the rules look at to allow it."""

    runbook: Runbook
    state: RunState
    kind: Ev
    item_id: str | None
    data: dict[str, Any]
    actor: str
    item: Item | None  # the runbook's item named by item_id, if it has one

    @property
    def st(self) -> ItemState:
        assert self.item_id is not None
        return self.state.items[self.item_id]

    def text(self, key: str) -> str:
        """A payload field as the operator typed it, blank when only spaces."""
        return str(self.data.get(key, "")).strip()


def propose(runbook: Runbook, state: RunState, kind: Ev, item_id: str | None,
            data: dict[str, Any], actor: str) -> Proposal:
    """The proposal, with the item it names looked up once for every rule."""
    item = item_index(runbook).get(item_id) if item_id is not None else None
    return Proposal(runbook, state, kind, item_id, data, actor, item)


class About(enum.Enum):
    SESSION = "session"  # every proposal of the rule's kinds
    ITEM_ID = "item id"  # proposals that name an item, known to the runbook or not
    ITEM = "item"  # proposals that name an item the runbook has


Check = Callable[[Proposal], str | None]


@dataclass(frozen=True, slots=True)
class Rule:
    """A named check, consulted only for the proposals it governs."""

    name: str
    kinds: frozenset[Ev]
    about: About
    check: Check
    why: str  # the rule's docstring: why it exists

    def applies(self, p: Proposal) -> bool:
        if p.kind not in self.kinds:
            return False
        if self.about is About.SESSION:
            return True
        return p.item_id is not None and (self.about is About.ITEM_ID or p.item is not None)

    def __call__(self, p: Proposal) -> str | None:
        """The reason this rule refuses `p`, or None (also when it does not govern `p`)."""
        return self.check(p) if self.applies(p) else None


def rule(kinds: Iterable[Ev], about: About = About.ITEM) -> Callable[[Check], Rule]:
    """Make the decorated check a Rule named after it, with its docstring as the why."""

    def make(check: Check) -> Rule:
        return Rule(check.__name__, frozenset(kinds), about, check, inspect.getdoc(check) or "")
    return make
