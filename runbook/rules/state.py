"""Item statuses, pure transitions and gates.

`fold(runbook, events)` is the run state; `refusal(...)` says why a proposed
event is not allowed (None when it is); `blocking(...)` says what keeps a
phase from being left. Nothing here performs I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from runbook.format.model import Item, ItemKind, Runbook
from runbook.rules.events import Ev, Event


class Status(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    CONFIRMED = "confirmed"
    SKIPPED = "skipped"
    OVERRIDDEN = "overridden"
    DRY_RUN = "dry-run"
    NEEDS_RECONCILE = "needs-reconcile"
    NOT_TAKEN = "not-taken"
    CANCELLED = "cancelled"


DONE = frozenset({Status.PASSED, Status.CONFIRMED, Status.SKIPPED, Status.OVERRIDDEN,
                  Status.DRY_RUN, Status.NOT_TAKEN})
STARTABLE = frozenset({Status.PENDING, Status.FAILED, Status.CANCELLED})
# guard events fold into RunState.guards: guard name -> reason (or who confirmed it)
GUARD_EVENTS = (Ev.GUARD_OVERRIDE, Ev.GUARD_CONFIRMED, Ev.GUARD_WARNING)


@dataclass(frozen=True, slots=True)
class ItemState:
    status: Status = Status.PENDING
    attempts: int = 0
    message: str = ""
    actor: str = ""
    reason: str = ""
    started: float | None = None
    finished: float | None = None
    exit_code: int | None = None
    choice: str | None = None
    mutating_run: bool = False  # the current/last run journaled an intent
    facts: dict[str, Any] = field(default_factory=dict)
    cosigned_by: str = ""
    note_required: str = ""  # a confirmation must carry a note answering this (notice items)

    @property
    def done(self) -> bool:
        return self.status in DONE


@dataclass(frozen=True, slots=True)
class Blocker:
    item: str
    reason: str

    def __str__(self) -> str:
        return f"{self.item}: {self.reason}"


@dataclass(frozen=True, slots=True)
class RunState:
    items: dict[str, ItemState]
    phase: int = 0  # index of the current phase; later phases are locked
    started: float | None = None
    finished: bool = False
    last_seq: int = 0
    guards: dict[str, str] = field(default_factory=dict)  # guard name -> reason/actor
    driver: str = ""  # who holds the wheel: the starter, or whom it was passed to
    followers: dict[str, str] = field(default_factory=dict)  # token -> who, attached now
    wheel_asked: tuple[str, str] | None = None  # (who, token) asked for the wheel, unanswered

    def item(self, item_id: str) -> ItemState:
        return self.items[item_id]


def initial(runbook: Runbook, env: str) -> RunState:
    items: dict[str, ItemState] = {}
    for it in runbook.all_items():
        if it.when and it.when.envs and env not in it.when.envs:
            items[it.id] = ItemState(Status.SKIPPED, reason=f"not for environment {env}",
                                     actor="runbook")
        elif it.notice and _notice_rule(runbook, env):
            items[it.id] = ItemState(note_required=NOTICE_NOTE)
        else:
            items[it.id] = ItemState()
    return RunState(items)


NOTICE_NOTE = "who sent the notice, and where"


def _notice_rule(runbook: Runbook, env: str) -> bool:
    """Does the environment's policy require advance notice (`notice: 24h`)?"""
    return any(e.name == env and e.policy.notice_s > 0 for e in runbook.environments)


