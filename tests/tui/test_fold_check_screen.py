"""The fold check's screen side (tests/fold_check.py): a Pilot app whose screen shows other
than what another process folds from the journal fails the check when the test is done
with the app. (Its journal side: tests/unit/test_fold_check.py.)

This module provokes the failure on purpose, so it takes a watch of its own instead of the
autouse one every other TUI test ends with.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.text import Text

from runbook.format.loader import load_text
from runbook.journal.sqlite import Journal
from screens.app import AppConfig, build_app
from screens.run.screen import RunScreen
from screens.widgets.item_list import ItemList
from steps import default_registry
from tests import fold_check
from tests.fold_check import FoldWatch
from tests.unit.test_fold_check import ALICE, RUNBOOK


@pytest.fixture
def fold_checked() -> None:
    """(Not the autouse check of tests/tui/conftest.py: this module checks the check.)"""


@pytest.fixture
def watch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FoldWatch]:
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    w = FoldWatch(dumps)
    w.install(monkeypatch.setattr)
    yield w


async def test_a_screen_showing_other_than_the_journal_fails_the_check(
        watch: FoldWatch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fold_check, "SCREEN_SETTLE_S", 1.0)
    rb = load_text(RUNBOOK, str(tmp_path / "fold.yaml"), default_registry())
    app = build_app(AppConfig(rb, default_registry(), Journal(tmp_path / "journal.db"), ALICE,
                              "local", {}, False))
    with pytest.raises(AssertionError) as failed:  # when the test is done with the app
        async with app.run_test(size=(160, 48)) as pilot:
            while not isinstance(app.screen, RunScreen):
                await pilot.pause()
            await pilot.press("down", "c")  # confirm "look"
            while app.current_run is None or \
                    app.current_run.state.items["look"].status.value != "confirmed":
                await pilot.pause()
            await pilot.pause()
            app.screen.query_one(ItemList).update_cell("look", "st", Text("✘"))
    assert "the row of look shows ✘, a fresh fold says confirmed (✔)" in str(failed.value)


async def test_the_screen_is_read_and_found_equal(watch: FoldWatch, tmp_path: Path) -> None:
    rb = load_text(RUNBOOK, str(tmp_path / "fold.yaml"), default_registry())
    app = build_app(AppConfig(rb, default_registry(), Journal(tmp_path / "journal.db"), ALICE,
                              "local", {}, False))
    async with app.run_test(size=(160, 48)) as pilot:
        while not isinstance(app.screen, RunScreen):
            await pilot.pause()
        await pilot.press("down", "c")
        while app.current_run is None or \
                app.current_run.state.items["look"].status.value != "confirmed":
            await pilot.pause()
    (mine,) = watch.watched
    (shown,) = mine.shown
    assert shown["rows"] == {"hello": "○", "look": "✔", "maybe": "○"}
    assert shown["detail"] == ["maybe", "pending", ""]  # the cursor moved on after confirming
    assert shown["required_done"] == [1, 2] and shown["phase"] == [1, 1]
    watch.verify()
