"""An interrupted action: what is known, what the live state says, and the operator's call.

`ModalScreen[tuple[str, str] | None]`: (resolution, reason) with resolution retry, done
or abort. Nothing is ever re-run silently: retry only makes the item runnable again.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static


class ReconcileModal(ModalScreen[tuple[str, str] | None]):
    BINDINGS = [Binding("escape", "cancel", "Later", id="modal.cancel")]

    def __init__(self, title: str, known: str, probe: str) -> None:
        super().__init__()
        self.title_text = title
        self.known = known
        self.probe = probe

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -danger"):
            yield Static(f"Interrupted: {self.title_text}", classes="question")
            yield Static("Its intent was journaled but no result: the tool stopped mid-action. "
                         "It will not be run again unless you say so.")
            yield Static(f"Known: {self.known}")
            yield Static(f"Live state: {self.probe}", id="probe")
            yield Input(placeholder="reason (required to mark it done)", id="reconcile-reason")
            yield Static("", id="reconcile-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Retry it", id="retry")
                yield Button("Mark done", id="done", variant="warning")
                yield Button("Abort (failed)", id="abort", variant="error")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        reason = self.query_one("#reconcile-reason", Input).value.strip()
        choice = str(event.button.id)
        if choice == "done" and not reason:
            self.query_one("#reconcile-error", Static).update(
                "say why it can be marked done (what you checked)")
            return
        self.dismiss((choice, reason))

    def action_cancel(self) -> None:
        self.dismiss(None)