def fold(runbook: Runbook, env: str, events: Iterable[Event]) -> RunState:
    """The state after `events`. An intent with no result is needs-reconcile."""
    index = _index(runbook)
    items = dict(initial(runbook, env).items)
    phase, started, finished, last, guards, driver = 0, None, False, 0, {}, ""
    pairing = RunState({})
    for ev in events:
        last = ev.seq
        if ev.item is not None:
            if ev.item in items:
                _apply_item(index, items, ev)
            continue
        if ev.kind in DRIVER_EVENTS:
            driver = _driver(ev)
        if ev.kind in PAIRING_EVENTS:
            pairing = _pairing(pairing, ev)
        if ev.kind is Ev.SESSION_STARTED:
            started = ev.ts
        elif ev.kind is Ev.PHASE_ENTERED:
            phase = int(ev.get("index", phase))
        elif ev.kind is Ev.SESSION_FINISHED:
            finished = True
        elif ev.kind in GUARD_EVENTS:
            guards[str(ev.get("guard"))] = str(ev.get("reason") or ev.actor)
    for iid, st in items.items():
        if st.status is Status.RUNNING:
            items[iid] = replace(st, status=Status.NEEDS_RECONCILE if st.mutating_run
                                 else Status.PENDING,
                                 message="interrupted: intent journaled, no result"
                                 if st.mutating_run else "interrupted before a result")
    return replace(pairing, items=items, phase=phase, started=started, finished=finished,
                   last_seq=last, guards=guards, driver=driver)


def apply(runbook: Runbook, state: RunState, ev: Event) -> RunState:
    """The state after one more event (running items stay running)."""
    if ev.item is None:
        if ev.kind in DRIVER_EVENTS:
            state = replace(state, driver=_driver(ev))
        if ev.kind in PAIRING_EVENTS:
            state = _pairing(state, ev)
        if ev.kind is Ev.PHASE_ENTERED:
            return replace(state, phase=int(ev.get("index", state.phase)), last_seq=ev.seq)
        if ev.kind is Ev.SESSION_FINISHED:
            return replace(state, finished=True, last_seq=ev.seq)
        if ev.kind is Ev.SESSION_STARTED:
            return replace(state, started=ev.ts, last_seq=ev.seq)
        if ev.kind in GUARD_EVENTS:
            guards = {**state.guards, str(ev.get("guard")): str(ev.get("reason") or ev.actor)}
            return replace(state, guards=guards, last_seq=ev.seq)
        return replace(state, last_seq=ev.seq)
    items = dict(state.items)
    if ev.item in items:
        _apply_item(_index(runbook), items, ev)
    return replace(state, items=items, last_seq=ev.seq)


DRIVER_EVENTS = (Ev.SESSION_STARTED, Ev.SESSION_RESUMED, Ev.WHEEL_PASSED)


PAIRING_EVENTS = (Ev.FOLLOWER_JOINED, Ev.FOLLOWER_LEFT, Ev.WHEEL_REQUESTED, Ev.WHEEL_PASSED)


def _pairing(state: RunState, ev: Event) -> RunState:
    """Who is watching, and who asked for the wheel."""
    token = str(ev.get("token") or "")
    if ev.kind is Ev.FOLLOWER_JOINED:
        return replace(state, followers={**state.followers, token: ev.actor})
    if ev.kind is Ev.FOLLOWER_LEFT:
        return replace(state, followers={k: v for k, v in state.followers.items() if k != token})
    if ev.kind is Ev.WHEEL_REQUESTED:
        return replace(state, wheel_asked=(ev.actor, token))
    return replace(state, wheel_asked=None)  # the wheel was passed


def _driver(ev: Event) -> str:
    return str(ev.get("to") or ev.actor) if ev.kind is Ev.WHEEL_PASSED else ev.actor


# id(runbook) -> (runbook, index). The runbook is kept so its id cannot be reused by another
# runbook while cached: keyed by id alone, a new runbook could be given a dead one's index.
_INDEX_CACHE: dict[int, tuple[Runbook, dict[str, Item]]] = {}


def _index(runbook: Runbook) -> dict[str, Item]:
    key = id(runbook)
    hit = _INDEX_CACHE.get(key)
    if hit is not None and hit[0] is runbook:
        return hit[1]
    idx = {i.id: i for i in runbook.all_items()}
    _INDEX_CACHE.clear()
    _INDEX_CACHE[key] = (runbook, idx)
    return idx


