"""Textual's Footer, with the keys in the screen's first frame.

The stock Footer composes no keys until its screen first announces its bindings, and then
recomposes after the next refresh: the keys appear a frame, or several while the screen
settles, after everything else. A screen whose bindings are fixed can show them at once.
"""

from __future__ import annotations

from textual.widgets import Footer


class KeyFooter(Footer):
    def __init__(self) -> None:
        super().__init__()
        ready = getattr(Footer, "_bindings_ready", None)  # Textual 8's flag; absent: stock
        if ready is not None:
            self.set_reactive(ready, True)
