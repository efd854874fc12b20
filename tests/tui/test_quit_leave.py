"""Quitting while a detached step runs: leave it running; a later terminal picks it up."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from runbook.journal.sqlite import Journal
from runbook.rules.state import Status
from runbook.session.run import Run
from screens.modals.quit_modal import QuitModal
from steps import default_registry
from tests.tui.conftest import LONG_ARG, wait_for
from tests.tui.test_app import MakeApp, _to_phase_two, processes_with, screen, status


async def test_quit_can_leave_a_detached_step_running(make_app: MakeApp, tmp_path: Path) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await _to_phase_two(app, pilot)
        screen(app).select_item("long")
        await pilot.press("r")
        await wait_for(pilot, lambda: bool(processes_with(LONG_ARG)))
        run = app.current_run
        assert run is not None
        await wait_for(pilot, lambda: run.running_detached() == ["long"])
        await pilot.press("q")
        assert isinstance(app.screen, QuitModal)
        await pilot.press("l")  # leave it running and quit
        await wait_for(pilot, lambda: not app.is_running)
    step = processes_with(LONG_ARG)
    try:
        assert step, "the detached step went down with the terminal"
        # another terminal opens the session: the step shows running, not interrupted
        journal = Journal(tmp_path / "state" / "journal.db")
        again = Run.open(journal, journal.session(run.meta.id), run.runbook, {"TAG": "v1"},
                         default_registry(), run.operator)
        assert again.state.items["long"].status is Status.RUNNING
        assert again.running_detached() == ["long"]
        assert status(app, "long") is Status.RUNNING
        journal.close()
    finally:
        for pid in step:
            os.kill(pid, signal.SIGKILL)
