"""The pre-flight guard table, through headless and through the TUI: the same questions at
the same moments, the same events journaled.

Each case is a policy and an operator's answers. Both front-ends walk the same runbook the
same way (confirm `told`, then run the action `change`, then finish) with the clock fixed at
Wednesday 10:00 UTC; every question the engine has either of them ask is recorded (what it
is, and how far the journal had got when it was asked), and the two journals are compared
event by event.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from textual.widgets import Input

from runbook.cli.headless import EXIT_ABORTED, EXIT_OK, Headless
from runbook.format.loader import load_text
from runbook.format.model import Runbook
from runbook.journal.sqlite import Journal
from runbook.rules.events import Ev, Event
from runbook.rules.preflight import Guard, Moment, Question
from runbook.session.operator import Operator
from runbook.session.preflight import Preflight
from runbook.session.run import Run
from screens.app import AppConfig, RunbookApp, build_app
from screens.modals.reason_modal import ReasonModal
from screens.modals.typed_env_modal import TypedEnvModal
from screens.run.screen import RunScreen
from steps import default_registry
from tests.tui.conftest import wait_for

WED_10 = 1736935200.0  # Wednesday 2025-01-15 10:00:00 UTC
REG = default_registry()
ALICE = Operator("alice", "host", "")

RUNBOOK = """
runbook: 1
title: Guards
environments:
  prod:
    production: true
    policy: {policy}
phases:
  - id: p
    title: P
    sections:
      - id: s
        title: S
        expected: 2h
        items:
          - {{id: told, title: Maintenance announced, notice: true}}
          - {{id: change, kind: action, title: Change, uses: shell, with: {{argv: ["true"]}}}}
"""


@dataclass(frozen=True)
class Case:
    policy: str
    # what the operator answers, in order: headless prompts, TUI modals (text, or None: Esc)
    headless: tuple[str, ...]
    tui_told: tuple[str | None, ...]  # the modals opened by `c` on `told`
    tui_change: tuple[str | None, ...]  # the modals opened by `r` on `change`
    asked: tuple[tuple[Guard, Moment, str, int], ...]  # (guard, moment, item, events so far)
    finished: bool = True  # the run went through to the end


CASES = {
    "window outside": Case(
        '{window: {days: [sun], start: "02:00", end: "06:00"}}',
        ("approved by the incident lead", "y"), ("approved by the incident lead",), (),
        ((Guard.WINDOW, Moment.FIRST_ITEM, "told", 1),)),
    "window outside, no reason": Case(
        '{window: {days: [sun], start: "02:00", end: "06:00"}}',
        ("",), (None,), (),
        ((Guard.WINDOW, Moment.FIRST_ITEM, "told", 1),), finished=False),
    "window inside": Case(
        '{window: {days: [wed], start: "09:00", end: "17:00"}}',
        ("y",), (), (), ()),
    "typed name right": Case(
        "{typed_confirmation: true}",
        ("y", "prod"), (), ("prod",),
        ((Guard.TYPED_ENV, Moment.FIRST_CHANGE, "change", 2),)),
    "typed name wrong": Case(
        "{typed_confirmation: true}",
        ("y", "staging"), (), ("staging", None),
        ((Guard.TYPED_ENV, Moment.FIRST_CHANGE, "change", 2),), finished=False),
    "notice": Case(
        '{window: {days: [wed], start: "09:00", end: "17:00"}, notice: 24h}',
        ("y", "bob, on the status page"), ("bob, on the status page",), (),
        ((Guard.NOTICE, Moment.CONFIRM, "told", 1),)),
    "budget warning": Case(
        '{window: {days: [wed], start: "09:00", end: "10:30"}}',
        ("y",), (), (),
        ((Guard.BUDGET, Moment.EACH_CHANGE, "change", 2),)),
}


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[Question, int]]]:
    """Every question a front-end hands an answer back to, and the journal's length then."""
    monkeypatch.setenv("RUNBOOK_DETACH", "0")  # the action runs in this process
    monkeypatch.setattr("runbook.cli.headless.time", SimpleNamespace(time=lambda: WED_10))
    monkeypatch.setattr("screens.run.actions.time", SimpleNamespace(time=lambda: WED_10))
    seen: list[tuple[Question, int]] = []
    answer = Preflight.answer

    def recording(self: Preflight, question: Question, text: str | None = "") -> bool:
        seen.append((question, self.run.state.last_seq))
        return answer(self, question, text)

    monkeypatch.setattr(Preflight, "answer", recording)
    yield seen


