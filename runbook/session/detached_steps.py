"""Running an item through a detached supervisor, and re-attaching to one after a resume.

A mixin of `Run` (as pairing.py is): `Run.execute` comes here for long mutating steps
(shell, Helm, restores), and the calling thread only watches. It returns the same
`StepResult` the executor would have, built from the result the supervisor journaled.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

from runbook.execute.detached import (
    NOT_STARTED,
    REFUSED,
    TAIL_LINES,
    LogTail,
    live_supervisor,
    live_supervisors,
    spawn,
    stop,
    watch,
)
from runbook.execute.executor import Executor
from runbook.execute.itemlog import Listener
from runbook.execute.stepkind import CancelToken, Outcome, StepResult
from runbook.files.paths import log_name
from runbook.format.model import Environment, Item, Runbook
from runbook.journal.store import JournalStore, SessionMeta
from runbook.rules.events import Ev, Event
from runbook.rules.redact import Redactor
from runbook.rules.state import RunState, Status
from runbook.session.operator import Operator
from runbook.session.pairing import Refused

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


class DetachedSteps:
    """The part of a `Run` that runs steps in detached supervisors and watches them."""

    journal: JournalStore
    meta: SessionMeta
    runbook: Runbook
    env: Environment
    variables: dict[str, str]
    operator: Operator
    redactor: Redactor
    state: RunState
    dir: Path
    detach: bool
    executor: Executor

    def sync(self) -> list[Event]:
        raise NotImplementedError

    def interrupted(self, item_id: str) -> None:
        raise NotImplementedError

    def detaches(self, item: Item) -> bool:
        """Whether the item's step runs in a detached supervisor (outliving this terminal)."""
        if not self.detach or self.meta.dry_run or not item.mutating:
            return False
        try:
            step = self.executor.step_for(item)
        except KeyError:
            return False
        return bool(getattr(step, "detach", False)) and step.implemented

    def reattach(self, item_id: str, cancel: CancelToken | None = None,
                 listener: Listener | None = None) -> StepResult:
        """Watch a detached step an earlier terminal started (see `running_detached`), from
        its log's last lines."""
        token = cancel or CancelToken()
        sup = live_supervisor(self.dir, item_id)
        after = self._last_start(item_id)
        log = self.dir / "logs" / log_name(item_id)
        tail = LogTail(log, item_id, listener, from_end=False, backlog=TAIL_LINES)
        if sup is None:  # it ended meanwhile: its output's last lines, then its result
            tail.poll()
            self.sync()
            return self._settle(item_id, "died", self._result(item_id, after), 0)
        outcome, result = self._follow(item_id, after, sup.pid, None, tail, token)
        return self._settle(item_id, outcome, result, sup.pid)

    def running_detached(self) -> list[str]:
        """Items whose detached step is running (started by this or an earlier terminal)."""
        return [s.item_id for s in live_supervisors(self.dir) if s.item_id in self.state.items]

    def _execute_detached(self, item_id: str, cancel: CancelToken,
                          listener: Listener | None) -> StepResult:
        """Spawn the item's supervisor and watch it to its result.

        A cancel may come at any moment of the start: before the process exists, nothing is
        spawned; while the supervisor has not taken the item, it exits NOT_STARTED having done
        nothing. Either way the item ends `cancelled`, journaled here (start, then result), once
        the supervisor is known not to journal it; from its claim on, the supervisor journals."""
        if _cancelling(cancel):
            return self.executor.cancelled_before_start(self.runbook.item(item_id), cancel.reason)
        spec = {"journal": self.journal.locator(), "session": self.meta.id, "item": item_id,
                "runbook": str(self.runbook.path), "variables": self.variables,
                "runbook_text": self.runbook.source or None,
                "runbook_hash": self.runbook.content_hash,
                # the environment as the driver has it (a rehearsal points it at its own world)
                "environment": {"values": dict(self.env.values), "namespace": self.env.namespace,
                                "context": self.env.context},
                "secrets": list(self.redactor.secrets), "operator": asdict(self.operator)}
        after = self.state.last_seq
        log = self.dir / "logs" / log_name(item_id)
        tail = LogTail(log, item_id, listener, from_end=True)
        proc = spawn(spec, self.dir)
        outcome, result = self._follow(item_id, after, proc.pid, proc, tail, cancel)
        if outcome != "left":  # (left: it runs on; subprocess reaps it if we outlive it)
            proc.wait()
        # refused, it did nothing: an intent seen meanwhile is another supervisor's (whose driver
        # died before it was journaled), not an interruption of ours
        refused = proc.returncode == REFUSED
        if outcome == "died" and result is None and (refused or not self._started_since(item_id,
                                                                                          after)):
            why = _last_error(self.dir, item_id) or f"exit status {proc.returncode}"
            if refused or why.startswith("refused: "):
                raise SupervisorRefused(why.removeprefix("refused: "))
            if _cancelling(cancel) or proc.returncode == NOT_STARTED:
                # it is gone without taking the item: nobody else will journal this run
                try:
                    return self.executor.cancelled_before_start(self.runbook.item(item_id),
                                                                cancel.reason)
                except Refused:  # someone else started the item meanwhile: theirs to journal
                    pass
            return StepResult(Outcome.FAILED, f"the detached step did not start: {why}")
        return self._settle(item_id, outcome, result, proc.pid)

    def _follow(self, item_id: str, after: int, pid: int, proc: object,
                tail: LogTail, cancel: CancelToken) -> tuple[str, Event | None]:
        found: list[Event] = []

        def done() -> bool:
            if not found:
                ev = self._result(item_id, after)
                if ev is not None:
                    found.append(ev)
            return bool(found)

        outcome = watch(pid, proc, tail, done,  # type: ignore[arg-type]
                        cancelled=lambda: cancel.cancelled and cancel.reason != LEAVE,
                        sync=self.sync, leave=lambda: cancel.reason == LEAVE,
                        stop_step=lambda: stop(pid, cancel.reason, self.dir, item_id))
        return outcome, (found[0] if found else None)

    def _settle(self, item_id: str, outcome: str, result: Event | None,
                pid: int) -> StepResult:
        if result is not None:
            return StepResult(_outcome(str(result.get("outcome"))), str(result.get("message", "")),
                              result.get("exit_code"), dict(result.get("facts") or {}))
        if outcome == "left":
            return StepResult(Outcome.CANCELLED, f"{LEAVE} (supervisor pid {pid}); "
                              "`runbook resume` re-attaches to it")
        self.interrupted(item_id)
        return StepResult(Outcome.FAILED, "the detached step ended without journaling a result: "
                          "reconcile it")

    def _result(self, item_id: str, after: int) -> Event | None:
        for ev in reversed(self.journal.events(self.meta.id, after)):
            if ev.item == item_id and ev.kind is Ev.ITEM_RESULT:
                return ev
        return None

    def _started_since(self, item_id: str, after: int) -> bool:
        return any(ev.item == item_id and ev.kind in (Ev.ITEM_INTENT, Ev.ITEM_STARTED)
                   for ev in self.journal.events(self.meta.id, after))

    def _last_start(self, item_id: str) -> int:
        last = 0
        for ev in self.journal.iter_events(self.meta.id):
            if ev.item == item_id and ev.kind in (Ev.ITEM_INTENT, Ev.ITEM_STARTED):
                last = ev.seq
        return last


def _cancelling(cancel: CancelToken) -> bool:
    return cancel.cancelled and cancel.reason != LEAVE


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
