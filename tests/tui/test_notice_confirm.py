"""The advance-notice item asks who sent the notice before it is confirmed."""

from __future__ import annotations

from pathlib import Path

from runbook.format.loader import load_text
from runbook.journal.sqlite import Journal
from runbook.rules.events import Ev
from runbook.rules.state import Status
from runbook.session.operator import Operator
from screens.app import AppConfig, build_app
from screens.modals.reason_modal import ReasonModal
from steps import default_registry
from tests.tui.conftest import wait_for

RUNBOOK = """
runbook: 1
title: Notice
environments:
  prod:
    production: true
    policy: {notice: 24h}
phases:
  - id: pre
    title: Pre-flight
    sections:
      - id: s
        title: S
        items:
          - {id: notice, title: Maintenance announced 24 hours ahead, notice: true}
"""


async def test_confirming_the_notice_asks_who_sent_it(tmp_path: Path) -> None:
    rb = load_text(RUNBOOK, str(tmp_path / "n.yaml"), default_registry())
    app = build_app(AppConfig(rb, default_registry(), Journal(tmp_path / "j.db"),
                              Operator("alice", "jump", ""), "prod", {}, False))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: app.current_run is not None)
        run = app.current_run
        assert run is not None
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ReasonModal))
        await pilot.press("enter")  # empty: still asking
        assert isinstance(app.screen, ReasonModal)
        await pilot.press(*"alice, status page and #engineering", "enter")
        await wait_for(pilot, lambda: run.state.items["notice"].status is Status.CONFIRMED)
    (ev,) = [e for e in run.journal.events(run.meta.id) if e.kind is Ev.ITEM_CONFIRMED]
    assert ev.get("note") == "alice, status page and #engineering"
