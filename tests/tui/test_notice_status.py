"""Pilot test: where the policy requires advance notice, the status bar says when it was
due until the notice item is confirmed, and `c` alone does not confirm it (it needs who
sent the notice)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from runbook.format.loader import load
from runbook.journal.sqlite import Journal
from runbook.rules.state import Status
from runbook.session.operator import Operator
from screens.app import AppConfig, build_app
from screens.run.screen import RunScreen
from screens.widgets.status_bar import StatusBar
from steps import default_registry
from tests.tui.conftest import wait_for

WED_10 = 1736935200.0  # Wednesday 2025-01-15 10:00:00 UTC

RUNBOOK = """
runbook: 1
title: Notice
environments:
  prod:
    namespace: prod
    production: true
    policy: {window: {days: [sun], start: "02:00", end: "06:00"}, notice: 24h}
  test: {namespace: test}
phases:
  - id: pre
    title: Pre-flight
    sections:
      - id: notice
        title: Notice
        items:
          - {id: notice-given, title: 24 hours notice given, notice: true}
          - {id: other, title: Something else}
"""


def line1(bar: StatusBar) -> str:
    return str(bar.content).splitlines()[0]


@pytest.mark.parametrize("env", ["prod", "test"])
async def test_status_bar_says_when_the_notice_was_due(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: str) -> None:
    monkeypatch.setattr("screens.widgets.status_bar.time", SimpleNamespace(time=lambda: WED_10))
    (tmp_path / "notice.yaml").write_text(RUNBOOK)
    registry = default_registry()
    app = build_app(AppConfig(load(tmp_path / "notice.yaml", registry), registry,
                              Journal(tmp_path / "journal.db"), Operator("alice", "host", ""),
                              env, {}, True))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
        run = app.current_run
        assert run is not None
        bar = app.screen.query_one(StatusBar)
        bar.refresh_status()
        if env == "test":  # no notice rule: no clock, and `c` confirms as usual
            assert "notice" not in line1(bar)
            await pilot.press("c")
            await wait_for(pilot, lambda: run.state.items["notice-given"].done)
            return
        # the window after Wed 2025-01-15 opens Sun 19 Jan 02:00: notice due 24 h before
        assert "Notice  notice due by Sat 18 Jan 02:00 UTC  alice" in line1(bar)
        await pilot.press("c")
        await pilot.pause()
        assert run.state.items["notice-given"].status is Status.PENDING  # refused: no note
        run.confirm("notice-given", "bob, on the status page")
        bar.refresh_status()
        assert "notice due" not in line1(bar)
