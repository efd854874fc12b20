"""What a session tells the team's channel: event -> message text (or nothing)."""

from __future__ import annotations

from runbook.format.model import Runbook
from runbook.rules.events import Ev, Event


def message_for(ev: Event, runbook: Runbook, env: str, dry_run: bool, session: str) -> str | None:
    where = f"{runbook.title} on {env}{' (dry run)' if dry_run else ''}"
    if ev.kind is Ev.SESSION_STARTED:
        return f"▶ {where} started by {ev.actor} (session {session})"
    if ev.kind is Ev.PHASE_ENTERED:
        n = int(ev.get("index", 0))
        if 0 < n <= len(runbook.phases):
            done = runbook.phases[n - 1].title
            nxt = runbook.phases[n].title if n < len(runbook.phases) else ""
            return f"✔ {where}: phase '{done}' complete" + (f"; now '{nxt}'" if nxt else "")
        return None
    if ev.kind is Ev.ITEM_RESULT and ev.get("outcome") in ("failed", "timed-out"):
        return f"✘ {where}: {ev.item} {ev.get('outcome')}: {ev.get('message', '')}"
    if ev.kind is Ev.GUARD_OVERRIDE:
        return f"⚠ {where}: {ev.actor} overrode {ev.get('guard')}: {ev.get('reason', '')}"
    if ev.kind is Ev.SESSION_FINISHED:
        return f"■ {where} finished: {ev.get('outcome', 'completed')} (session {session})"
    return None
