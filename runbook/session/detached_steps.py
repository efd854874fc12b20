"""Running an item through a detached supervisor, and re-attaching to one after a resume.

`Run.execute` comes here for long mutating steps (shell, Helm, restores): the calling
thread only watches. It returns the same `StepResult` the executor would have, built
from the result the supervisor journaled.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING

from runbook.execute.detached import (
    NOT_STARTED,
    REFUSED,
    TAIL_LINES,
    LogTail,
    live_supervisor,
    spawn,
    stop,
    watch,
)
from runbook.execute.itemlog import Listener
from runbook.execute.stepkind import CancelToken, Outcome, StepResult
from runbook.files.paths import log_name
from runbook.rules.events import Ev, Event
from runbook.rules.state import RunState, Status
from runbook.session.pairing import Refused

if TYPE_CHECKING:
    from runbook.session.run import Run

LEAVE = "left running"  # a cancel reason that walks away instead of stopping the step


class SupervisorRefused(Exception):
    """The supervisor refused to start the item (the rules said no)."""


def still_running(state: RunState, session_dir: Path) -> RunState:
    """Items interrupted in this process's view whose detached step is in fact still running."""
    items = dict(state.items)
    changed = False
    for iid, st in state.items.items():
        if st.status is Status.NEEDS_RECONCILE and live_supervisor(session_dir, iid):
            items[iid] = replace(st, status=Status.RUNNING, message="running detached")
            changed = True
    return replace(state, items=items) if changed else state


def execute_detached(run: Run, item_id: str, cancel: CancelToken,
                     listener: Listener | None) -> StepResult:
    """Spawn the item's supervisor and watch it to its result.

    A cancel may come at any moment of the start: before the process exists, nothing is
    spawned; while the supervisor has not taken the item, it exits NOT_STARTED having done
    nothing. Either way the item ends `cancelled`, journaled here (start, then result), once
    the supervisor is known not to journal it; from its claim on, the supervisor journals."""
    if _cancelling(cancel):
        return run.executor.cancelled_before_start(run.runbook.item(item_id), cancel.reason)
    spec = {"journal": run.journal.locator(), "session": run.meta.id, "item": item_id,
            "runbook": str(run.runbook.path), "variables": run.variables,
            "runbook_text": run.runbook.source or None,
            "runbook_hash": run.runbook.content_hash,
            # the environment as the driver has it (a rehearsal points it at its own world)
            "environment": {"values": dict(run.env.values), "namespace": run.env.namespace,
                            "context": run.env.context},
            "secrets": list(run.redactor.secrets), "operator": asdict(run.operator)}
    after = run.state.last_seq
    log = run.dir / "logs" / log_name(item_id)
    tail = LogTail(log, item_id, listener, from_end=True)
    proc = spawn(spec, run.dir)
    outcome, result = _follow(run, item_id, after, proc.pid, proc, tail, cancel)
    if outcome != "left":  # (left: it runs on; subprocess reaps it if we outlive it)
        proc.wait()
    # refused, it did nothing: an intent seen meanwhile is another supervisor's (whose driver died
    # before it was journaled), not an interruption of ours
    refused = proc.returncode == REFUSED
    if outcome == "died" and result is None and (refused or not _started_since(run, item_id, after)):
        why = _last_error(run.dir, item_id) or f"exit status {proc.returncode}"
        if refused or why.startswith("refused: "):
            raise SupervisorRefused(why.removeprefix("refused: "))
        if _cancelling(cancel) or proc.returncode == NOT_STARTED:
            # it is gone without taking the item: nobody else will journal this run
            try:
                return run.executor.cancelled_before_start(run.runbook.item(item_id),
                                                           cancel.reason)
            except Refused:  # someone else started the item meanwhile: theirs to journal
                pass
        return StepResult(Outcome.FAILED, f"the detached step did not start: {why}")
    return _settle(run, item_id, outcome, result, proc.pid)


def _cancelling(cancel: CancelToken) -> bool:
    return cancel.cancelled and cancel.reason != LEAVE


def reattach(run: Run, item_id: str, cancel: CancelToken,
             listener: Listener | None) -> StepResult:
    """Watch a detached step started by an earlier terminal, from its log's last lines."""
    sup = live_supervisor(run.dir, item_id)
    after = _last_start(run, item_id)
    log = run.dir / "logs" / log_name(item_id)
    tail = LogTail(log, item_id, listener, from_end=False, backlog=TAIL_LINES)
    if sup is None:  # it ended meanwhile: its output's last lines, then its result
        tail.poll()
        run.sync()
        return _settle(run, item_id, "died", _result(run, item_id, after), 0)
    outcome, result = _follow(run, item_id, after, sup.pid, None, tail, cancel)
    return _settle(run, item_id, outcome, result, sup.pid)


def _follow(run: Run, item_id: str, after: int, pid: int, proc: object,
            tail: LogTail, cancel: CancelToken) -> tuple[str, Event | None]:
    found: list[Event] = []

    def done() -> bool:
        if not found:
            ev = _result(run, item_id, after)
            if ev is not None:
                found.append(ev)
        return bool(found)

    outcome = watch(pid, proc, tail, done,  # type: ignore[arg-type]
                    cancelled=lambda: cancel.cancelled and cancel.reason != LEAVE,
                    sync=run.sync, leave=lambda: cancel.reason == LEAVE,
                    stop_step=lambda: stop(pid, cancel.reason, run.dir, item_id))
    return outcome, (found[0] if found else None)


def _settle(run: Run, item_id: str, outcome: str, result: Event | None,
            pid: int) -> StepResult:
    if result is not None:
        return StepResult(_outcome(str(result.get("outcome"))), str(result.get("message", "")),
                          result.get("exit_code"), dict(result.get("facts") or {}))
    if outcome == "left":
        return StepResult(Outcome.CANCELLED, f"{LEAVE} (supervisor pid {pid}); "
                          "`runbook resume` re-attaches to it")
    run.interrupted(item_id)
    return StepResult(Outcome.FAILED, "the detached step ended without journaling a result: "
                      "reconcile it")


def _result(run: Run, item_id: str, after: int) -> Event | None:
    for ev in reversed(run.journal.events(run.meta.id, after)):
        if ev.item == item_id and ev.kind is Ev.ITEM_RESULT:
            return ev
    return None


def _started_since(run: Run, item_id: str, after: int) -> bool:
    return any(ev.item == item_id and ev.kind in (Ev.ITEM_INTENT, Ev.ITEM_STARTED)
               for ev in run.journal.events(run.meta.id, after))


def _last_start(run: Run, item_id: str) -> int:
    last = 0
    for ev in run.journal.iter_events(run.meta.id):
        if ev.item == item_id and ev.kind in (Ev.ITEM_INTENT, Ev.ITEM_STARTED):
            last = ev.seq
    return last


def _outcome(value: str) -> Outcome:
    try:
        return Outcome(value)
    except ValueError:
        return Outcome.FAILED


def _last_error(session_dir: Path, item_id: str) -> str:
    path = session_dir / "running" / (log_name(item_id)[:-4] + ".err")
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1].strip() if lines else ""



