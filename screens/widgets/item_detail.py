"""Item detail: help, the rendered command (secrets masked), parameters, who, when, why."""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from runbook.format.durations import format_range
from runbook.format.model import Item, ItemKind
from runbook.rules.events import Ev
from runbook.rules.state import Status
from runbook.rules.two_person import needs_second_person
from runbook.session.run import Run
from screens.glyphs import GLYPH, STYLE

HINTS = {
    ItemKind.CONFIRM: "c confirm · o override (reason)",
    ItemKind.CHECK: "r run · x cancel · o override (reason)",
    ItemKind.ACTION: "r run · x cancel · o override (reason)",
    ItemKind.CHOICE: "c choose an option",
    ItemKind.WAIT: "r start the watch · x stop it",
    ItemKind.NOTE: "c acknowledge",
}


def _when(t: float | None) -> str:
    return time.strftime("%H:%M:%S UTC", time.gmtime(t)) if t else ""


class ItemDetail(VerticalScroll):
    DEFAULT_CSS = """
    ItemDetail { padding: 0 1; }
    """

    def __init__(self, run: Run, id: str) -> None:
        super().__init__(id=id)
        self.run = run
        self.item: Item | None = None
        self._body = Static()

    def compose(self) -> ComposeResult:
        yield self._body

    def show(self, item: Item | None) -> None:
        self.item = item
        self.refresh_detail()

    def refresh_detail(self) -> None:
        item = self.item
        if item is None:
            self._body.update("")
            return
        r = self.run
        st = r.state.items[item.id]
        t = Text()
        t.append(f"{GLYPH[st.status]} {st.status}", STYLE[st.status] or "bold")
        t.append(f"   {item.kind}{' (mutating)' if item.mutating else ''}")
        t.append("   required" if item.required else "   optional", "bold" if item.required else "dim")
        if item.expected:
            t.append(f"   expected {format_range(item.expected)}", "dim")
        t.append(f"\n{r.text(item)}\n", "bold")
        t.append(f"id {item.id}", "dim")
        if item.service:
            t.append(f"   service {item.service}", "dim")
        t.append("\n")
        if item.help:
            t.append(f"\n{r.text(item, 'help').strip()}\n")
        if item.automated or item.kind is ItemKind.WAIT:
            t.append("\n$ ", "bold")
            t.append(r.describe(item) + "\n", "bold cyan")
            if r.meta.dry_run and (item.mutating or item.kind is ItemKind.WAIT):
                t.append("dry run: this will not be executed\n", "cyan")
        if item.kind is ItemKind.CHOICE:
            for o in item.options:
                mark = "●" if st.choice == o.id else "○"
                t.append(f"\n {mark} {o.title}{' (recommended)' if o.recommended else ''}")
                if o.help:
                    t.append(f"\n   {o.help}", "dim")
            t.append("\n")
        if item.needs:
            t.append(f"\nneeds: {', '.join(item.needs)}\n", "dim")
        if st.actor and st.status is not Status.PENDING:
            verb = {Status.CONFIRMED: "confirmed", Status.SKIPPED: "skipped",
                    Status.OVERRIDDEN: "overridden", Status.NOT_TAKEN: "not taken"}.get(
                st.status, "run")
            t.append(f"\n{verb} by {st.actor} at {_when(st.finished or st.started)}\n")
        if st.cosigned_by:
            t.append(f"co-signed by {st.cosigned_by} (two-person rule)\n", "magenta")
        elif needs_second_person(r.env, item) and not r.meta.dry_run and not st.done:
            t.append("\ntwo-person rule: a second operator co-signs this item (g, from "
                     "`runbook attach`)\n", "magenta")
        if st.reason:
            t.append(f"reason: {st.reason}\n", "yellow")
        if st.message:
            t.append(f"result: {st.message}\n", STYLE[st.status] or "")
        why = r.check(Ev.ITEM_STARTED if item.automated else Ev.ITEM_CONFIRMED, item.id)
        if why and not st.done and st.status is not Status.RUNNING:
            t.append(f"\nblocked: {why}\n", "dim italic")
        t.append(f"\n{HINTS[item.kind]}", "dim")
        self._body.update(t)
