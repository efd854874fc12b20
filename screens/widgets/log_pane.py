"""The live log of the selected item: bounded, batched, follows the tail only at the bottom.

A batch (one drain of the output bridge: 100 ms of output, longer when the pacer slows the
app down over a slow link) is one write to the `Log` and one repaint of what it shows,
however many lines it has. Once the Log holds MAX_LINES, Textual prunes the oldest and
refreshes only the rows of the new lines, which then lie past its end: the pane would
stay frozen on old lines, so a batch that prunes repaints the pane itself.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Log, Static

from runbook.files.paths import log_name

MAX_LINES = 5000
SWITCH_LINES = 500  # lines shown when switching items (keys stay fast during a flood)


class LogPane(Vertical):
    DEFAULT_CSS = """
    LogPane > #log-header { height: 1; color: $text-muted; padding: 0 1; }
    LogPane > Log { height: 1fr; }
    """

    def __init__(self) -> None:
        super().__init__(id="log-pane")
        self.item_id: str | None = None
        self.total = 0
        self.shown = 0
        self.log_dir = ""

    def compose(self) -> ComposeResult:
        yield Static("", id="log-header")
        yield Log(max_lines=MAX_LINES, id="log")

    def show(self, item_id: str, lines: list[str], total: int, log_dir: str) -> None:
        """Switch to another item's output."""
        self.item_id = item_id
        self.log_dir = log_dir
        log = self.query_one(Log)
        log.clear()
        log.write_lines(lines[-SWITCH_LINES:])
        self.total = total
        self.shown = min(len(lines), SWITCH_LINES)
        self._header()

    def append(self, lines: list[str], total: int) -> None:
        log = self.query_one(Log)
        lines = lines[-MAX_LINES:]  # the others would be pruned at once
        prunes = len(log.lines) + len(lines) > MAX_LINES
        log.write_lines(lines)
        if prunes:
            log.refresh()
        self.total = total
        self.shown = min(self.shown + len(lines), MAX_LINES)
        self._header()

    def _header(self) -> None:
        path = f"{self.log_dir}/{log_name(self.item_id)}" if self.item_id else ""
        dropped = self.total - self.shown
        text = f"{self.item_id or 'no item'}: {self.total} lines"
        if dropped > 0:
            text += f" ({dropped} older lines not shown here)"
        if self.total:
            text += f" · full output: {path}"
        elif self.item_id:
            text += " (no output yet)"
        self.query_one("#log-header", Static).update(Text(text, no_wrap=True, overflow="ellipsis"),
                                                     layout=False)
