"""Reopening a session: which one, against which runbook, with which values, and what changed.

The session folder keeps the runbook as it was when the session began; a runbook
file changed since then is detected by its content hash and explained item by item.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from runbook.execute.stepkind import StepRegistry
from runbook.format.loader import LoadFailed, load
from runbook.format.model import Item, Runbook
from runbook.journal.store import JournalError, JournalStore, SessionMeta
from runbook.rules.events import Ev
from runbook.rules.redact import MASK


class ResumeError(Exception):
    pass


@dataclass
class ResumePlan:
    meta: SessionMeta
    runbook: Runbook
    variables: dict[str, str]  # the non-secret values the session began with
    missing_secrets: list[str]  # secret variables to be given again
    changes: list[str] = field(default_factory=list)  # what changed in the runbook, if anything

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def pick_session(journal: JournalStore, prefix: str | None) -> SessionMeta:
    if prefix:
        try:
            return journal.find_session(prefix)
        except JournalError as e:
            raise ResumeError(str(e)) from None
    for meta in reversed(journal.sessions()):
        events = journal.events(meta.id)
        if not any(e.kind is Ev.SESSION_FINISHED for e in events):
            return meta
    raise ResumeError("no unfinished session in the journal (give a session id)")


def plan(journal: JournalStore, prefix: str | None, registry: StepRegistry) -> ResumePlan:
    meta = pick_session(journal, prefix)
    if any(e.kind is Ev.SESSION_FINISHED for e in journal.events(meta.id)):
        raise ResumeError(f"session {meta.id} is finished; `runbook report {meta.id}` shows it")
    copy = Path(meta.dir) / "runbook.yaml"
    path = Path(meta.runbook_path)
    changes: list[str] = []
    if not path.is_file():
        if not copy.is_file():
            raise ResumeError(f"the runbook {path} is gone and the session has no copy of it")
        changes.append(f"{path} is gone: using the copy kept at the start ({copy})")
        path = copy
    try:
        runbook = load(path, registry)
    except LoadFailed as e:
        raise ResumeError(f"the runbook no longer loads: {e.errors[0]}") from None
    if runbook.content_hash != meta.runbook_hash and path != copy:
        changes.extend(_explain(copy, runbook, registry))
    values = {k: v for k, v in meta.variables.items() if v != MASK}
    missing = [v.name for v in runbook.variables
               if v.secret and meta.variables.get(v.name) == MASK]
    return ResumePlan(meta, runbook, values, missing, changes)


def _explain(copy: Path, new: Runbook, registry: StepRegistry) -> list[str]:
    head = f"{new.path} changed since the session began (content hash differs)"
    if not copy.is_file():
        return [head]
    try:
        old = load(copy, registry)
    except LoadFailed:
        return [head]
    before = {i.id: _shape(i) for i in old.all_items()}
    after = {i.id: _shape(i) for i in new.all_items()}
    out = [head]
    added = [i for i in after if i not in before]
    removed = [i for i in before if i not in after]
    edited = [i for i in after if i in before and after[i] != before[i]]
    if added:
        out.append("items added: " + ", ".join(added))
    if removed:
        out.append("items removed (their journaled history is kept): " + ", ".join(removed))
    if edited:
        out.append("items changed: " + ", ".join(edited))
    if len(out) == 1:
        out.append("no item changed (only comments, help or metadata)")
    return out


def _shape(i: Item) -> tuple[object, ...]:
    return (i.title, i.kind, i.uses, i.params, i.required, i.needs, i.phase, i.section)
