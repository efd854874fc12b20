"""What a terminal shows, for the benches: fed the app's output, it keeps the screen's text.

The app writes only the cells that change (screens/terminal/frame_diff.py), so a text that is
already partly on screen (an item's id beside the one before it, "id c01" -> "id c02") does
not reach the terminal in one piece: waits for something to show look here rather than in
the byte stream.
"""

from __future__ import annotations

import codecs
import re

from rich.cells import get_character_cell_size
from tui_common import COLS, ROWS

SEQ = re.compile(
    r"\x1b\[(?P<csi>[0-?]*)[ -/]*(?P<final>[@-~])"  # CSI: cursor moves count, the rest not
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC: titles, links
    r"|\x1b[@-Z\\-_]"  # other escapes
    r"|(?P<nl>\n)|(?P<cr>\r)"
    r"|(?P<text>[^\x1b\r\n]+)"
)
PARTIAL = re.compile(r"\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b]*\x1b?)?$")  # cut at the end


class Screen:
    """What the far end's terminal shows: cursor moves and text (wide characters too), which
    is all the app's frames use; colours are ignored. Fed chunks as they cross the link."""

    def __init__(self, cols: int = COLS, rows: int = ROWS) -> None:
        self.cols, self.rows = cols, rows
        self.cells = [[" "] * cols for _ in range(rows)]
        self.x = self.y = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._pending = ""

    def feed(self, data: bytes) -> None:
        text = self._pending + self._decoder.decode(data)
        cut = PARTIAL.search(text)
        self._pending = text[cut.start():] if cut else ""
        if cut:
            text = text[:cut.start()]
        for m in SEQ.finditer(text):
            if m.group("final") == "H":
                y, _, x = (m.group("csi") or "1;1").partition(";")
                self.y, self.x = int(y or 1) - 1, int(x or 1) - 1
            elif m.group("final") == "J" and m.group("csi") == "2":
                self.cells = [[" "] * self.cols for _ in range(self.rows)]
            elif m.group("nl"):
                self.y, self.x = min(self.y + 1, self.rows - 1), 0
            elif m.group("cr"):
                self.x = 0
            elif m.group("text"):
                row = self.cells[self.y] if 0 <= self.y < self.rows else None
                for ch in m.group("text"):
                    size = get_character_cell_size(ch)
                    if row is None or size == 0 or self.x >= self.cols:
                        continue
                    row[self.x] = ch
                    if size == 2 and self.x + 1 < self.cols:
                        row[self.x + 1] = ""
                    self.x += size

    def lines(self) -> list[str]:
        return ["".join(r) for r in self.cells]

    def shows(self, text: str) -> bool:
        return any(text in line for line in self.lines())
