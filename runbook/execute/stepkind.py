"""The contract between the engine and the step kinds in `steps/`.

A step kind declares its parameters (runbook.format.params: so the loader can
validate a runbook before anything runs, and `runbook schema` can describe them)
and runs one item on the caller's thread, reporting through its `StepContext`.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from runbook.format.params import KindDeclaration


class CancelToken:
    """Set by whoever owns the run; every step loop checks it."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""

    def cancel(self, reason: str = "cancelled") -> None:
        self.reason = reason
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float) -> bool:
        """Sleep up to `timeout` seconds; True if cancelled meanwhile."""
        return self._event.wait(timeout)


class Outcome(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed-out"
    DRY_RUN = "dry-run"


@dataclass(frozen=True, slots=True)
class StepResult:
    outcome: Outcome
    message: str = ""
    exit_code: int | None = None
    facts: Mapping[str, Any] = field(default_factory=dict)  # journaled with the result


class Recall(Protocol):
    """The newest fact `key` recorded in this environment; with `where`, only one recorded
    in an item result whose facts also hold those values (the cluster and namespace a
    snapshot was taken on, say), so a step never restores what another cluster ran."""

    def __call__(self, key: str, where: Mapping[str, Any] | None = None) -> Any: ...


def nothing_recorded(key: str, where: Mapping[str, Any] | None = None) -> Any:
    return None


class OutputSink(Protocol):
    """Where a step writes its output lines (already split, no newline)."""

    def write_lines(self, lines: Iterable[str]) -> None: ...


@dataclass
class StepContext:
    """Everything a step may use. Params are rendered (variables filled in)."""

    item_id: str
    params: Mapping[str, Any]
    cancel: CancelToken
    output: OutputSink
    session_dir: Path
    dry_run: bool
    timeout_s: float | None = None
    env_name: str = ""
    namespace: str = ""
    kube_context: str = ""
    process_env: Mapping[str, str] = field(default_factory=dict)  # extra env for subprocesses
    redact: Callable[[str], str] = lambda s: s
    fact: Callable[[str, Any], None] = lambda k, v: None  # record a fact mid-step
    secret: Callable[[str], None] = lambda value: None  # a value to mask from now on
    recall: Recall = nothing_recorded  # newest fact `key` recorded in this env (see Recall)
    publish: Callable[[str, Any], None] = lambda topic, data: None  # live data for the UI
    services: tuple[Any, ...] = ()  # the runbook's services (runbook.format.model.Service)

    def param(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)


class StepKind(KindDeclaration, Protocol):
    """A step kind: stateless; `run` is called on a worker thread. What it declares (name,
    parameters, `check`) is `KindDeclaration`, in runbook.format.params."""

    def describe(self, params: Mapping[str, Any]) -> str:
        """One line saying what it would do, for dry runs and the detail pane."""
        ...

    def run(self, ctx: StepContext) -> StepResult: ...


class StepRegistry:
    """Maps kind names to step kinds; built in cli.py and handed to loader and executor."""

    def __init__(self, kinds: Iterable[StepKind] = ()) -> None:
        self._kinds: dict[str, StepKind] = {}
        for k in kinds:
            self.register(k)

    def register(self, kind: StepKind) -> None:
        if kind.name in self._kinds:
            raise ValueError(f"step kind {kind.name!r} registered twice")
        self._kinds[kind.name] = kind

    def get(self, name: str) -> StepKind | None:
        return self._kinds.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._kinds

    def names(self) -> list[str]:
        return sorted(self._kinds)

    def kinds(self) -> list[StepKind]:
        return [self._kinds[n] for n in self.names()]
