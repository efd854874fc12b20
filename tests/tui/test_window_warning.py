"""Pilot test: the status bar's window clock warns when the window left is shorter than
the run still needs plus its rollback; the warning is journaled once, before the first
change (the engine's pre-flight moment, the same as headless)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from runbook.format.loader import load
from runbook.journal.sqlite import Journal
from runbook.rules.events import Ev, Event
from runbook.session.operator import Operator
from screens.app import AppConfig, build_app
from screens.run.screen import RunScreen
from screens.widgets.status_bar import StatusBar
from steps import default_registry
from tests.tui.conftest import wait_for

WED_10 = 1736935200.0  # Wednesday 2025-01-15 10:00:00 UTC

DEPLOY = """
runbook: 1
title: Short window
rollback: short-rollback.yaml
environments:
  prod:
    namespace: prod
    production: true
    policy: {window: {days: [wed], start: "09:00", end: "10:30"}}
phases:
  - id: one
    title: One
    sections:
      - id: work
        title: Work
        expected: 40m
        items:
          - {id: look, title: Look}
          - {id: change, kind: action, title: Change, uses: shell, with: {argv: ["true"]}}
"""
ROLLBACK = """
runbook: 1
title: Short rollback
environments:
  prod: {namespace: prod}
phases:
  - id: back
    title: Back
    sections:
      - {id: undo, title: Undo, expected: 5-15m, items: [{id: undo-it, title: Undo it}]}
"""


def line2(bar: StatusBar) -> str:
    return str(bar.content).splitlines()[1]  # the progress line, cut to the terminal width


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_status_bar_warns_when_the_window_is_too_short(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: tuple[int, int]) -> None:
    monkeypatch.setattr("screens.widgets.status_bar.time", SimpleNamespace(time=lambda: WED_10))
    monkeypatch.setattr("screens.run.actions.time", SimpleNamespace(time=lambda: WED_10))
    (tmp_path / "short.yaml").write_text(DEPLOY)
    (tmp_path / "short-rollback.yaml").write_text(ROLLBACK)
    registry = default_registry()
    app = build_app(AppConfig(load(tmp_path / "short.yaml", registry), registry,
                              Journal(tmp_path / "journal.db"), Operator("alice", "host", ""),
                              "prod", {}, False))
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
        bar = app.screen.query_one(StatusBar)
        bar.refresh_status()
        text = line2(bar)
        # 30m left of the window; 40m of work + 10m of rollback (midpoint of 5-15m)
        assert text.startswith("⚠ window 30m left < 50m needed (run 40m + rollback 10m)")
        content = bar.content
        assert any("yellow" in str(s.style) for s in getattr(content, "spans", []))
        run = app.current_run
        assert run is not None
        bar.refresh_status()

        def warnings() -> list[Event]:
            return [e for e in run.journal.events(run.meta.id) if e.kind is Ev.GUARD_WARNING]

        assert warnings() == []  # the clock shows it; the guard journals it before a change
        app.screen.select_item("change")
        await pilot.press("r")
        await wait_for(pilot, lambda: run.state.items["change"].done)
        assert len(warnings()) == 1 and warnings()[0].get("reason") in text

        run.confirm("look")  # all the work done: the rollback's 10m fit in the 30m left
        bar.refresh_status()
        assert not line2(bar).startswith("⚠")
        assert "in window Wed 09:0" in line2(bar)  # the clock, green, at the end of the line
