"""Before a run: pick the environment and fill in variables, each checked against its
declaration (pattern, type, choices) before the run starts."""

from __future__ import annotations

import os

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Select, Static

from runbook.format.model import Runbook
from runbook.format.variables import VariableError, check_value, resolve

SetupResult = tuple[str, dict[str, str]]


class SetupScreen(Screen[SetupResult | None]):
    BINDINGS = [Binding("escape", "cancel", "Quit", id="setup.cancel")]

    def __init__(self, runbook: Runbook, env: str | None, values: dict[str, str]) -> None:
        super().__init__()
        self.runbook = runbook
        self.env = env
        self.values = dict(values)

    def compose(self) -> ComposeResult:
        rb = self.runbook
        with VerticalScroll(classes="setup"):
            yield Static(f"{rb.title}: before the run", classes="question")
            options = [(("PRODUCTION " if e.production else "") + e.name, e.name)
                       for e in rb.environments]
            yield Static("Environment")
            yield Select(options, value=self.env or Select.NULL, id="env", allow_blank=True)
            for var in rb.variables:
                with Vertical(classes="field"):
                    label = f"{var.name}{'' if var.required else ' (optional)'}"
                    if var.prompt:
                        label += f": {var.prompt}"
                    yield Static(label)
                    hint = var.pattern or (", ".join(var.choices) if var.choices else var.type)
                    yield Input(value=self.values.get(var.name, var.default or ""),
                                placeholder=hint, password=var.secret, id=f"var-{var.name}")
                    yield Static("", id=f"err-{var.name}", classes="error")
            yield Static("", id="form-error", classes="error")
            yield Button("Start the run", id="start", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        """Focus the first thing that needs an answer."""
        if self.env is None:
            self.query_one("#env", Select).focus()
            return
        for var in self.runbook.variables:
            field = self.query_one(f"#var-{var.name}", Input)
            if var.required and not field.value:
                field.focus()
                return
        self.query_one("#start", Button).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self._submit()

    def _submit(self) -> None:
        env = self.query_one("#env", Select).value
        ok = True
        if not isinstance(env, str):
            self.query_one("#form-error", Static).update("choose an environment")
            ok = False
        given: dict[str, str] = {}
        for var in self.runbook.variables:
            raw = self.query_one(f"#var-{var.name}", Input).value
            err = self.query_one(f"#err-{var.name}", Static)
            err.update("")
            if not raw and not var.required:
                continue
            if not raw:
                err.update(f"{var.name} is required")
                ok = False
                continue
            try:
                given[var.name] = check_value(var, raw)
            except VariableError as e:
                err.update(str(e))
                ok = False
        if not ok or not isinstance(env, str):
            return
        values, errors, missing = resolve(self.runbook, given, os.environ)
        if errors or missing:
            self.query_one("#form-error", Static).update("; ".join(errors + missing))
            return
        self.dismiss((env, values))

    def action_cancel(self) -> None:
        self.dismiss(None)
