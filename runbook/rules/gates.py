"""Gates: what keeps a phase from being left, and what an item still waits for.

The transition rules (`transitions.py`) refuse leaving a phase while `blocking` lists
anything; the screens and the headless runner show the same list, so the operator
reads the reason the rules will give. Pure functions of the run state.
"""

from __future__ import annotations

from dataclasses import dataclass

from runbook.format.model import Item, ItemKind, Runbook
from runbook.rules.state import ItemState, RunState, Status


@dataclass(frozen=True, slots=True)
class Blocker:
    item: str
    reason: str

    def __str__(self) -> str:
        return f"{self.item}: {self.reason}"


def phase_index(runbook: Runbook, item: Item) -> int:
    for n, p in enumerate(runbook.phases):
        if p.id == item.phase:
            return n
    raise KeyError(item.phase)


def blocking(runbook: Runbook, state: RunState, phase: int) -> list[Blocker]:
    """The required items of `phase` that keep it from being left, and why."""
    out: list[Blocker] = []
    for it in runbook.phases[phase].items():
        st = state.items[it.id]
        if not it.required or st.done:
            continue
        out.append(Blocker(it.id, _why(it, st)))
    return out


def can_advance(runbook: Runbook, state: RunState, phase: int) -> bool:
    return not blocking(runbook, state, phase)


def _why(it: Item, st: ItemState) -> str:
    s = st.status
    if s is Status.RUNNING:
        return "still running"
    if s is Status.FAILED:
        return f"failed ({st.message}); retry it or override with a reason"
    if s is Status.CANCELLED:
        return "cancelled; run it again or override with a reason"
    if s is Status.NEEDS_RECONCILE:
        return "interrupted mid-action; reconcile it (retry, mark done or abort)"
    if it.kind is ItemKind.CHOICE:
        return "no option chosen"
    if it.kind is ItemKind.CONFIRM:
        return "not confirmed"
    if it.kind is ItemKind.WAIT:
        return "watch period not done"
    return "not run yet"


def unmet_needs(runbook: Runbook, state: RunState, item: Item) -> list[str]:
    """The items named in `item.needs` (or made from a template it names) not yet done."""
    out: list[str] = []
    for need in item.needs:
        targets = [i.id for i in runbook.all_items() if i.id == need or i.template_id == need]
        out.extend(t for t in targets if not state.items[t].done)
    return out
