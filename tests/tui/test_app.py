"""Pilot tests of the TUI: navigation, gating, reasons, cancel, quit, guards, choice, logs."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from runbook.rules.events import Ev
from runbook.rules.state import Status
from screens.app import RunbookApp
from screens.modals.choice_modal import ChoiceModal
from screens.modals.quit_modal import QuitModal
from screens.modals.reason_modal import ReasonModal
from screens.modals.typed_env_modal import TypedEnvModal
from screens.run.screen import RunScreen
from screens.widgets.item_list import ItemList
from screens.widgets.log_pane import MAX_LINES, LogPane
from tests.tui.conftest import LONG_ARG, wait_for

MakeApp = Callable[..., RunbookApp]


def screen(app: RunbookApp) -> RunScreen:
    s = app.screen
    assert isinstance(s, RunScreen), s
    return s


def status(app: RunbookApp, item: str) -> Status:
    assert app.current_run is not None
    return app.current_run.state.items[item].status


def events(app: RunbookApp, kind: Ev) -> list[dict[str, object]]:
    run = app.current_run
    assert run is not None
    return [dict(e.data, item=e.item, actor=e.actor)
            for e in run.journal.events(run.meta.id) if e.kind is kind]


def processes_with(arg: str) -> list[int]:
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if arg.encode() in cmd:
            out.append(int(pid))
    return out


async def test_navigation(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        s = screen(app)
        assert s.item is not None and s.item.id == "hello"
        await pilot.press("down")
        assert s.item.id == "look"
        await pilot.press("right_square_bracket")
        assert s.section.id == "second"
        assert s.query_one(ItemList).current == "fails"
        await pilot.press("left_square_bracket")
        assert s.section.id == "first"


async def test_gating_refuses_then_allows(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        run = app.current_run
        assert run is not None
        await pilot.press("n")
        assert run.state.phase == 0
        notes = [n.message for n in app._notifications]
        assert any("hello" in m and "look" in m and "fails" in m for m in notes), notes
        await pilot.press("r")  # run the check
        await wait_for(pilot, lambda: status(app, "hello") is Status.PASSED)
        await pilot.press("down", "c")  # confirm "look"
        assert status(app, "look") is Status.CONFIRMED
        await pilot.press("right_square_bracket", "r")
        await wait_for(pilot, lambda: status(app, "fails") is Status.FAILED)
        await pilot.press("n")
        assert run.state.phase == 0  # the failed check still blocks
        await pilot.press("o")
        assert isinstance(app.screen, ReasonModal)
        await pilot.press(*"known flaky in test", "enter")
        assert status(app, "fails") is Status.OVERRIDDEN
        await pilot.press("n")
        assert run.state.phase == 1
        overrides = events(app, Ev.ITEM_OVERRIDDEN)
        assert overrides == [{"reason": "known flaky in test", "item": "fails",
                              "actor": "alice@testhost"}]


async def test_skip_optional_with_reason(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("down", "s")  # "look" is required: refused
        assert not isinstance(app.screen, ReasonModal)
        await pilot.press("down", "s")
        assert isinstance(app.screen, ReasonModal)
        await pilot.press("enter")  # empty reason is not accepted
        assert isinstance(app.screen, ReasonModal)
        await pilot.press(*"not needed tonight", "enter")
        assert status(app, "maybe") is Status.SKIPPED
        assert events(app, Ev.ITEM_SKIPPED)[0]["reason"] == "not needed tonight"


async def test_enter_never_confirms_and_running_item_cannot_be_confirmed(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("down", "enter")
        assert status(app, "look") is Status.PENDING
        assert not events(app, Ev.ITEM_CONFIRMED)


async def _to_phase_two(app: RunbookApp, pilot: object) -> None:
    run = app.current_run
    assert run is not None
    run.execute("hello")
    run.confirm("look")
    run.override("fails", "test")
    run.advance()
    screen(app)._show_section(run.runbook.phases[1].sections[0])
    await pilot.pause()  # type: ignore[attr-defined]


async def test_choice_records_option_and_marks_other_branch(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await _to_phase_two(app, pilot)
        assert screen(app).item is not None and screen(app).item.id == "how"
        await pilot.press("c")
        assert isinstance(app.screen, ChoiceModal)
        await pilot.press("down", "enter")
        assert app.current_run is not None
        assert app.current_run.state.items["how"].choice == "rolling"
        assert status(app, "helm-up") is Status.NOT_TAKEN
        assert status(app, "roll") is Status.PENDING
        assert events(app, Ev.ITEM_CHOSEN)[0]["option"] == "rolling"


async def test_cancel_running_shell_item_kills_it(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await _to_phase_two(app, pilot)
        screen(app).select_item("long")
        await pilot.press("r")
        await wait_for(pilot, lambda: bool(processes_with(LONG_ARG)))
        # the detached step journals its intent; this terminal folds it in on its next look
        await wait_for(pilot, lambda: status(app, "long") is Status.RUNNING)
        await pilot.press("c")  # cannot confirm a running item
        assert status(app, "long") is Status.RUNNING
        await pilot.press("x")
        await wait_for(pilot, lambda: status(app, "long") is Status.CANCELLED)
        assert processes_with(LONG_ARG) == []


async def test_quit_while_running_asks_then_cancels(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await _to_phase_two(app, pilot)
        screen(app).select_item("long")
        await pilot.press("r")
        await wait_for(pilot, lambda: bool(processes_with(LONG_ARG)))
        await wait_for(pilot, lambda: status(app, "long") is Status.RUNNING)
        await pilot.press("q")
        assert isinstance(app.screen, QuitModal)
        await pilot.press("n")
        assert status(app, "long") is Status.RUNNING
        await pilot.press("q")
        await pilot.press("k")  # cancel them and quit (l would leave the detached step running)
        await wait_for(pilot, lambda: not app.is_running or status(app, "long")
                       is Status.CANCELLED)
    assert processes_with(LONG_ARG) == []
    assert status(app, "long") is Status.CANCELLED


async def test_production_asks_window_reason_and_typed_name(make_app: MakeApp) -> None:
    app = make_app(env="prod")
    async with app.run_test(size=(160, 48)) as pilot:
        await _to_phase_two(app, pilot)  # through the engine directly: no guard asked
        # outside the window: the reason before the first item acted on here (the README's
        # "before the first item", as headless asks it), not only before the first change
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ReasonModal))
        await pilot.press(*"sev1 hotfix", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ChoiceModal))
        await pilot.press("enter")  # choose helm
        screen(app).select_item("helm-up")
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, TypedEnvModal))
        await pilot.press(*"staging", "enter")
        assert isinstance(app.screen, TypedEnvModal)  # wrong name: still asking
        await pilot.press("ctrl+a", "ctrl+k", *"prod", "enter")
        await wait_for(pilot, lambda: status(app, "helm-up") is Status.PASSED)
        guards = events(app, Ev.GUARD_OVERRIDE) + events(app, Ev.GUARD_CONFIRMED)
        assert [g["guard"] for g in guards] == ["window", "typed-env"]
        assert guards[0]["reason"] == "sev1 hotfix"
        # asked once per session: the next mutating item goes straight on
        screen(app).select_item("long")
        await pilot.press("r")
        await wait_for(pilot, lambda: status(app, "long") is Status.RUNNING)
        await pilot.press("x")
        await wait_for(pilot, lambda: status(app, "long") is Status.CANCELLED)


async def test_log_flood_bounded_in_pane_complete_in_file(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await _to_phase_two(app, pilot)
        screen(app).select_item("flood")
        await pilot.press("r")
        await wait_for(pilot, lambda: status(app, "flood") is Status.PASSED)
        pane = screen(app).query_one(LogPane)
        await wait_for(pilot, lambda: pane.total == 20000)
        from textual.widgets import Log
        log = pane.query_one(Log)
        assert log.line_count <= MAX_LINES
        assert log.lines[-1] == "20000"
        assert app.current_run is not None
        path = app.current_run.dir / "logs" / "flood.log"
        lines = path.read_text().splitlines()
        assert lines == [str(n) for n in range(1, 20001)]
        assert "not shown here" in str(pane.query_one("#log-header").render())


def _pod(name: str, status: str = "Running", ready: str = "1/1", restarts: int = 0,
         image: str = "app:v1") -> dict[str, object]:
    return {"name": name, "ready": ready, "status": status, "restarts": restarts, "age": "5m",
            "node": "node-1", "image": image}


async def test_pod_table_keyed_snapshots_keep_cursor(make_app: MakeApp) -> None:
    from screens.messages import PodsSnapshot
    from screens.widgets.pod_table import PodTable
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        s = screen(app)
        await pilot.press("3")
        table = s.query_one(PodTable)
        s.post_message(PodsSnapshot([_pod(f"api-{n}") for n in range(5)]))
        await pilot.pause()
        assert table.row_count == 5
        table.move_cursor(row=3)
        assert table.current_pod == "api-3"
        # 2nd: api-0 gone, api-3 restarting, a new pod
        s.post_message(PodsSnapshot([_pod("api-1"), _pod("api-2"),
                                     _pod("api-3", "CrashLoopBackOff", "0/1", 2),
                                     _pod("api-4"), _pod("api-5", "Pending", "0/1")]))
        await pilot.pause()
        assert table.row_count == 5
        assert table.current_pod == "api-3"
        assert str(table.get_cell("api-3", "status")) == "CrashLoopBackOff"
        # 3rd: a rollout replaced api-1 and api-2
        s.post_message(PodsSnapshot([_pod("api-3", restarts=3, image="app:v2"), _pod("api-4"),
                                     _pod("api-5"), _pod("api-6", image="app:v2")]))
        await pilot.pause()
        assert table.row_count == 4
        assert table.current_pod == "api-3"
        assert str(table.get_cell("api-3", "image")) == "app:v2"
        assert "4 (4 running and ready)" in str(table.border_title)


async def test_setup_form_validates_before_the_run(tmp_path: Path, runbook) -> None:  # type: ignore[no-untyped-def]
    from textual.widgets import Input, Select

    from runbook.journal.sqlite import Journal
    from runbook.session.operator import Operator
    from screens.app import AppConfig, build_app
    from screens.modals.setup_screen import SetupScreen
    from steps import default_registry
    app = build_app(AppConfig(runbook, default_registry(), Journal(tmp_path / "j.db"),
                              Operator("bob", "h", ""), None, {}, True, missing=("TAG",)))
    async with app.run_test(size=(100, 30)) as pilot:
        assert isinstance(app.screen, SetupScreen)
        app.screen.query_one("#env", Select).value = "local"
        field = app.screen.query_one("#var-TAG", Input)
        field.value = "$(touch pwned)"
        field.focus()
        await pilot.press("enter")
        assert isinstance(app.screen, SetupScreen)  # refused: does not match the pattern
        assert "does not match" in str(app.screen.query_one("#err-TAG").render())
        assert app.current_run is None
        field.value = "v42"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, RunScreen)
        assert app.current_run is not None
        assert app.current_run.variables["TAG"] == "v42"
        assert app.current_run.meta.dry_run


async def test_search_jumps_to_item_and_palette_lists_actions(make_app: MakeApp) -> None:
    from screens.modals.search_modal import SearchModal
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("slash")
        assert isinstance(app.screen, SearchModal)
        await pilot.press(*"always fails", "enter")
        s = screen(app)
        assert s.section.id == "second" and s.item is not None and s.item.id == "fails"
        titles = [c.title for c in app.get_system_commands(s)]
        for name in ("step: run", "step: confirm", "step: cancel", "phase: next",
                     "section: run checks", "step: override", "app: quit"):
            assert name in titles, titles


async def test_reconcile_interrupted_action_in_the_tui(make_app: MakeApp) -> None:
    from textual.widgets import Input

    from screens.modals.reconcile_modal import ReconcileModal
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await _to_phase_two(app, pilot)
        run = app.current_run
        assert run is not None
        run.choose("how", "helm")
        run.emit(Ev.ITEM_INTENT, "helm-up", {"command": "echo helm"})
        # the process that ran it is gone: fold the journal again, as `resume` does
        from runbook.rules.fold import fold
        run.state = fold(run.runbook, run.meta.env, run.journal.iter_events(run.meta.id))
        assert status(app, "helm-up") is Status.NEEDS_RECONCILE
        screen(app).select_item("helm-up")
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ReconcileModal))
        modal = app.screen
        assert "cannot check the live state" in str(modal.query_one("#probe").render())
        await pilot.click("#done")
        await pilot.pause()
        assert isinstance(app.screen, ReconcileModal)  # a reason is required
        modal.query_one("#reconcile-reason", Input).value = "release checked: revision 5"
        await pilot.pause(0.5)  # a button ignores a second press during its press effect
        await pilot.click("#done")
        await wait_for(pilot, lambda: status(app, "helm-up") is Status.PASSED)
        assert events(app, Ev.ITEM_RECONCILED)[0]["reason"] == "release checked: revision 5"


async def test_services_pane_shows_health_rounds(make_app: MakeApp) -> None:
    import time as _time

    from screens.widgets.health_table import HealthTable
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        s = screen(app)
        await pilot.press("4")
        await wait_for(pilot, lambda: bool(s.query(HealthTable)))
        table = s.query_one(HealthTable)
        assert app.current_run is not None
        app.current_run.publish("health", {"api": {"status": "unhealthy", "latency_ms": 42.0,
                                                   "checked": _time.time()}})
        await wait_for(pilot, lambda: str(table.get_cell("api", "status")) == "unhealthy")
        assert str(table.get_cell("api", "latency")) == "42 ms"
