"""The live pod table: changed rows applied as a keyed diff (remove gone rows, update changed
cells, add new ones), never a full rebuild; the cursor stays on the same pod.

Cells are `Cell`s: plain text rendered as one segment, never parsed as markup, and never
measured: DataTable measures a renderable only if it can be measured, and the columns have
fixed widths, which the table widens itself when a longer value arrives. The headings are
Text that cannot be measured either: a heading wider than a changed cell's measured width
makes DataTable measure every cell of that column again. So adding thousands of rows, or
changing a cell, costs no measuring pass over the table.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions
from rich.segment import Segment
from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable

COLUMNS = ("name", "ready", "status", "restarts", "age", "node", "image")
MAX_WIDTH = 80  # a column is never widened past this (longer values are cut)


class Cell:
    """One cell's text."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Cell({self.text!r})"

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Segment]:
        yield Segment(self.text)


class Heading(Text):
    """A column's heading, rendered as Text, never measured."""

    __rich_measure__ = None  # type: ignore[assignment]


class PodTable(DataTable[Cell]):
    def __init__(self) -> None:
        super().__init__(id="pod-table", cursor_type="row", zebra_stripes=True)
        self._rows: dict[str, tuple[str, ...]] = {}
        self._ready = 0  # rows running and ready

    def on_mount(self) -> None:
        for c in COLUMNS:
            self.add_column(Heading(c), key=c, width=cell_len(c))
        self.border_title = "Pods: waiting for the first snapshot"

    def apply_snapshot(self, pods: list[dict[str, Any]]) -> None:
        """The namespace's pods now: rows gone are removed, the others added or updated."""
        names = {str(p["name"]) for p in pods}
        self.apply_changes(pods, [n for n in self._rows if n not in names])

    def apply_changes(self, changed: list[dict[str, Any]], removed: Iterable[str]) -> None:
        """Rows added or changed, and names removed, since the last call."""
        current_key = None
        if self.row_count and 0 <= self.cursor_row < self.row_count:
            current_key = self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key.value
        with self.app.batch_update():
            for name in removed:
                old = self._rows.pop(name, None)
                if old is not None:
                    self._ready -= _ready(old)
                    self.remove_row(name)
            rows = [(name, cells) for name, cells in
                    ((str(p["name"]), tuple(str(p.get(c, "")) for c in COLUMNS)) for p in changed)
                    if self._rows.get(name) != cells]
            self._widen(cells for _, cells in rows)
            for name, cells in rows:
                old = self._rows.get(name)
                if old is None:
                    self.add_row(*(Cell(c) for c in cells), key=name)
                else:
                    self._ready -= _ready(old)
                    for col, a, b in zip(COLUMNS, old, cells, strict=True):
                        if a != b:
                            self.update_cell(name, col, Cell(b))
                self._rows[name] = cells
                self._ready += _ready(cells)
            if current_key in self._rows and self.get_row_index(current_key) != self.cursor_row:
                self.move_cursor(row=self.get_row_index(current_key))  # rows above it went
        self.border_title = f"Pods: {len(self._rows)} ({self._ready} running and ready)"

    def _widen(self, rows: Iterable[tuple[str, ...]]) -> None:
        """Widen the columns to the longest new values (at most MAX_WIDTH)."""
        columns = [self.columns[c] for c in COLUMNS]  # type: ignore[index]
        widths = [c.width for c in columns]
        for cells in rows:
            for i, text in enumerate(cells):
                if len(text) > widths[i]:
                    widths[i] = max(widths[i], min(cell_len(text), MAX_WIDTH))
        for column, width in zip(columns, widths, strict=True):
            if width > column.width:
                column.width = width
                self.refresh()

    @property
    def current_pod(self) -> str | None:
        if not self.row_count:
            return None
        return str(self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key.value)


def _ready(cells: tuple[str, ...]) -> int:
    a, _, b = cells[1].partition("/")
    return int(cells[2] == "Running" and bool(b) and a == b)
