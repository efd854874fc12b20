"""The services' health endpoints: status, latency, last checked."""

from __future__ import annotations

import time
from typing import Any

from textual.widgets import DataTable

from runbook.format.model import Runbook

COLUMNS = ("service", "endpoint", "status", "latency", "checked")


class HealthTable(DataTable[str]):
    def __init__(self, runbook: Runbook) -> None:
        super().__init__(id="health-table", cursor_type="row", zebra_stripes=True)
        self.runbook = runbook

    def on_mount(self) -> None:
        for c in COLUMNS:
            self.add_column(c, key=c)
        for s in self.runbook.services:
            if s.health:
                port = f":{s.port}" if s.port else ""
                self.add_row(s.name, f"{port}{s.health}", "not checked", "", "", key=s.name)
        self.border_title = "Services: health endpoints (updated by health checks)"

    def apply(self, services: dict[str, dict[str, Any]]) -> None:
        with self.app.batch_update():
            for name, h in services.items():
                if name not in self.rows:
                    continue
                self.update_cell(name, "status", str(h.get("status", "")))
                lat = h.get("latency_ms")
                self.update_cell(name, "latency", f"{lat:.0f} ms" if lat is not None else "")
                checked = h.get("checked")
                self.update_cell(name, "checked", time.strftime("%H:%M:%S", time.gmtime(checked))
                                 if checked else "")
