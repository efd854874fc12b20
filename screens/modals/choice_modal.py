"""Pick one option of a choice item: `ModalScreen[str | None]` (the option id)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from runbook.format.model import Item


class ChoiceModal(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="modal.cancel")]

    def __init__(self, item: Item) -> None:
        super().__init__()
        self.item = item

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.item.title, classes="question")
            if self.item.help:
                yield Static(self.item.help)
            yield OptionList(*[
                Option(f"{o.title}{' (recommended)' if o.recommended else ''}"
                       + (f"\n  {o.help}" if o.help else ""), id=o.id)
                for o in self.item.options
            ], id="choice-options")
            yield Static("Enter to choose (recorded; the other branch is not taken) · Esc",
                         classes="hint")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
