"""The items of the selected section: status, required marker, kind, title, duration."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from runbook.format.durations import format_duration, format_range
from runbook.format.model import Item, Section
from runbook.rules.state import ItemState, RunState, Status
from screens.glyphs import GLYPH, KIND, STYLE

COLUMNS = ("st", "req", "kind", "took/expected", "item")


class ItemList(DataTable[Text]):
    DEFAULT_CSS = """
    ItemList { height: 1fr; overflow-x: hidden; }
    """

    @dataclass
    class ItemHighlighted(Message):
        item: str

    def __init__(self) -> None:
        super().__init__(id="item-list", cursor_type="row", zebra_stripes=True)
        self.section: Section | None = None
        self.items: list[Item] = []
        self.title_of: Callable[[Item], str] = lambda item: item.title

    def on_mount(self) -> None:
        for c in COLUMNS:
            self.add_column(c, key=c)

    def show(self, section: Section, state: RunState) -> None:
        """Rebuild for another section (only when the section changes)."""
        self.section = section
        self.items = []
        for it in section.items:
            self.items.append(it)
            for o in it.options:
                self.items.extend(o.items)
        self.border_title = section.title
        self.border_subtitle = "[ ] section · t navigator"
        with self.app.batch_update():
            self.clear()
            for it in self.items:
                self.add_row(*self._cells(it, state.items[it.id]), key=it.id)
        if self.items:
            self.move_cursor(row=0)
            self.post_message(self.ItemHighlighted(self.items[0].id))

    def refresh_state(self, state: RunState, changed: set[str] | None = None) -> None:
        """Update the cells of changed rows in place."""
        with self.app.batch_update():
            for it in self.items:
                if changed is not None and it.id not in changed:
                    continue
                for col, value in zip(COLUMNS, self._cells(it, state.items[it.id]), strict=True):
                    self.update_cell(it.id, col, value)

    def tick(self, state: RunState) -> None:
        """Refresh the duration of running items (once a second)."""
        running = {i.id for i in self.items if state.items[i.id].status is Status.RUNNING}
        if running:
            self.refresh_state(state, running)

    @property
    def current(self) -> str | None:
        if not self.items or self.cursor_row < 0 or self.cursor_row >= len(self.items):
            return None
        return self.items[self.cursor_row].id

    def select(self, item_id: str) -> None:
        for n, it in enumerate(self.items):
            if it.id == item_id:
                self.move_cursor(row=n)
                return

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            self.post_message(self.ItemHighlighted(event.row_key.value))

    def _cells(self, it: Item, st: ItemState) -> tuple[Text, ...]:
        glyph = Text(GLYPH[st.status], STYLE[st.status])
        req = Text("*" if it.required else "", "bold")
        kind = Text(KIND[it.kind], "bold red" if it.mutating else "dim")
        title = Text(("  ↳ " if it.branch else "") + self.title_of(it),
                     "dim" if st.status is Status.NOT_TAKEN else "")
        took = ""
        if st.started and st.status is Status.RUNNING:
            took = format_duration(time.time() - st.started)
        elif st.started and st.finished:
            took = format_duration(st.finished - st.started)
        exp = format_range(it.expected)
        return glyph, req, kind, Text(f"{took}{'/' if took and exp else ''}{exp}", "dim"), title
