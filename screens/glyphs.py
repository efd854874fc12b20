"""Status glyphs and labels shared by the widgets (plain text: fine with NO_COLOR)."""

from __future__ import annotations

from runbook.format.model import ItemKind
from runbook.rules.state import Status

GLYPH = {
    Status.PENDING: "○", Status.RUNNING: "◐", Status.PASSED: "✔", Status.FAILED: "✘",
    Status.CONFIRMED: "✔", Status.SKIPPED: "↷", Status.OVERRIDDEN: "⚑", Status.DRY_RUN: "◌",
    Status.NEEDS_RECONCILE: "⚠", Status.NOT_TAKEN: "—", Status.CANCELLED: "⊘",
}
STYLE = {
    Status.PASSED: "green", Status.CONFIRMED: "green", Status.FAILED: "bold red",
    Status.RUNNING: "bold yellow", Status.NEEDS_RECONCILE: "bold magenta",
    Status.OVERRIDDEN: "yellow", Status.DRY_RUN: "cyan", Status.SKIPPED: "dim",
    Status.NOT_TAKEN: "dim", Status.CANCELLED: "yellow", Status.PENDING: "",
}
KIND = {
    ItemKind.CONFIRM: "confirm", ItemKind.CHECK: "check", ItemKind.ACTION: "ACTION",
    ItemKind.CHOICE: "choice", ItemKind.WAIT: "wait", ItemKind.NOTE: "note",
}
