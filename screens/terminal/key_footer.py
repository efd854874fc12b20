"""Textual's Footer, with the keys in the screen's first frame, recomposed only when they change.

The stock Footer composes no keys until its screen first announces its bindings, and then
recomposes after the next refresh: the keys appear a frame, or several while the screen
settles, after everything else. A screen whose bindings are fixed can show them at once.
It also recomposes (all its keys, unmounted and mounted again, and a repaint) each time the
screen announces its bindings: on every change of focus or of an action's state, five times
in the run screen's first half-second. This one skips that when the keys it would show are
the ones it shows.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer

from screens.terminal.textual_private import footer_keys_ready


class KeyFooter(Footer):
    def __init__(self) -> None:
        super().__init__()
        footer_keys_ready(self)  # Textual's private flag (absent: the stock footer's way)
        self._shown: tuple[Any, ...] | None = None

    def compose(self) -> ComposeResult:
        self._shown = self._keys(self.screen)
        yield from super().compose()

    def bindings_changed(self, screen: Screen[Any]) -> None:
        if screen is self.screen and self._shown is not None and self._keys(screen) == self._shown:
            return
        super().bindings_changed(screen)

    def _keys(self, screen: Screen[Any]) -> tuple[Any, ...]:
        """What compose() shows: the bindings shown, and the command palette's."""
        palette = self.app.COMMAND_PALETTE_BINDING
        return tuple((key, b.action, b.description, b.group, enabled, tooltip)
                     for key, (_, b, enabled, tooltip) in screen.active_bindings.items()
                     if b.show or key == palette)
