"""The run state as a fold over the journal: `apply` one event, `fold` them all.

`fold` is `reduce(apply)` from the initial state, then one pass, `interrupt`: an item
still running when the events end was being run by a process that is gone (a resume,
an attach, a report all start from the journal), so it is shown interrupted. A live
`Run` keeps its running items running (it is the process running them) and uses the
same pass for one item when a detached step dies without a result, so a fresh process
folding the journal shows exactly what the live one shows.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial, reduce
from typing import Any

from runbook.format.model import Runbook
from runbook.rules.events import Ev, Event
from runbook.rules.state import ItemState, RunState, Status, evolve, initial, item_index

# guard events fold into RunState.guards: guard name -> reason (or who confirmed it)
GUARD_EVENTS = (Ev.GUARD_OVERRIDE, Ev.GUARD_CONFIRMED, Ev.GUARD_WARNING)
DRIVER_EVENTS = (Ev.SESSION_STARTED, Ev.SESSION_RESUMED, Ev.WHEEL_PASSED)
PAIRING_EVENTS = (Ev.FOLLOWER_JOINED, Ev.FOLLOWER_LEFT, Ev.WHEEL_REQUESTED, Ev.WHEEL_PASSED)

# an item's status after its result (by outcome) and after reconciling (by resolution); else failed
_RESULT_STATUS = {"passed": Status.PASSED, "dry-run": Status.DRY_RUN, "cancelled": Status.CANCELLED}
_RECONCILED_STATUS = {"done": Status.PASSED, "retry": Status.PENDING}

INTERRUPTED_ACTING = "interrupted: intent journaled, no result"
INTERRUPTED_READING = "interrupted before a result"


def fold(runbook: Runbook, env: str, events: Iterable[Event]) -> RunState:
    """The state after `events`, seen by a process that runs nothing yet. An intent with
    no result is needs-reconcile."""
    return interrupt(reduce(partial(apply, runbook), events, initial(runbook, env)))


def interrupt(state: RunState, only: Iterable[str] | None = None) -> RunState:
    """The running items (all, or those of `only`) as interrupted: nobody runs them now."""
    items = dict(state.items)
    changed = False
    for iid in state.items if only is None else only:
        st = items[iid]
        if st.status is Status.RUNNING:
            items[iid] = interrupted(st)
            changed = True
    return evolve(state, items=items) if changed else state


def interrupted(st: ItemState) -> ItemState:
    """A running item with no result: after an intent it may have acted, so it must be
    reconciled, never simply re-run; a read-only start can just run again."""
    if st.mutating_run:
        return evolve(st, status=Status.NEEDS_RECONCILE, message=INTERRUPTED_ACTING)
    return evolve(st, status=Status.PENDING, message=INTERRUPTED_READING)


def apply(runbook: Runbook, state: RunState, ev: Event) -> RunState:
    """The state after one more event (running items stay running)."""
    if ev.item is None:
        return _apply_session(state, ev)
    if ev.item not in state.items:  # (an item of an older version of the runbook)
        return evolve(state, last_seq=ev.seq)
    items = dict(state.items)
    _apply_item(runbook, items, ev)
    return evolve(state, items=items, last_seq=ev.seq)


def _apply_session(state: RunState, ev: Event) -> RunState:
    k = ev.kind
    changes: dict[str, Any] = {"last_seq": ev.seq}
    if k in DRIVER_EVENTS:
        changes["driver"] = _driver(ev)
    if k in PAIRING_EVENTS:
        changes.update(_pairing(state, ev))
    if k is Ev.PHASE_ENTERED:
        changes["phase"] = int(ev.get("index", state.phase))
    elif k is Ev.SESSION_FINISHED:
        changes["finished"] = True
    elif k is Ev.SESSION_STARTED:
        changes["started"] = ev.ts
    elif k in GUARD_EVENTS:
        changes["guards"] = {**state.guards, str(ev.get("guard")): str(ev.get("reason") or ev.actor)}
    return evolve(state, **changes)


def _pairing(state: RunState, ev: Event) -> dict[str, Any]:
    """Who is watching, and who asked for the wheel."""
    token = str(ev.get("token") or "")
    if ev.kind is Ev.FOLLOWER_JOINED:
        return {"followers": {**state.followers, token: ev.actor}}
    if ev.kind is Ev.FOLLOWER_LEFT:
        return {"followers": {k: v for k, v in state.followers.items() if k != token}}
    if ev.kind is Ev.WHEEL_REQUESTED:
        return {"wheel_asked": (ev.actor, token)}
    return {"wheel_asked": None}  # the wheel was passed


def _driver(ev: Event) -> str:
    return str(ev.get("to") or ev.actor) if ev.kind is Ev.WHEEL_PASSED else ev.actor


def _apply_item(runbook: Runbook, items: dict[str, ItemState], ev: Event) -> None:
    """Fold an item's event into `items` (a fresh copy): a choice also changes its branches."""
    iid = ev.item
    assert iid is not None
    st = items[iid]
    k = ev.kind
    if k is Ev.ITEM_STARTED or k is Ev.ITEM_INTENT:
        items[iid] = evolve(st, status=Status.RUNNING, attempts=st.attempts + 1, started=ev.ts,
                            finished=None, mutating_run=k is Ev.ITEM_INTENT, actor=ev.actor,
                            message="", exit_code=None)
    elif k is Ev.ITEM_RESULT:
        status = _RESULT_STATUS.get(str(ev.get("outcome")), Status.FAILED)
        facts = {**st.facts, **(ev.get("facts") or {})}
        items[iid] = evolve(st, status=status, finished=ev.ts, message=str(ev.get("message", "")),
                            exit_code=ev.get("exit_code"), facts=facts)
    elif k is Ev.ITEM_FACT:
        items[iid] = evolve(st, facts={**st.facts, str(ev.get("key")): ev.get("value")})
    elif k is Ev.ITEM_CONFIRMED:
        items[iid] = evolve(st, status=Status.CONFIRMED, actor=ev.actor, finished=ev.ts,
                            reason=str(ev.get("note", "")))
    elif k is Ev.ITEM_SKIPPED:
        items[iid] = evolve(st, status=Status.SKIPPED, actor=ev.actor, finished=ev.ts,
                            reason=str(ev.get("reason", "")))
    elif k is Ev.ITEM_OVERRIDDEN:
        items[iid] = evolve(st, status=Status.OVERRIDDEN, actor=ev.actor, finished=ev.ts,
                            reason=str(ev.get("reason", "")))
    elif k is Ev.ITEM_COSIGNED:
        items[iid] = evolve(st, cosigned_by=ev.actor)
    elif k is Ev.ITEM_RECONCILED:
        resolution = str(ev.get("resolution"))
        status = _RECONCILED_STATUS.get(resolution, Status.FAILED)
        items[iid] = evolve(st, status=status, actor=ev.actor, reason=str(ev.get("reason", "")),
                            message=f"reconciled: {resolution}", mutating_run=False)
    elif k is Ev.ITEM_CHOSEN:
        _choose(runbook, items, iid, str(ev.get("option")), ev)


def _choose(runbook: Runbook, items: dict[str, ItemState], iid: str, option: str,
            ev: Event) -> None:
    """The choice is confirmed; the other options' items and the items only for another
    answer are not taken."""
    items[iid] = evolve(items[iid], status=Status.CONFIRMED, choice=option, actor=ev.actor,
                        finished=ev.ts)
    index = item_index(runbook)
    for opt in index[iid].options:
        if opt.id == option:
            continue
        for b in opt.items:
            items[b.id] = evolve(items[b.id], status=Status.NOT_TAKEN,
                                 reason=f"option {option!r} chosen", actor=ev.actor)
    for other in index.values():
        w = other.when
        if w is not None and w.choice == iid and w.option != option:
            items[other.id] = evolve(items[other.id], status=Status.NOT_TAKEN,
                                     reason=f"only when {iid} is {w.option!r}", actor=ev.actor)
