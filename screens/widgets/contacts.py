"""Contacts and the environment-variable checklist of the runbook."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from runbook.format.model import Runbook


class Contacts(VerticalScroll):
    def __init__(self, runbook: Runbook) -> None:
        super().__init__(id="contacts")
        self.runbook = runbook

    def compose(self) -> ComposeResult:
        t = Table("role", "name", "channel", title="Emergency contacts", expand=True)
        for c in self.runbook.contacts:
            t.add_row(c.role, c.name, c.channel)
        yield Static(t)
        if self.runbook.env_checklist:
            e = Table("variable", "services", "held in", "what", title="Environment variables",
                      expand=True)
            for v in self.runbook.env_checklist:
                held = f"secret/{v.secret}" if v.secret else (
                    f"configmap/{v.config_map}" if v.config_map else "")
                e.add_row(v.name, ", ".join(v.services) or "all", held, v.description)
            yield Static(e)
        if not self.runbook.contacts:
            yield Static(Text("no contacts in this runbook", "dim"))
