"""Step kinds. `default_registry()` maps every kind name to its implementation."""

from __future__ import annotations

from runbook.stepkind import StepRegistry


def default_registry() -> StepRegistry:
    from steps.planned import planned_kinds
    from steps.shell import ShellStep
    from steps.wait import WaitStep

    return StepRegistry([ShellStep(), WaitStep(), *planned_kinds()])
