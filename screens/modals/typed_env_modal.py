"""Type the environment's name before the first change to it: `ModalScreen[str | None]`.

The question is the engine's (`runbook.rules.preflight`); a wrong name is refused here at
once and the modal keeps asking; the name typed is handed back (None: cancelled)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from runbook.rules.preflight import Question


class TypedEnvModal(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="modal.cancel")]

    def __init__(self, question: Question, what: str) -> None:
        super().__init__()
        self.question = question
        self.what = what

    def compose(self) -> ComposeResult:
        q = self.question
        with Vertical(classes="dialog -danger"):
            yield Static(q.title, classes="question")
            if self.what:
                yield Static(f"About to run: {self.what}")
            yield Static(f"{q.prompt[0].upper()}{q.prompt[1:]}:")
            yield Input(id="typed-env")
            yield Static("", id="typed-error", classes="error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if self.question.accepts(event.value):
            self.dismiss(event.value.strip())
        else:
            self.query_one("#typed-error", Static).update(f"that is not {self.question.expect!r}")

    def action_cancel(self) -> None:
        self.dismiss(None)
