"""How a session stands, in one phrase: completed, failed at ITEM, unfinished or abandoned.

Shown by `runbook sessions` and `runbook report`, from the events alone (no runbook needed,
so it holds for a session whose runbook file changed or is gone):

- the outcome `session.finished` carries ("completed");
- `failed at ITEM`: not finished, and ITEM's last run failed (or timed out, or was
  reconciled as aborted) and nothing has changed it since; the latest such item is named;
- `abandoned`: not finished, nothing failed, no event for ABANDONED_AFTER, and nobody is
  there: the driver's wheel has expired and no detached step runs (when that is known);
- `unfinished`: anything else, e.g. a session being driven now, or one left for later.
Nothing here performs I/O: whoever asks says whether the session is attended.
"""

from __future__ import annotations

from collections.abc import Sequence

from runbook.rules.events import Ev, Event

ABANDONED_AFTER = 24 * 3600.0  # seconds without an event before an unattended session is abandoned
NOT_FAILED = frozenset({"passed", "dry-run", "cancelled"})  # results the fold does not call failed
# events that settle an item's status (facts, co-signs and the like do not)
SETTLING = frozenset({Ev.ITEM_STARTED, Ev.ITEM_INTENT, Ev.ITEM_RESULT, Ev.ITEM_CONFIRMED,
                      Ev.ITEM_SKIPPED, Ev.ITEM_OVERRIDDEN, Ev.ITEM_CHOSEN, Ev.ITEM_RECONCILED})


def failed_item(events: Sequence[Event]) -> str | None:
    """The item whose failure still stands, the latest one if several; None if none does."""
    last: dict[str, Event] = {}
    for ev in events:
        if ev.item is not None and ev.kind in SETTLING:
            last.pop(ev.item, None)
            last[ev.item] = ev  # (re-inserted: the dict keeps the order of the latest events)
    for item, ev in reversed(last.items()):
        if ev.kind is Ev.ITEM_RESULT and str(ev.get("outcome")) not in NOT_FAILED:
            return item
        if ev.kind is Ev.ITEM_RECONCILED and ev.get("resolution") == "abort":
            return item
    return None


def outcome(events: Sequence[Event], now: float, attended: bool | None = None) -> str:
    """The session's outcome. `attended`: whether a live driver or detached step is there
    (None: not known, as in a report; then only the time since the last event counts)."""
    finished = next((e for e in reversed(events) if e.kind is Ev.SESSION_FINISHED), None)
    if finished is not None:
        return str(finished.get("outcome") or "completed")
    item = failed_item(events)
    if item is not None:
        return f"failed at {item}"
    if events and not attended and now - events[-1].ts > ABANDONED_AFTER:
        return "abandoned"
    return "unfinished"
