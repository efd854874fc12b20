"""The fresh-process side of the fold check (tests/fold_check.py runs it as a script).

It is another process, as `runbook report`, `sessions`, `resume` and the next supervisor
are: it opens each journal anew, loads the runbook the session recorded (its file if it
still has the recorded content, else the copy in the session folder, else the text the
test gives), folds the events with the engine's `fold` and asks the report for the
session's outcome and its overrides and skips, at each sequence number asked ("cut": the
last event an app had folded when it showed what it showed). It prints JSON on stdout.

Request on stdin: [{"locator", "session", "cuts": [seq, ...], "runbook_path",
"runbook_text"}, ...]. It imports only the product, never the tests.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def main() -> int:
    asks = json.loads(sys.stdin.read())
    print(json.dumps([probe(a) for a in asks]))
    return 0


def probe(ask: dict[str, Any]) -> dict[str, Any]:
    from runbook.journal.backends import open_journal
    from runbook.journal.store import JournalError
    try:
        journal = open_journal(str(ask["locator"]))
        try:
            meta = journal.session(str(ask["session"]))
            events = journal.events(meta.id)
        finally:
            journal.close()
        rb, where = recorded_runbook(meta, ask.get("runbook_path") or "",
                                     ask.get("runbook_text") or "")
    except (JournalError, NoRunbook) as e:
        return {"session": ask["session"], "error": str(e)}
    seqs = [e.seq for e in events]
    out: dict[str, Any] = {
        "session": meta.id, "runbook": where, "last_seq": seqs[-1] if seqs else 0,
        "gapless": seqs == list(range(1, len(seqs) + 1)),
        "events": [[e.seq, e.kind.value, e.item, e.actor] for e in events],
        "cuts": {},
    }
    for cut in sorted({int(c) for c in ask["cuts"]}):
        out["cuts"][str(cut)] = fold_at(meta, [e for e in events if e.seq <= cut], rb)
    return out


class NoRunbook(Exception):
    pass


def recorded_runbook(meta: Any, path: str, text: str) -> tuple[Any, str]:
    """The runbook the session began with: its file (same content hash), the session
    folder's copy, or (an in-memory runbook, never written to a file) the given text."""
    from runbook.format.loader import LoadFailed, load, load_text
    from steps import default_registry
    registry = default_registry()
    for candidate in (Path(meta.runbook_path), Path(meta.dir) / "runbook.yaml"):
        if not candidate.is_file():
            continue
        try:
            rb = load(candidate, registry)
        except LoadFailed:
            continue
        if rb.content_hash == meta.runbook_hash:
            return rb, str(candidate)
    if text:
        rb = load_text(text, path or meta.runbook_path, registry)
        if rb.content_hash == meta.runbook_hash:
            return rb, "the text the app loaded (the session recorded no file of it)"
    raise NoRunbook(f"no runbook with the content hash the session recorded (not "
                    f"{meta.runbook_path}, nor the session folder's copy)")


def fold_at(meta: Any, events: list[Any], rb: Any) -> dict[str, Any]:
    from runbook.rules.fold import apply, fold
    from runbook.rules.state import DONE, Status, initial
    from runbook.session.report import build
    state = fold(rb, meta.env, events)
    live = initial(rb, meta.env)  # the events applied one by one: what is running still runs
    for ev in events:
        live = apply(rb, live, ev)
    report = build(meta, events, rb)
    required = [i.id for i in rb.all_items()
                if i.required and state.items[i.id].status is not Status.NOT_TAKEN]
    return {
        "last_seq": state.last_seq,
        "items": {iid: item_view(st) for iid, st in state.items.items()},
        "open": sorted(iid for iid, st in live.items.items() if st.status is Status.RUNNING),
        "phase": state.phase, "phases": len(rb.phases), "finished": state.finished,
        "guards": dict(state.guards), "driver": state.driver,
        "required_done": [sum(1 for i in required if state.items[i].status in DONE),
                          len(required)],
        "outcome": report["outcome"],
        "overrides": [override_view(o) for o in report["overrides"]],
    }


def item_view(st: Any) -> dict[str, Any]:
    """What the check compares of an item (also used on the app's side)."""
    return {"status": st.status.value, "reason": st.reason, "choice": st.choice,
            "cosigned_by": st.cosigned_by, "attempts": st.attempts}


def override_view(o: dict[str, Any]) -> list[str]:
    """An override, guard override or skip of the report, without its time."""
    return [str(o["what"]), str(o["item"]), str(o["actor"]), str(o["reason"])]


if __name__ == "__main__":
    sys.exit(main())
