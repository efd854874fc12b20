"""The `wait` kind: a timed watch period ("monitor for 30 min"), cancellable."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, ClassVar

from runbook.execute.stepkind import Outcome, StepContext, StepResult
from runbook.format.durations import format_duration
from runbook.format.params import Param, ParamType
from steps.base import BaseStep, time_scale


class WaitStep(BaseStep):
    name = "wait"
    doc = "wait for a period, reporting the time left every minute"
    params: ClassVar[tuple[Param, ...]] = (Param("seconds", ParamType.DURATION, True, doc="how long"),)

    def describe(self, params: Mapping[str, Any]) -> str:
        return f"wait {format_duration(float(str(params.get('seconds', 0))))}"

    def run(self, ctx: StepContext) -> StepResult:
        total = float(ctx.param("seconds", 0))
        scale = time_scale(ctx)
        if scale != 1.0:
            ctx.output.write_lines([f"rehearsal: {format_duration(total)} compressed to "
                                    f"{format_duration(total * scale)}"])
            total *= scale
        end = time.monotonic() + total
        next_report = time.monotonic()
        while True:
            left = end - time.monotonic()
            if left <= 0:
                ctx.output.write_lines([f"watch period over ({format_duration(total)})"])
                return StepResult(Outcome.PASSED, f"waited {format_duration(total)}")
            if time.monotonic() >= next_report:
                ctx.output.write_lines([f"{format_duration(left)} left"])
                next_report += 60
            if ctx.cancel.wait(min(left, 1.0)):
                return StepResult(Outcome.CANCELLED, f"wait cancelled: {ctx.cancel.reason}")

