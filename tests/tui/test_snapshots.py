"""SVG snapshots of the run screen of the bundled runbook (pytest-textual-snapshot).

Deterministic by construction: every module of the project that reads the clock
through `time` sees a frozen clock, the session id's random suffix is fixed, the
operator is fixed, and the journal lives in a relative folder of a temporary cwd
(so no absolute temporary path can reach the screen).

Regenerate after an intended UI change with:
    .venv/bin/pytest tests/tui/test_snapshots.py --snapshot-update
and look at the SVGs under tests/tui/__snapshots__/ before committing them.
"""

from __future__ import annotations

import asyncio
import sys
import time as _real_time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from runbook.format.loader import load
from runbook.journal.sqlite import Journal
from runbook.session.operator import Operator
from screens.app import AppConfig, RunbookApp, build_app
from screens.modals.reason_modal import ReasonModal
from screens.run.screen import RunScreen
from screens.widgets.status_bar import StatusBar
from steps import default_registry

pytest.importorskip("pytest_textual_snapshot")

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "runbooks" / "creatorbridge-deploy.yaml"
# Wednesday 2025-01-15 10:00:00 UTC
FROZEN_NOW = 1736935200.0
# the modules known to read the clock; every other project module holding `time` is patched too
CLOCK_READERS = (
    "runbook.session.run", "runbook.journal.sqlite", "runbook.cli.headless",
    "screens.run.actions", "screens.widgets.status_bar", "screens.widgets.item_list",
    "screens.widgets.item_detail", "screens.widgets.journal_view", "screens.widgets.health_table",
)
SMALL = (80, 24)
LARGE = (160, 48)

SnapCompare = Callable[..., bool]


class FrozenTime:
    """A stand-in for the `time` module whose wall clock is stopped; the rest is the real one."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def time_ns(self) -> int:
        return int(self.now * 1e9)

    def gmtime(self, secs: float | None = None) -> _real_time.struct_time:
        return _real_time.gmtime(self.now if secs is None else secs)

    def localtime(self, secs: float | None = None) -> _real_time.struct_time:
        return _real_time.gmtime(self.now if secs is None else secs)

    def strftime(self, fmt: str, t: Any = None) -> str:
        return _real_time.strftime(fmt, self.gmtime() if t is None else t)

    def __getattr__(self, name: str) -> Any:
        return getattr(_real_time, name)


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import importlib
    for name in CLOCK_READERS:
        importlib.import_module(name)
    clock = FrozenTime(FROZEN_NOW)
    patched = set()
    for name, mod in list(sys.modules.items()):
        if name.split(".")[0] in ("runbook", "screens", "steps") and \
                getattr(mod, "time", None) is _real_time:
            monkeypatch.setattr(mod, "time", clock)
            patched.add(name)
    assert set(CLOCK_READERS) <= patched, set(CLOCK_READERS) - patched
    monkeypatch.setattr("runbook.session.run.secrets", SimpleNamespace(token_hex=lambda n=16: "5eed"))
    monkeypatch.chdir(tmp_path)


def make_app() -> RunbookApp:
    registry = default_registry()
    runbook = load(str(BUNDLED), registry)
    journal = Journal(Path("state") / "journal.db")  # relative: the cwd is tmp_path
    return build_app(AppConfig(runbook, registry, journal, Operator("oncall", "jumphost", ""),
                               "staging", {"NEW_VERSION": "v1.2.3", "APP_DIR": "."}, True))


async def wait_until(pilot: Any, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    end = _real_time.monotonic() + timeout
    while not predicate():
        if _real_time.monotonic() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
        await pilot.pause()


def on_run_screen(then: Callable[[Any], Awaitable[None]] | None = None) -> \
        Callable[[Any], Awaitable[None]]:
    """Wait for the run screen, then do `then`.

    The status bar is refreshed by hand, as its 1 s timer would: its first render
    (on mount) happens before it has a width and is cut to 20 cells, and whether
    the timer has fired by screenshot time depends on the machine's speed.
    """
    async def run_before(pilot: Any) -> None:
        app = pilot.app
        await wait_until(pilot, lambda: isinstance(app.screen, RunScreen))
        await pilot.pause()
        run_screen = app.screen
        run_screen.query_one(StatusBar).refresh_status()
        if then is not None:
            await then(pilot)
        run_screen.query_one(StatusBar).refresh_status()
        await pilot.pause()
    return run_before


@pytest.mark.usefixtures("frozen")
def test_run_screen_small(snap_compare: SnapCompare) -> None:
    """80x24: the narrow layout (navigator hidden, detail in a tab)."""
    assert snap_compare(make_app(), terminal_size=SMALL, run_before=on_run_screen())


@pytest.mark.usefixtures("frozen")
def test_run_screen_large(snap_compare: SnapCompare) -> None:
    """160x48: navigator, item list, side detail and the log tab."""
    assert snap_compare(make_app(), terminal_size=LARGE, run_before=on_run_screen())


@pytest.mark.usefixtures("frozen")
def test_override_reason_modal_large(snap_compare: SnapCompare) -> None:
    """160x48: `o` on the first item opens the reason modal; a reason is half typed."""
    async def override(pilot: Any) -> None:
        await pilot.press("o")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ReasonModal))
        await pilot.press(*"announced late")

    assert snap_compare(make_app(), terminal_size=LARGE, run_before=on_run_screen(override))


@pytest.mark.usefixtures("frozen")
def test_after_confirming_an_item_small(snap_compare: SnapCompare) -> None:
    """80x24: after `c` on the first item: ✔ on it, the cursor on the next one."""
    async def confirm(pilot: Any) -> None:
        app = pilot.app
        await pilot.press("c")
        await wait_until(pilot, lambda: app.current_run.state.items["advance-notice-given"]
                         .status.value == "confirmed")

    assert snap_compare(make_app(), terminal_size=SMALL, run_before=on_run_screen(confirm))
