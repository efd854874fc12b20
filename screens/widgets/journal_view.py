"""The event timeline of the session, newest last."""

from __future__ import annotations

import time

from textual.widgets import DataTable

from runbook.rules.events import Event
from runbook.session.run import Run

COLUMNS = ("#", "time", "event", "item", "by", "detail")


class JournalView(DataTable[str]):
    def __init__(self, run: Run) -> None:
        super().__init__(id="journal-view", cursor_type="row", zebra_stripes=True)
        self.run = run
        self.last_seq = 0

    def on_mount(self) -> None:
        for c in COLUMNS:
            self.add_column(c, key=c)
        for ev in self.run.journal.iter_events(self.run.meta.id):  # catch up
            self.add_event(ev)

    def add_event(self, ev: Event) -> None:
        if ev.seq <= self.last_seq:
            return
        self.last_seq = ev.seq
        detail = ev.get("reason") or ev.get("message") or ev.get("option") or ev.get("command") or ""
        at_end = self.cursor_row >= self.row_count - 1
        self.add_row(str(ev.seq), time.strftime("%H:%M:%S", time.gmtime(ev.ts)), ev.kind.value,
                     ev.item or "", ev.actor, str(detail)[:120], key=str(ev.seq))
        if at_end:
            self.move_cursor(row=self.row_count - 1)