def _apply_item(index: dict[str, Item], items: dict[str, ItemState], ev: Event) -> None:
    iid = ev.item
    assert iid is not None
    st = items[iid]
    k = ev.kind
    if k is Ev.ITEM_STARTED or k is Ev.ITEM_INTENT:
        items[iid] = replace(st, status=Status.RUNNING, attempts=st.attempts + 1, started=ev.ts,
                             finished=None, mutating_run=k is Ev.ITEM_INTENT, actor=ev.actor,
                             message="", exit_code=None)
    elif k is Ev.ITEM_RESULT:
        outcome = str(ev.get("outcome"))
        status = {"passed": Status.PASSED, "dry-run": Status.DRY_RUN,
                  "cancelled": Status.CANCELLED}.get(outcome, Status.FAILED)
        facts = {**st.facts, **(ev.get("facts") or {})}
        items[iid] = replace(st, status=status, finished=ev.ts, message=str(ev.get("message", "")),
                             exit_code=ev.get("exit_code"), facts=facts)
    elif k is Ev.ITEM_FACT:
        items[iid] = replace(st, facts={**st.facts, str(ev.get("key")): ev.get("value")})
    elif k is Ev.ITEM_CONFIRMED:
        items[iid] = replace(st, status=Status.CONFIRMED, actor=ev.actor, finished=ev.ts,
                             reason=str(ev.get("note", "")))
    elif k is Ev.ITEM_SKIPPED:
        items[iid] = replace(st, status=Status.SKIPPED, actor=ev.actor, finished=ev.ts,
                             reason=str(ev.get("reason", "")))
    elif k is Ev.ITEM_OVERRIDDEN:
        items[iid] = replace(st, status=Status.OVERRIDDEN, actor=ev.actor, finished=ev.ts,
                             reason=str(ev.get("reason", "")))
    elif k is Ev.ITEM_COSIGNED:
        items[iid] = replace(st, cosigned_by=ev.actor)
    elif k is Ev.ITEM_RECONCILED:
        resolution = str(ev.get("resolution"))
        status = {"done": Status.PASSED, "retry": Status.PENDING}.get(resolution, Status.FAILED)
        items[iid] = replace(st, status=status, actor=ev.actor, reason=str(ev.get("reason", "")),
                             message=f"reconciled: {resolution}", mutating_run=False)
    elif k is Ev.ITEM_CHOSEN:
        option = str(ev.get("option"))
        items[iid] = replace(st, status=Status.CONFIRMED, choice=option, actor=ev.actor,
                             finished=ev.ts)
        item = index[iid]
        for opt in item.options:
            if opt.id == option:
                continue
            for b in opt.items:
                items[b.id] = replace(items[b.id], status=Status.NOT_TAKEN,
                                      reason=f"option {option!r} chosen", actor=ev.actor)
        for other in index.values():
            w = other.when
            if w is not None and w.choice == iid and w.option != option:
                items[other.id] = replace(items[other.id], status=Status.NOT_TAKEN,
                                          reason=f"only when {iid} is {w.option!r}", actor=ev.actor)


# -- gates ---------------------------------------------------------------

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


def _a(kind: ItemKind) -> str:
    return f"an {kind}" if kind.value[0] in "aeiou" else f"a {kind}"


def unmet_needs(runbook: Runbook, state: RunState, item: Item) -> list[str]:
    out: list[str] = []
    for need in item.needs:
        targets = [i.id for i in runbook.all_items() if i.id == need or i.template_id == need]
        out.extend(t for t in targets if not state.items[t].done)
    return out


