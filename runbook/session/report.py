"""The deployment log of a session, from the journal: Markdown or JSON.

Built from the events alone (who, what, when, outcomes, tails, reasons), with
titles and expected durations taken from the runbook when it is available.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runbook.execute.detached import live_supervisors
from runbook.format.durations import format_duration, format_range
from runbook.format.model import Runbook
from runbook.journal.store import JournalStore, SessionMeta
from runbook.rules.events import Ev, Event
from runbook.rules.fold import fold
from runbook.rules.outcome import outcome


@dataclass
class ItemReport:
    id: str
    title: str
    phase: str
    section: str
    status: str = "pending"
    expected: str = ""
    seconds: float | None = None
    actor: str = ""
    when: float | None = None
    reason: str = ""
    command: str = ""
    message: str = ""
    tail: list[str] = field(default_factory=list)
    log: str = ""
    choice: str = ""
    facts: dict[str, Any] = field(default_factory=dict)
    step: str = ""


def _ts(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t)) if t else "-"


def build(meta: SessionMeta, events: list[Event], runbook: Runbook | None,
          attended: bool | None = None) -> dict[str, Any]:
    """The report; `attended` as for `runbook.rules.outcome.outcome` (None: not known)."""
    items: dict[str, ItemReport] = {}
    if runbook is not None:
        for it in runbook.all_items():
            items[it.id] = ItemReport(it.id, it.title, it.phase, it.section,
                                      expected=format_range(it.expected))
        state = fold(runbook, meta.env, events)
        for iid, st in state.items.items():
            items[iid].status = st.status.value
            items[iid].reason = st.reason
    timeline: list[dict[str, Any]] = []
    overrides: list[dict[str, Any]] = []
    people: list[dict[str, Any]] = []  # guards passed or warned, co-signs, the wheel, followers
    for ev in events:
        if ev.kind in PEOPLE:
            people.append({"time": _ts(ev.ts), "what": ev.kind.value, "item": ev.item,
                           "actor": ev.actor, "detail": _detail(ev)})
        timeline.append({"seq": ev.seq, "time": _ts(ev.ts), "event": ev.kind.value,
                         "item": ev.item, "actor": ev.actor})
        if ev.kind in (Ev.ITEM_OVERRIDDEN, Ev.GUARD_OVERRIDE, Ev.ITEM_SKIPPED):
            overrides.append({"time": _ts(ev.ts), "what": ev.kind.value,
                              "item": ev.item or ev.get("guard"), "actor": ev.actor,
                              "reason": ev.get("reason", "")})
        if ev.item is None:
            continue
        r = items.setdefault(ev.item, ItemReport(ev.item, ev.item, "", ""))
        if runbook is None:
            r.status = {Ev.ITEM_CONFIRMED: "confirmed", Ev.ITEM_SKIPPED: "skipped",
                        Ev.ITEM_OVERRIDDEN: "overridden", Ev.ITEM_CHOSEN: "confirmed",
                        Ev.ITEM_STARTED: "running", Ev.ITEM_INTENT: "running",
                        }.get(ev.kind, str(ev.get("outcome", r.status)))
        if ev.kind in (Ev.ITEM_STARTED, Ev.ITEM_INTENT):
            r.command = str(ev.get("command", ""))
            r.actor = ev.actor
            r.step = str(ev.get("step", ""))
        elif ev.kind is Ev.ITEM_RESULT:
            r.seconds = ev.get("seconds")
            r.message = str(ev.get("message", ""))
            r.tail = list(ev.get("tail", []))
            r.log = str(ev.get("log", ""))
            r.facts.update({k: v for k, v in (ev.get("facts") or {}).items() if k != "pid"})
            r.when = ev.ts
        elif ev.kind in (Ev.ITEM_CONFIRMED, Ev.ITEM_SKIPPED, Ev.ITEM_OVERRIDDEN, Ev.ITEM_CHOSEN):
            r.actor, r.when = ev.actor, ev.ts
            r.reason = str(ev.get("reason", "") or ev.get("note", ""))
            if ev.kind is Ev.ITEM_CHOSEN:
                r.choice = str(ev.get("option"))
    first = events[0].ts if events else meta.created
    last = events[-1].ts if events else meta.created
    return {
        "session": meta.id, "runbook": meta.runbook_title, "runbook_path": meta.runbook_path,
        "runbook_hash": meta.runbook_hash,
        "runbook_changed": bool(runbook and runbook.content_hash != meta.runbook_hash),
        "environment": meta.env, "dry_run": meta.dry_run,
        "operator": f"{meta.operator}@{meta.host}", "ssh": meta.ssh,
        "kube_context": meta.kube_context, "variables": meta.variables,
        "started": _ts(first), "ended": _ts(last), "duration_s": round(last - first, 1),
        "outcome": outcome(events, time.time(), attended),
        "expected_total": format_range(runbook.expected_total()) if runbook else "",
        "items": [vars(r) for r in items.values()],
        "overrides": overrides,
        "guards_and_pairing": people,
        "failures": [vars(r) for r in items.values() if r.status in ("failed", "needs-reconcile")],
        "versions": _versions(items.values()),
        "backups": [{"item": r.id, **{k: r.facts.get(k) for k in ("file", "bytes", "sha256",
                                                                    "database")}}
                    for r in items.values() if r.step in ("pg.backup", "k8s.export")
                    and r.facts.get("sha256")],
        "timeline": timeline,
    }


def attended(journal: JournalStore, meta: SessionMeta, now: float) -> bool:
    """Is someone at the session: a driver renewing its wheel, or a detached step running?"""
    wheel = journal.wheel(meta.id)
    return (wheel is not None and wheel.live(now)) or bool(live_supervisors(Path(meta.dir)))


PEOPLE = (Ev.GUARD_CONFIRMED, Ev.GUARD_WARNING, Ev.ITEM_COSIGNED, Ev.WHEEL_PASSED,
          Ev.WHEEL_REQUESTED, Ev.FOLLOWER_JOINED, Ev.FOLLOWER_LEFT)


def _detail(ev: Event) -> str:
    if ev.kind is Ev.WHEEL_PASSED:
        why = f": {ev.get('reason')}" if ev.get("reason") else ""
        return f"{ev.get('how')} from {ev.get('from')} to {ev.get('to')}{why}"
    if ev.kind is Ev.ITEM_COSIGNED:
        return "co-signed (two-person rule)"
    return str(ev.get("reason") or ev.get("guard") or "")


def _versions(items: Any) -> dict[str, Any]:
    """Images recorded before (k8s.versions) and set during the session (set-image, undo)."""
    before: dict[str, str] = {}
    after: dict[str, str] = {}
    for r in items:
        recorded = r.facts.get("versions")
        if isinstance(recorded, dict) and not before:
            for dep, v in recorded.items():
                before[dep] = ", ".join(f"{c}={i}" for c, i in v.get("containers", {}).items())
        changed = r.facts.get("after") or r.facts.get("restored")
        if isinstance(changed, dict) and r.step.startswith("k8s."):
            dep = r.id.split("[", 1)[1].rstrip("]") if "[" in r.id else r.id
            note = "" if r.status == "passed" else f" ({r.status}: {r.message[:60]})"
            after[dep] = ", ".join(f"{c}={i}" for c, i in changed.items()) + note
    return {"before": before, "after": after}


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, default=str)


def to_markdown(report: dict[str, Any]) -> str:
    r = report
    out = [f"# Deployment log: {r['runbook']}", ""]
    out += [f"- **Session:** `{r['session']}`",
            f"- **Environment:** {r['environment']}{' (DRY RUN)' if r['dry_run'] else ''}",
            f"- **Operator:** {r['operator']} {r['ssh']}".rstrip(),
            f"- **Kube context:** {r['kube_context'] or '-'}",
            f"- **Started:** {r['started']}  **Ended:** {r['ended']}  "
            f"**Duration:** {format_duration(r['duration_s'])}"
            + (f" (expected {r['expected_total']})" if r["expected_total"] else ""),
            f"- **Outcome:** {r['outcome']}"]
    if r["variables"]:
        out.append("- **Variables:** " + ", ".join(f"`{k}={v}`" for k, v in r["variables"].items()))
    if r["runbook_changed"]:
        out.append("- **Warning:** the runbook file changed since this session began")
    out += ["", "## Items", "", "| item | status | by | when | took | expected |",
            "|---|---|---|---|---|---|"]
    for it in r["items"]:
        took = format_duration(it["seconds"]) if it["seconds"] is not None else ""
        title = it["title"].replace("|", "\\|")
        out.append(f"| {title} (`{it['id']}`) | {it['status']}"
                   f"{' → ' + it['choice'] if it['choice'] else ''} | {it['actor']} | "
                   f"{_ts(it['when']) if it['when'] else ''} | {took} | {it['expected']} |")
    if r["overrides"]:
        out += ["", "## Overrides and skips", ""]
        for o in r["overrides"]:
            out.append(f"- {o['time']} **{o['what']}** `{o['item']}` by {o['actor']}: {o['reason']}")
    if r.get("guards_and_pairing"):
        out += ["", "## Guards and pairing", ""]
        for p in r["guards_and_pairing"]:
            what = f"{p['what']} `{p['item']}`" if p["item"] else p["what"]
            detail = f": {p['detail']}" if p["detail"] else ""
            out.append(f"- {p['time']} **{what}** by {p['actor']}{detail}")
    versions = r.get("versions") or {}
    if versions.get("before") or versions.get("after"):
        out += ["", "## Versions", "", "| deployment | before | after |", "|---|---|---|"]
        names = sorted(set(versions["before"]) | set(versions["after"]))
        for n in names:
            out.append(f"| {n} | {versions['before'].get(n, '')} | "
                       f"{versions['after'].get(n, '(unchanged)')} |")
    if r.get("backups"):
        out += ["", "## Backups and exports", ""]
        for b in r["backups"]:
            out.append(f"- `{b['item']}`: {b['file']} ({b['bytes']} bytes, sha256 {b['sha256']})")
    if r["failures"]:
        out += ["", "## Failures", ""]
        for f in r["failures"]:
            out.append(f"- `{f['id']}` {f['status']}: {f['message']}")
    ran = [it for it in r["items"] if it["command"]]
    if ran:
        out += ["", "## Outputs", ""]
        for it in ran:
            out += [f"### {it['title']}", "", f"`{it['command']}` → {it['message'] or it['status']}"]
            if it["facts"]:
                out.append("")
                out += [f"- {k}: {v}" for k, v in it["facts"].items()]
            if it["tail"]:
                out += ["", "```", *it["tail"], "```"]
            if it["log"]:
                out += ["", f"Full output: `{it['log']}`"]
            out.append("")
    return "\n".join(out).rstrip() + "\n"
