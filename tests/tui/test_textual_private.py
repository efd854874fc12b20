"""If Textual's private names change, pacing and the cell diff turn off with one line; no crash.

Each test makes this Textual look like a later one (a private name renamed, a private
module gone, a timer that cannot be replaced) with monkeypatch, then drives the app: it
starts, navigates and runs a step as stock Textual would, and says once why pacing is off.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from runbook.rules.state import Status
from screens.app import RunbookApp
from screens.run.screen import RunScreen
from screens.terminal import pacing, textual_private
from tests.tui.conftest import wait_for

MakeApp = Callable[..., RunbookApp]
NOTICE = "Slow-link pacing and the cell diff are off: "


def notices(app: RunbookApp) -> list[str]:
    return [n.message for n in app._notifications if n.message.startswith(NOTICE)]


async def still_works(app: RunbookApp, pilot: object) -> None:
    """The app goes on as stock Textual: the run screen, a key, a step that runs."""
    await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
    s = app.screen
    assert isinstance(s, RunScreen) and s.item is not None and s.item.id == "hello"
    await pilot.press("down")  # type: ignore[attr-defined]
    assert s.item.id == "look"
    await pilot.press("up", "r")  # type: ignore[attr-defined]
    run = app.current_run
    assert run is not None
    await wait_for(pilot, lambda: run.state.items["hello"].status is Status.PASSED)


# Textual's private names screens/ uses; the room is the only module that may name them
PRIVATE = {"_driver", "_display", "_timers", "_on_timer_update", "_active", "_tick", "_start",
           "_interval", "_callback", "_bindings_ready", "_compositor"}


def test_private_textual_names_are_used_only_in_their_room() -> None:
    room = Path(textual_private.__file__)
    found = []
    for path in sorted(room.parents[1].rglob("*.py")):
        if path == room:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        own = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}  # ours, not Textual's
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and re.match(r"textual(\.\w+)*\._", node.module or ""):
                found.append(f"{path.name}:{node.lineno} imports {node.module}")
            elif isinstance(node, ast.Attribute) and node.attr in PRIVATE - own:
                found.append(f"{path.name}:{node.lineno} uses .{node.attr}")
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and node.value.startswith(("_Screen__", "_App__", "_bindings_ready")):
                found.append(f"{path.name}:{node.lineno} names {node.value}")
    assert found == []


def test_this_textual_has_the_expected_private_names() -> None:
    assert textual_private.problem() == ""


async def test_pacing_is_on_with_this_textual(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
        assert app.pacer.off == "" and app.pacer.diff is not None
        assert notices(app) == []


async def test_a_renamed_private_attribute_turns_pacing_off_with_one_line(
        make_app: MakeApp, monkeypatch: pytest.MonkeyPatch) -> None:
    """A later Textual calls the screen's update timer something else."""
    monkeypatch.setattr(textual_private, "TIMER_ATTR", "_Screen__update_clock")
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await still_works(app, pilot)
        assert app.pacer.off == "Screen.__update_timer is missing or not a Timer"
        assert notices(app) == [NOTICE + app.pacer.off]
        assert app.pacer.diff is None
        app.pacer.count(6000)  # heavy output no longer slows anything down
        app.pacer.adapt()
        assert app.pacer.fps == pacing.MAX_FPS and not app.pacer.slowed


async def test_a_missing_private_method_turns_pacing_off(
        make_app: MakeApp, monkeypatch: pytest.MonkeyPatch) -> None:
    """A later Textual has no App._display (the hook would be on nothing)."""
    monkeypatch.setattr(textual_private, "_params", lambda fn: [])
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await still_works(app, pilot)
        assert notices(app) == [NOTICE + "App._display(screen, renderable) has changed"]
        assert "_display" not in vars(app)  # nothing was hooked


async def test_a_missing_private_module_turns_pacing_off(
        make_app: MakeApp, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(textual_private, "_IMPORTS", "no textual._compositor in this Textual")
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await still_works(app, pilot)
        assert notices(app) == [NOTICE + "no textual._compositor in this Textual"]


async def test_a_timer_that_cannot_be_replaced_turns_pacing_off_mid_session(
        make_app: MakeApp, monkeypatch: pytest.MonkeyPatch) -> None:
    """The start-up check passed, but replacing the update timer fails when output gets
    heavy: pacing turns off then, once, and the screen keeps its own timer."""

    def broken(*args: object, **kwargs: object) -> None:
        raise AttributeError("'Timer' object has no attribute '_active'")

    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
        assert app.pacer.off == ""
        monkeypatch.setattr(textual_private.FrameTimer, "__init__", broken)
        pacer = app.pacer
        pacer.boost_until = 0.0
        pacer.paced_fps = lambda now=None: 4.0  # type: ignore[method-assign]
        pacer.adapt()
        pacer.adapt()
        assert pacer.off.startswith("the screen's update timer cannot be replaced")
        await wait_for(pilot, lambda: bool(notices(app)))
        assert len(notices(app)) == 1 and pacer.fps == pacing.MAX_FPS
        assert not isinstance(textual_private.update_timer(app.screen), textual_private.FrameTimer)
        await still_works(app, pilot)