def refusal(runbook: Runbook, state: RunState, kind: Ev, item_id: str | None,
            data: dict[str, Any], actor: str) -> str | None:
    """Why the event may not happen now, or None. The rules of every transition."""
    if state.finished and kind not in (Ev.SESSION_RESUMED, Ev.NOTIFY_FAILED):
        return "the session is finished"
    if kind is Ev.PHASE_ENTERED:
        target = int(data.get("index", -1))
        if target != state.phase + 1 or target >= len(runbook.phases):
            return f"can only move to the next phase (now in phase {state.phase + 1})"
        blockers = blocking(runbook, state, state.phase)
        if blockers:
            return "blocked by: " + "; ".join(str(b) for b in blockers)
        return None
    if item_id is None:
        return None
    it = _index(runbook).get(item_id)
    if it is None:
        return f"no item {item_id!r}"
    st = state.items[item_id]
    p = phase_index(runbook, it)
    if p > state.phase and kind not in (Ev.ITEM_RESULT, Ev.ITEM_FACT):
        return f"phase {runbook.phases[p].title!r} is locked until the earlier phases are done"
    if st.status is Status.NOT_TAKEN and kind not in (Ev.ITEM_RESULT, Ev.ITEM_FACT):
        return f"not taken: {st.reason}"
    if it.branch is not None and kind not in (Ev.ITEM_RESULT, Ev.ITEM_FACT):
        chosen = state.items[it.branch[0]].choice
        if chosen != it.branch[1]:
            return f"choose option {it.branch[1]!r} of {it.branch[0]!r} first"
    if (it.when is not None and it.when.choice and kind not in (Ev.ITEM_RESULT, Ev.ITEM_FACT)
            and state.items[it.when.choice].choice is None):
        return f"answer {it.when.choice!r} first (this item applies only to {it.when.option!r})"
    if kind in (Ev.ITEM_STARTED, Ev.ITEM_INTENT):
        if it.kind not in (ItemKind.CHECK, ItemKind.ACTION, ItemKind.WAIT):
            return f"{_a(it.kind)} item is not run"
        if st.status not in STARTABLE:
            return f"cannot run: it is {st.status}"
        unmet = unmet_needs(runbook, state, it)
        if unmet:
            return "waiting for: " + ", ".join(unmet)
        return None
    if kind in (Ev.ITEM_RESULT, Ev.ITEM_FACT):
        return None if st.status is Status.RUNNING else "no run in progress"
    if st.status is Status.RUNNING:
        return "it is running; wait for it or cancel it first"
    if kind is Ev.ITEM_CONFIRMED:
        if it.kind not in (ItemKind.CONFIRM, ItemKind.NOTE):
            return f"{_a(it.kind)} item is not confirmed by hand"
        if st.done:
            return f"already {st.status}"
        unmet = unmet_needs(runbook, state, it)
        if unmet:
            return "waiting for: " + ", ".join(unmet)
        if st.note_required and not str(data.get("note", "")).strip():
            return (f"confirming it needs a note saying {st.note_required} "
                    "(or override it with that as the reason)")
        return None
    if kind is Ev.ITEM_SKIPPED:
        if it.required:
            return "a required item cannot be skipped; override it with a reason"
        if st.done:
            return f"already {st.status}"
        return None if str(data.get("reason", "")).strip() else "a skip needs a reason"
    if kind is Ev.ITEM_OVERRIDDEN:
        if st.done:
            return f"already {st.status}"
        return None if str(data.get("reason", "")).strip() else "an override needs a reason"
    if kind is Ev.ITEM_CHOSEN:
        if it.kind is not ItemKind.CHOICE:
            return "not a choice item"
        if st.choice is not None:
            return f"option {st.choice!r} was already chosen"
        if data.get("option") not in {o.id for o in it.options}:
            return f"no option {data.get('option')!r}"
        return None
    if kind is Ev.ITEM_RECONCILED:
        if st.status is not Status.NEEDS_RECONCILE:
            return "nothing to reconcile"
        if data.get("resolution") not in ("retry", "done", "abort"):
            return "resolution must be retry, done or abort"
        if data.get("resolution") == "done" and not str(data.get("reason", "")).strip():
            return "marking an interrupted action done needs a reason"
        return None
    if kind is Ev.ITEM_COSIGNED:
        if st.cosigned_by:
            return f"already co-signed by {st.cosigned_by}"
        return None
    return None