def runbook(tmp_path: Path, case: Case) -> Runbook:
    path = tmp_path / "guards.yaml"
    path.write_text(RUNBOOK.format(policy=case.policy))
    return load_text(path.read_text(), str(path), REG)


def journaled(run: Run) -> list[tuple[Any, ...]]:
    """The session's events without what differs from run to run (pid, paths, seconds)."""
    def same(ev: Event) -> dict[str, Any]:
        if ev.kind is Ev.ITEM_FACT:
            return {"key": ev.get("key")}
        return {k: v for k, v in ev.data.items() if k not in ("log", "seconds", "facts")}
    return [(ev.kind, ev.item, ev.actor, same(ev)) for ev in run.journal.events(run.meta.id)]


def through_headless(rb: Runbook, db: Path, case: Case) -> tuple[int, Run]:
    run = Run.start(Journal(db), rb, "prod", {}, REG, ALICE, dry_run=False)
    answers = iter(case.headless)
    code = Headless(run, lambda prompt: next(answers), io.StringIO()).main()
    assert next(answers, "(all used)") == "(all used)"
    return code, run


async def answer_modals(app: RunbookApp, pilot: Any, answers: tuple[str | None, ...]) -> None:
    for answer in answers:
        await wait_for(pilot, lambda: isinstance(app.screen, (ReasonModal, TypedEnvModal)))
        modal = app.screen
        if answer is None:
            await pilot.press("escape")
            await wait_for(pilot, lambda shown=modal: app.screen is not shown)
            continue
        modal.query_one(Input).value = answer
        await pilot.press("enter")
        await pilot.pause()


async def through_tui(rb: Runbook, db: Path, case: Case) -> Run:
    app = build_app(AppConfig(rb, REG, Journal(db), ALICE, "prod", {}, False))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
        run = app.current_run
        assert run is not None
        screen = app.screen
        assert isinstance(screen, RunScreen)
        await pilot.press("c")  # on `told`, the first item
        await answer_modals(app, pilot, case.tui_told)
        if not case.finished and not case.tui_change:  # stopped at the first item
            assert app.screen is screen and not run.state.items["told"].done
            return run
        await wait_for(pilot, lambda: run.state.items["told"].done)
        screen.select_item("change")
        await pilot.press("r")
        await answer_modals(app, pilot, case.tui_change)
        if not case.finished:
            await wait_for(pilot, lambda: app.screen is screen)
            assert not run.state.items["change"].attempts
            return run
        await wait_for(pilot, lambda: run.state.items["change"].done)
        await pilot.press("n")  # the last phase: finish
        await wait_for(pilot, lambda: run.state.finished)
    return run


@pytest.mark.parametrize("name", list(CASES))
async def test_the_same_guards_through_headless_and_the_tui(
        tmp_path: Path, asked: list[tuple[Question, int]], name: str) -> None:
    case = CASES[name]
    rb = runbook(tmp_path, case)
    code, headless = through_headless(rb, tmp_path / "headless.db", case)
    by_headless = list(asked)
    asked.clear()
    tui = await through_tui(rb, tmp_path / "tui.db", case)
    by_tui = list(asked)

    assert code == (EXIT_OK if case.finished else EXIT_ABORTED)
    # the same questions (text, prompt, valid answer) at the same moments
    assert [(q.guard, q.moment, q.item, seq) for q, seq in by_headless] == list(case.asked)
    assert by_tui == by_headless
    # the same events journaled
    assert journaled(tui) == journaled(headless)
    guards = {e.kind: e.data for e in headless.journal.events(headless.meta.id)
              if e.kind.value.startswith("guard.")}
    expected = {
        "window outside": {Ev.GUARD_OVERRIDE: {"guard": "window",
                                              "reason": "approved by the incident lead"}},
        "typed name right": {Ev.GUARD_CONFIRMED: {"guard": "typed-env", "reason": "typed prod"}},
        "budget warning": {Ev.GUARD_WARNING: {
            "guard": "window-warning", "window_left_s": 1800, "run_s": 3600, "rollback_s": None,
            "reason": "window 30m left < 1h00m needed (run 1h00m; rollback unknown)"}},
    }
    assert guards == expected.get(name, {})
    if name == "notice":
        (confirmed,) = [e for e in tui.journal.events(tui.meta.id)
                        if e.kind is Ev.ITEM_CONFIRMED]
        assert confirmed.get("note") == "bob, on the status page"

