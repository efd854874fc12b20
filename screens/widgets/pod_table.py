"""The live pod table: keyed diff per snapshot (remove gone rows, update changed cells,
add new ones), never a full rebuild; the cursor stays on the same pod."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable

COLUMNS = ("name", "ready", "status", "restarts", "age", "node", "image")


class PodTable(DataTable[Text]):
    def __init__(self) -> None:
        super().__init__(id="pod-table", cursor_type="row", zebra_stripes=True)
        self._rows: dict[str, tuple[str, ...]] = {}

    def on_mount(self) -> None:
        for c in COLUMNS:
            self.add_column(c, key=c)
        self.border_title = "Pods: waiting for the first snapshot"

    def apply_snapshot(self, pods: list[dict[str, Any]]) -> None:
        new = {str(p["name"]): tuple(str(p.get(c, "")) for c in COLUMNS) for p in pods}
        current_key = None
        if self.row_count and 0 <= self.cursor_row < self.row_count:
            current_key = self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key.value
        with self.app.batch_update():
            for name in [n for n in self._rows if n not in new]:
                self.remove_row(name)
                del self._rows[name]
            for name, cells in new.items():
                old = self._rows.get(name)
                if old is None:
                    self.add_row(*(Text(c) for c in cells), key=name)
                    self._rows[name] = cells
                elif old != cells:
                    for col, a, b in zip(COLUMNS, old, cells, strict=True):
                        if a != b:
                            self.update_cell(name, col, Text(b))
                    self._rows[name] = cells
            if current_key in self._rows:
                self.move_cursor(row=self.get_row_index(current_key))
        ready = sum(1 for c in new.values() if c[2] == "Running" and _ready(c[1]))
        self.border_title = f"Pods: {len(new)} ({ready} running and ready)"

    @property
    def current_pod(self) -> str | None:
        if not self.row_count:
            return None
        return str(self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key.value)


def _ready(text: str) -> bool:
    a, _, b = text.partition("/")
    return bool(b) and a == b
