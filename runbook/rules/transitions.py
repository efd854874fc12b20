"""The transition rules, as data: one small named rule per reason an event is refused.

A rule (see `proposal.py`) says which proposed events it governs (`kinds`), whether it
looks at the session or at the item the event names (`about`), and, as its docstring,
why it exists. Its check returns the reason it refuses, or None. `POLICY` is the
ordered tuple of rules and `refusal` is the first reason any of them gives: the
order decides which reason an operator reads when several apply (a finished session
before a locked phase, a locked phase before a missing reason). The two-person rule,
which depends on who acts and how the environment is set up, is in `two_person.py`.
Pure functions of the run state.
"""

from __future__ import annotations

from typing import Any

from runbook.format.model import ItemKind, Runbook
from runbook.rules.events import Ev
from runbook.rules.gates import blocking, phase_index, unmet_needs
from runbook.rules.proposal import About, Proposal, Rule, propose, rule
from runbook.rules.state import STARTABLE, RunState, Status

EVERY = frozenset(Ev)
ABOUT_ITEMS = EVERY - {Ev.PHASE_ENTERED}  # a phase change is about the session, whatever it names
RUN_REPORTS = frozenset({Ev.ITEM_RESULT, Ev.ITEM_FACT})  # written by the run in progress
ACTING = ABOUT_ITEMS - RUN_REPORTS  # what someone does to an item
STARTS = frozenset({Ev.ITEM_STARTED, Ev.ITEM_INTENT})
RUNNABLE = (ItemKind.CHECK, ItemKind.ACTION, ItemKind.WAIT)


def _a(kind: ItemKind) -> str:
    return f"an {kind}" if kind.value[0] in "aeiou" else f"a {kind}"


# -- the session ---------------------------------------------------------------

@rule(EVERY - {Ev.SESSION_RESUMED, Ev.NOTIFY_FAILED}, About.SESSION)
def session_finished(p: Proposal) -> str | None:
    """A finished session is a record: nothing more happens in it, except reopening it
    (a resume) and noting that a notification about it could not be delivered."""
    return "the session is finished" if p.state.finished else None


@rule({Ev.PHASE_ENTERED}, About.SESSION)
def next_phase_only(p: Proposal) -> str | None:
    """Phases are entered in order, one at a time: skipping one would skip its gate."""
    target = int(p.data.get("index", -1))
    if target != p.state.phase + 1 or target >= len(p.runbook.phases):
        return f"can only move to the next phase (now in phase {p.state.phase + 1})"
    return None


@rule({Ev.PHASE_ENTERED}, About.SESSION)
def phase_blocked(p: Proposal) -> str | None:
    """A phase is left only when all its required items are done (the gate); the reason
    lists each blocker and what it waits for, as the screens show it."""
    blockers = blocking(p.runbook, p.state, p.state.phase)
    return "blocked by: " + "; ".join(str(b) for b in blockers) if blockers else None


# -- any item ------------------------------------------------------------------

@rule(ABOUT_ITEMS, About.ITEM_ID)
def unknown_item(p: Proposal) -> str | None:
    """An event can only be about an item of this runbook (a typo, or an older version)."""
    return f"no item {p.item_id!r}" if p.item is None else None


@rule(ACTING)
def phase_locked(p: Proposal) -> str | None:
    """Items of a later phase wait until the earlier phases are done. A run already in
    progress may still report its result and facts."""
    assert p.item is not None
    n = phase_index(p.runbook, p.item)
    if n > p.state.phase:
        return f"phase {p.runbook.phases[n].title!r} is locked until the earlier phases are done"
    return None


@rule(ACTING)
def not_taken(p: Proposal) -> str | None:
    """An item of an option not chosen (or only for another answer) is out of the run."""
    return f"not taken: {p.st.reason}" if p.st.status is Status.NOT_TAKEN else None


@rule(ACTING)
def branch_not_chosen(p: Proposal) -> str | None:
    """An item inside a choice's option waits until that option is the one chosen."""
    assert p.item is not None
    if p.item.branch is None:
        return None
    choice, option = p.item.branch
    if p.state.items[choice].choice != option:
        return f"choose option {option!r} of {choice!r} first"
    return None


@rule(ACTING)
def condition_unanswered(p: Proposal) -> str | None:
    """An item for one answer of a choice (`when: {choice, option}`) waits until the choice
    is answered: until then nobody knows whether it applies."""
    assert p.item is not None
    w = p.item.when
    if w is not None and w.choice and p.state.items[w.choice].choice is None:
        return f"answer {w.choice!r} first (this item applies only to {w.option!r})"
    return None


# -- running an item -----------------------------------------------------------

@rule(STARTS)
def not_runnable(p: Proposal) -> str | None:
    """Only checks, actions and waits run; confirmations, notes and choices are answered."""
    assert p.item is not None
    return None if p.item.kind in RUNNABLE else f"{_a(p.item.kind)} item is not run"


@rule(STARTS)
def not_startable(p: Proposal) -> str | None:
    """A run starts from pending, failed or cancelled: never twice at once, never again once
    done, never over an interrupted action (that is reconciled first)."""
    return None if p.st.status in STARTABLE else f"cannot run: it is {p.st.status}"


@rule(RUN_REPORTS)
def no_run_in_progress(p: Proposal) -> str | None:
    """Results and facts belong to a run in progress; a late or stray one is not folded in."""
    return None if p.st.status is Status.RUNNING else "no run in progress"


