"""Runs one item on the caller's thread: intent, step, result, all journaled.

The executor knows nothing of any UI: it is handed a cancel token, an event
sink and an optional listener for output batches.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from runbook.execute.itemlog import ItemLog, Listener
from runbook.execute.stepkind import (
    CancelToken,
    Outcome,
    OutputSink,
    Recall,
    StepContext,
    StepKind,
    StepRegistry,
    StepResult,
    nothing_recorded,
)
from runbook.format.durations import format_duration
from runbook.format.model import Item, ItemKind
from runbook.format.template import TemplateError
from runbook.rules.events import Ev, Event
from runbook.rules.redact import Redactor


class EventSink(Protocol):
    def emit(self, kind: Ev, item: str | None = None, data: dict[str, Any] | None = None,
             actor: str | None = None) -> Event: ...


@dataclass
class ExecutionContext:
    """What the executor needs to know about the session."""

    session_dir: Path
    dry_run: bool
    env_name: str
    namespace: str
    kube_context: str
    redactor: Redactor
    params_for: Callable[[Item, StepKind], dict[str, Any]]  # rendered parameters
    recall: Recall = nothing_recorded  # newest fact recorded in this environment
    publish: Callable[[str, Any], None] = lambda topic, data: None  # live data for the UI
    services: tuple[Any, ...] = ()


class _NoOutput:
    def write_lines(self, lines: object) -> None:
        pass


class Executor:
    def __init__(self, registry: StepRegistry, sink: EventSink, ctx: ExecutionContext) -> None:
        self.registry = registry
        self.sink = sink
        self.ctx = ctx

    def step_for(self, item: Item) -> StepKind:
        name = "wait" if item.kind is ItemKind.WAIT else item.uses
        step = self.registry.get(name or "")
        if step is None:
            raise KeyError(f"no step kind {name!r}")
        return step

    def params_for(self, item: Item) -> dict[str, Any]:
        step = self.step_for(item)
        if item.kind is ItemKind.WAIT:
            return {"seconds": item.wait_s or 0.0}
        return self.ctx.params_for(item, step)

    def describe(self, item: Item) -> str:
        try:
            step = self.step_for(item)
            return self.ctx.redactor(step.describe(self.params_for(item)))
        except (KeyError, TemplateError, ValueError) as e:
            return f"(cannot render: {e})"

    def probe(self, item: Item) -> str:
        """Ask the step kind about the live state of what the item changes, if it can tell."""
        step = self.step_for(item)
        probe = getattr(step, "probe", None)
        if probe is None:
            return f"{step.name} cannot check the live state: look yourself before choosing"
        try:
            params = self.params_for(item)
            ctx = self._context(item, params, CancelToken(), _NoOutput(), dry_run=True,
                                timeout_s=30)
            return self.ctx.redactor(str(probe(ctx)))
        except Exception as e:  # a probe is advice; it must never take the run down
            return f"could not check the live state: {type(e).__name__}: {e}"

    def execute(self, item: Item, cancel: CancelToken,
                listener: Listener | None = None) -> StepResult:
        """Run `item` once (with its retries). The start event may be refused (Refused)."""
        step, params, command, render_error, would_only = self._begin(item)
        dry = self.ctx.dry_run
        if render_error:
            return self._finish(item, StepResult(Outcome.FAILED, render_error), 0.0, None)
        if would_only:
            why = "dry run" if dry else f"{step.name} is not implemented in this version"
            outcome = Outcome.DRY_RUN if dry else Outcome.FAILED
            return self._finish(item, StepResult(outcome, f"would run ({why}): {command}"), 0.0,
                                None)
        if cancel.cancelled:  # between its start and its step: the step is never begun
            return self._finish(item, not_begun(cancel.reason), 0.0, None)
        log = ItemLog(self.ctx.session_dir, item.id, self.ctx.redactor, listener)
        started = time.monotonic()
        result = StepResult(Outcome.FAILED, "not run")
        try:
            for attempt in range(item.retries + 1):
                if attempt:
                    log.write_lines([f"--- retry {attempt} of {item.retries} ---"])
                result = self._run_once(item, step, params, cancel, log)
                if result.outcome is not Outcome.FAILED or cancel.cancelled:
                    break
        finally:
            log.close()
        return self._finish(item, result, time.monotonic() - started, log)

    def cancelled_before_start(self, item: Item, reason: str) -> StepResult:
        """Journal a run a cancel stopped before its step began, as one run: its start, then
        its `cancelled` result (a detached step whose supervisor never took the item)."""
        self._begin(item)
        return self._finish(item, not_begun(reason), 0.0, None)

    def _begin(self, item: Item) -> tuple[StepKind, dict[str, Any], str, str, bool]:
        """Journal the start (intent for a mutating run): step, params, command, why the
        parameters cannot be rendered (or ""), whether the step would only be described."""
        step = self.step_for(item)
        dry = self.ctx.dry_run
        render_error = ""
        try:
            params = self.params_for(item)
            command = self.ctx.redactor(step.describe(params))
        except (TemplateError, ValueError) as e:
            render_error = f"cannot render parameters: {e}"
            params, command = {}, render_error
        would_only = (dry and (item.mutating or item.kind is ItemKind.WAIT)) or not step.implemented
        mutating = item.mutating and not would_only
        start_kind = Ev.ITEM_INTENT if mutating else Ev.ITEM_STARTED
        self.sink.emit(start_kind, item.id, {"command": command, "step": step.name,
                                             "dry_run": dry, "mutating": item.mutating})
        return step, params, command, render_error, would_only

    def _run_once(self, item: Item, step: StepKind, params: dict[str, Any], cancel: CancelToken,
                  log: ItemLog) -> StepResult:
        facts: dict[str, Any] = {}
        timer: threading.Timer | None = None
        if item.timeout_s and step.name != "shell":  # shell enforces its own, by process group
            timer = threading.Timer(item.timeout_s, cancel.cancel, ("timeout",))
            timer.daemon = True
            timer.start()
        ctx = self._context(item, params, cancel, log, dry_run=self.ctx.dry_run,
                            timeout_s=item.timeout_s,
                            fact=lambda key, value: self._fact(item, facts, key, value),
                            publish=self.ctx.publish)
        try:
            result = step.run(ctx)
        except Exception as e:  # a bug in a step kind must not take the run down
            result = StepResult(Outcome.FAILED, f"{step.name} failed: {type(e).__name__}: {e}")
        finally:
            if timer is not None:
                timer.cancel()
        if result.outcome is Outcome.CANCELLED and cancel.reason == "timeout":
            result = StepResult(Outcome.TIMED_OUT, f"timed out after "
                                f"{format_duration(item.timeout_s or 0)}", result.exit_code,
                                result.facts)
        if facts:
            result = StepResult(result.outcome, result.message, result.exit_code,
                                {**facts, **result.facts})
        return result

    def _context(self, item: Item, params: dict[str, Any], cancel: CancelToken,
                 output: OutputSink, **fields: Any) -> StepContext:
        """The step's view of the session; `fields` add or override (dry_run, fact, ...)."""
        return StepContext(
            item_id=item.id, params=params, cancel=cancel, output=output,
            session_dir=self.ctx.session_dir, env_name=self.ctx.env_name,
            namespace=self.ctx.namespace, kube_context=self.ctx.kube_context,
            redact=self.ctx.redactor, secret=lambda value: self.ctx.redactor.add([value]),
            recall=self.ctx.recall, services=self.ctx.services, **fields)

    def _fact(self, item: Item, facts: dict[str, Any], key: str, value: Any) -> None:
        """Journal a fact at once (it survives a crash mid-step) and keep it for the result."""
        facts[key] = value
        self.sink.emit(Ev.ITEM_FACT, item.id, {"key": key,
                                               "value": self.ctx.redactor.data(value)})

    def _finish(self, item: Item, result: StepResult, seconds: float,
                log: ItemLog | None) -> StepResult:
        data: dict[str, Any] = {
            "outcome": result.outcome.value,
            "message": self.ctx.redactor(result.message),
            "exit_code": result.exit_code,
            "seconds": round(seconds, 3),
            "facts": self.ctx.redactor.data(dict(result.facts)),
        }
        if log is not None:
            data["log"] = str(log.path)
            data["lines"] = log.lines
            data["tail"] = log.tail[-5:]
        self.sink.emit(Ev.ITEM_RESULT, item.id, data)
        return result


def not_begun(reason: str) -> StepResult:
    """The result of a run cancelled before its step began: nothing was changed."""
    return StepResult(Outcome.CANCELLED, f"cancelled ({reason or 'cancelled'}) before the step began")
