"""Shared base for step kinds: defaults for describe/check, rendering helpers."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any, ClassVar

from runbook.execute.stepkind import Outcome, StepContext, StepResult
from runbook.format.params import Param


class BaseStep:
    name: ClassVar[str] = ""
    doc: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    implemented: ClassVar[bool] = True
    read_only: ClassVar[bool] = True
    detach: ClassVar[bool] = False  # mutating runs go to a supervisor that outlives the TUI

    def describe(self, params: Mapping[str, Any]) -> str:
        shown = " ".join(f"{k}={_short(v)}" for k, v in params.items() if v not in (None, "", ()))
        return f"{self.name} {shown}".strip()

    def check(self, params: Mapping[str, Any]) -> list[str]:
        return []

    def run(self, ctx: StepContext) -> StepResult:
        return StepResult(Outcome.FAILED, f"{self.name} is not implemented yet")


def _short(v: Any) -> str:
    if isinstance(v, list | tuple):
        return shlex.join(str(x) for x in v)
    s = str(v)
    return s if len(s) <= 60 else s[:57] + "..."


def time_scale(ctx: StepContext) -> float:
    """$RUNBOOK_WAIT_SCALE compresses watch periods in the sandbox (never elsewhere)."""
    import os
    if ctx.env_name != "sandbox":
        return 1.0
    raw = ctx.process_env.get("RUNBOOK_WAIT_SCALE") or os.environ.get("RUNBOOK_WAIT_SCALE")
    try:
        return min(1.0, max(0.0, float(raw))) if raw else 1.0
    except ValueError:
        return 1.0
