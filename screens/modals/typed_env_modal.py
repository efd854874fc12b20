"""Type the environment's name before the first change to it: `ModalScreen[bool]`."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class TypedEnvModal(ModalScreen[bool]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="modal.cancel")]

    def __init__(self, env: str, what: str) -> None:
        super().__init__()
        self.env = env
        self.what = what

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -danger"):
            yield Static(f"First change to {self.env.upper()}", classes="question")
            yield Static(f"About to run: {self.what}")
            yield Static(f"Type the environment name ({self.env}) to go on:")
            yield Input(id="typed-env")
            yield Static("", id="typed-error", classes="error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip() == self.env:
            self.dismiss(True)
        else:
            self.query_one("#typed-error", Static).update(f"that is not {self.env!r}")

    def action_cancel(self) -> None:
        self.dismiss(False)
