"""Find an item by title or id: `ModalScreen[str | None]` (the item id)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from runbook.format.model import Runbook


class SearchModal(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="modal.cancel")]

    def __init__(self, runbook: Runbook) -> None:
        super().__init__()
        self.runbook = runbook

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("Find an item", classes="question")
            yield Input(placeholder="words of the title or id", id="search")
            yield OptionList(id="search-results")

    def on_input_changed(self, event: Input.Changed) -> None:
        words = event.value.lower().split()
        results = self.query_one(OptionList)
        results.clear_options()
        if not words:
            return
        hits = [i for i in self.runbook.all_items()
                if all(w in f"{i.title} {i.id}".lower() for w in words)][:50]
        results.add_options([Option(f"{i.title}  [{i.phase}/{i.section}]", id=i.id) for i in hits])
        if hits:
            results.highlighted = 0

    def on_input_submitted(self, event: Input.Submitted) -> None:
        results = self.query_one(OptionList)
        if results.highlighted is not None and results.option_count:
            self.dismiss(results.get_option_at_index(results.highlighted).id)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
