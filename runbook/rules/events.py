"""The events the engine emits and journals. The run state is a fold over them."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Ev(enum.StrEnum):
    SESSION_STARTED = "session.started"
    SESSION_RESUMED = "session.resumed"
    SESSION_FINISHED = "session.finished"
    PHASE_ENTERED = "phase.entered"
    ITEM_STARTED = "item.started"  # a read-only item began (or a dry run of any item)
    ITEM_INTENT = "item.intent"  # a mutating item is about to act
    ITEM_RESULT = "item.result"  # the outcome of a started or intended item
    ITEM_FACT = "item.fact"  # something a running step learned (pid, revision before, ...)
    ITEM_CONFIRMED = "item.confirmed"
    ITEM_SKIPPED = "item.skipped"
    ITEM_OVERRIDDEN = "item.overridden"
    ITEM_CHOSEN = "item.chosen"
    ITEM_RECONCILED = "item.reconciled"
    ITEM_COSIGNED = "item.cosigned"
    GUARD_OVERRIDE = "guard.override"  # e.g. outside the maintenance window, with a reason
    GUARD_CONFIRMED = "guard.confirmed"  # e.g. the typed environment name
    GUARD_WARNING = "guard.warning"  # a guard warns, without stopping (e.g. the window is short)
    NOTIFY_FAILED = "notify.failed"  # a webhook notification could not be delivered
    WHEEL_PASSED = "wheel.passed"  # the driver changed: data to, from, how, reason
    WHEEL_REQUESTED = "wheel.requested"  # a follower asks the driver for the wheel
    FOLLOWER_JOINED = "follower.joined"  # someone attached to watch (or co-sign)
    FOLLOWER_LEFT = "follower.left"


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    ts: float  # seconds since the epoch, UTC
    kind: Ev
    item: str | None = None
    actor: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)
