"""An automated operator for end-to-end tests: walks a Run from the first phase to the
last, confirming, choosing, running, and overriding (with a reason) what fails."""

from __future__ import annotations

from collections.abc import Callable

from runbook.format.model import Item, ItemKind
from runbook.rules.state import Status
from runbook.session.run import Run


def walk(run: Run, choose: dict[str, str], on_fail: Callable[[Item, str], bool],
         log: Callable[[str], None] = print) -> None:
    """Drive every phase. `on_fail(item, message)` returns True to override and go on,
    False to stop the walk there."""
    rb = run.runbook
    while True:
        phase = rb.phases[run.state.phase]
        for item in phase.items():
            if not _step(run, item, choose, on_fail, log):
                return
        if run.state.phase + 1 >= len(rb.phases):
            run.finish("completed")
            return
        run.advance()


def _step(run: Run, item: Item, choose: dict[str, str],
          on_fail: Callable[[Item, str], bool], log: Callable[[str], None]) -> bool:
    st = run.state.items[item.id]
    if st.done:
        return True
    if item.kind is ItemKind.CHOICE:
        run.choose(item.id, choose.get(item.id, item.options[0].id))
        return True
    if item.kind in (ItemKind.CONFIRM, ItemKind.NOTE):
        run.confirm(item.id)
        return True
    result = run.execute(item.id)
    log(f"{item.id}: {result.outcome} {result.message[:120]}")
    if run.state.items[item.id].status in (Status.PASSED, Status.DRY_RUN):
        return True
    if not on_fail(item, result.message):
        return False
    run.override(item.id, f"rehearsal: {result.message[:80]}")
    return True
