"""The run state's records: item statuses, one item's state, the whole run's state.

These are plain frozen values. What changes them is in `fold.py` (an event at a
time), what may happen next in `transitions.py`, why a phase cannot be left in
`gates.py`. Nothing here performs I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar, cast

from runbook.format.model import Item, Runbook


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


NOTICE_NOTE = "who sent the notice, and where"


def initial(runbook: Runbook, env: str) -> RunState:
    """The state before any event: items for other environments are skipped from the start,
    and under a notice policy a notice item's confirmation must carry a note."""
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


def _notice_rule(runbook: Runbook, env: str) -> bool:
    """Does the environment's policy require advance notice (`notice: 24h`)?"""
    return any(e.name == env and e.policy.notice_s > 0 for e in runbook.environments)


# -- helpers the fold and the rules share --------------------------------------

R = TypeVar("R", ItemState, RunState)


def _copier(cls: type) -> Callable[[Any, dict[str, Any]], Any]:
    """A function copying a `cls` record with some fields changed, written out field by field
    (as `dataclasses` writes `__init__`): it sets each slot as the frozen `__init__` would,
    without `dataclasses.replace`'s per-call introspection, about 2.5 times faster."""
    names = [f.name for f in fields(cls)]
    lines = [f"    set_(new, {n!r}, changes[{n!r}] if {n!r} in changes else record.{n})" for n in names]
    source = "def copy(record, changes):\n    new = new_(cls)\n" + "\n".join(lines) + "\n    return new\n"
    scope: dict[str, Any] = {"new_": object.__new__, "set_": object.__setattr__, "cls": cls}
    exec(source, scope)  # the source is built from the field names above, nothing else
    return cast(Callable[[Any, dict[str, Any]], Any], scope["copy"])


_COPIERS = {cls: (frozenset(f.name for f in fields(cls)), _copier(cls)) for cls in (ItemState, RunState)}


def evolve(record: R, **changes: Any) -> R:
    """`dataclasses.replace` for these records, fast: the fold makes a new RunState (and
    usually an ItemState) for every event, and 100,000 events must fold well under a second."""
    names, copy = _COPIERS[type(record)]
    if not changes.keys() <= names:
        raise TypeError(f"{type(record).__name__} has no field {sorted(changes.keys() - names)[0]!r}")
    new: R = copy(record, changes)
    return new


# id(runbook) -> (runbook, index). The runbook is kept so its id cannot be reused by another
# runbook while cached: keyed by id alone, a new runbook could be given a dead one's index.
_INDEX_CACHE: dict[int, tuple[Runbook, dict[str, Item]]] = {}


def item_index(runbook: Runbook) -> dict[str, Item]:
    """Item id -> item (of the last runbook asked about: folding and checking ask often)."""
    key = id(runbook)
    hit = _INDEX_CACHE.get(key)
    if hit is not None and hit[0] is runbook:
        return hit[1]
    idx = {i.id: i for i in runbook.all_items()}
    _INDEX_CACHE.clear()
    _INDEX_CACHE[key] = (runbook, idx)
    return idx