@rule(ACTING - STARTS)
def item_running(p: Proposal) -> str | None:
    """While an item runs, nothing else is decided about it by hand."""
    if p.st.status is Status.RUNNING:
        return "it is running; wait for it or cancel it first"
    return None


# -- answering an item by hand -------------------------------------------------

@rule({Ev.ITEM_CONFIRMED})
def not_confirmable(p: Proposal) -> str | None:
    """Only confirmations and notes are confirmed by hand: a check must run to pass."""
    assert p.item is not None
    if p.item.kind in (ItemKind.CONFIRM, ItemKind.NOTE):
        return None
    return f"{_a(p.item.kind)} item is not confirmed by hand"


@rule({Ev.ITEM_SKIPPED})
def required_not_skippable(p: Proposal) -> str | None:
    """A required item is never skipped: the way past it is an override, which says why."""
    assert p.item is not None
    return "a required item cannot be skipped; override it with a reason" if p.item.required else None


@rule({Ev.ITEM_CONFIRMED, Ev.ITEM_SKIPPED, Ev.ITEM_OVERRIDDEN})
def already_done(p: Proposal) -> str | None:
    """A done item stays as it was done: the journal keeps one answer for it."""
    return f"already {p.st.status}" if p.st.done else None


@rule(STARTS | {Ev.ITEM_CONFIRMED})
def needs_unmet(p: Proposal) -> str | None:
    """An item with `needs` waits for those items to be done before it runs or is confirmed."""
    assert p.item is not None
    unmet = unmet_needs(p.runbook, p.state, p.item)
    return "waiting for: " + ", ".join(unmet) if unmet else None


@rule({Ev.ITEM_CONFIRMED})
def note_required(p: Proposal) -> str | None:
    """Under a notice policy, confirming the notice item records who sent it and where."""
    if p.st.note_required and not p.text("note"):
        return (f"confirming it needs a note saying {p.st.note_required} "
                "(or override it with that as the reason)")
    return None


@rule({Ev.ITEM_SKIPPED})
def skip_needs_reason(p: Proposal) -> str | None:
    """A skip says why, for the audit."""
    return None if p.text("reason") else "a skip needs a reason"


@rule({Ev.ITEM_OVERRIDDEN})
def override_needs_reason(p: Proposal) -> str | None:
    """An override passes a gate by hand, so it always says why, for the audit."""
    return None if p.text("reason") else "an override needs a reason"


# -- choices, reconciling, co-signing -----------------------------------------------

@rule({Ev.ITEM_CHOSEN})
def not_a_choice(p: Proposal) -> str | None:
    """Only a choice item has options to choose."""
    assert p.item is not None
    return None if p.item.kind is ItemKind.CHOICE else "not a choice item"


@rule({Ev.ITEM_CHOSEN})
def already_chosen(p: Proposal) -> str | None:
    """A choice is made once: its branches were already taken or not taken."""
    return f"option {p.st.choice!r} was already chosen" if p.st.choice is not None else None


@rule({Ev.ITEM_CHOSEN})
def unknown_option(p: Proposal) -> str | None:
    """The option chosen is one the item offers."""
    assert p.item is not None
    option = p.data.get("option")
    return None if option in {o.id for o in p.item.options} else f"no option {option!r}"


@rule({Ev.ITEM_RECONCILED})
def nothing_to_reconcile(p: Proposal) -> str | None:
    """Only an action interrupted after its intent (it may have acted) is reconciled."""
    return None if p.st.status is Status.NEEDS_RECONCILE else "nothing to reconcile"


@rule({Ev.ITEM_RECONCILED})
def bad_resolution(p: Proposal) -> str | None:
    """An interrupted action is retried, marked done or aborted: nothing else."""
    if p.data.get("resolution") in ("retry", "done", "abort"):
        return None
    return "resolution must be retry, done or abort"


@rule({Ev.ITEM_RECONCILED})
def done_needs_reason(p: Proposal) -> str | None:
    """Marking an interrupted action done (it did act) says how that was checked."""
    if p.data.get("resolution") == "done" and not p.text("reason"):
        return "marking an interrupted action done needs a reason"
    return None


@rule({Ev.ITEM_COSIGNED})
def already_cosigned(p: Proposal) -> str | None:
    """One co-sign per item: the first second person is the one on record."""
    return f"already co-signed by {p.st.cosigned_by}" if p.st.cosigned_by else None


# -- the policy ------------------------------------------------------------------

POLICY: tuple[Rule, ...] = (
    session_finished, next_phase_only, phase_blocked,
    unknown_item, phase_locked, not_taken, branch_not_chosen, condition_unanswered,
    not_runnable, not_startable, no_run_in_progress, item_running,
    not_confirmable, required_not_skippable, already_done, needs_unmet, note_required,
    skip_needs_reason, override_needs_reason,
    not_a_choice, already_chosen, unknown_option,
    nothing_to_reconcile, bad_resolution, done_needs_reason,
    already_cosigned,
)

# the rules that govern each kind of event, in policy order (Prefect "compiles" its policies alike)
_BY_KIND: dict[Ev, tuple[Rule, ...]] = {k: tuple(r for r in POLICY if k in r.kinds) for k in Ev}


def refusal(runbook: Runbook, state: RunState, kind: Ev, item_id: str | None,
            data: dict[str, Any], actor: str) -> str | None:
    """Why the event may not happen now, or None: the first rule of POLICY that refuses it."""
    p = propose(runbook, state, kind, item_id, data, actor)
    for r in _BY_KIND[kind]:
        why = r(p)
        if why is not None:
            return why
    return None
