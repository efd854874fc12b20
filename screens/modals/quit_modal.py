"""Quitting while items run: leave detached steps running, cancel everything, or stay."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class QuitModal(ModalScreen[str | None]):
    """Answers "leave", "cancel" or None (stay)."""

    BINDINGS = [
        Binding("l", "answer('leave')", "Leave running", id="modal.leave"),
        Binding("k", "answer('cancel')", "Cancel and quit", id="modal.cancel-all"),
        Binding("n,escape", "answer(None)", "Stay", id="modal.no"),
    ]

    def __init__(self, running: list[str], detached: list[str]) -> None:
        super().__init__()
        self.running = running
        self.detached = detached

    def compose(self) -> ComposeResult:
        text = f"{len(self.running)} item(s) running: {', '.join(self.running)}."
        attached = [i for i in self.running if i not in self.detached]
        if self.detached:
            text += (f"\n{', '.join(self.detached)} run detached: they can go on without this "
                     "terminal, and `runbook resume` re-attaches to them.")
        if attached:
            text += f"\n{', '.join(attached)} run in this terminal and end with it."
        with Vertical(classes="dialog"):
            yield Static(text, classes="question")
            with Horizontal(classes="buttons"):
                yield Button("Stay (n)", id="stay", variant="primary")
                if self.detached:
                    yield Button("Leave running, quit (l)", id="leave")
                yield Button("Cancel them, quit (k)", id="cancel", variant="error")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None if event.button.id == "stay" else str(event.button.id))

    def action_answer(self, value: str | None) -> None:
        if value == "leave" and not self.detached:
            return
        self.dismiss(value)
