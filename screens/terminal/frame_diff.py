"""Send only the cells that changed: a copy of the terminal's screen, and a diff per frame.

Textual repaints whole regions: a widget that changes one character (the status bar's
clock, a duration in the item list) is written out whole, every line of it, and a
widget laid out twice in a row is written twice. On a local terminal that costs nothing;
over a slow SSH link it is most of what the app sends. `FrameDiff` keeps what it has
written to each cell (character and SGR colours) and rewrites a frame from the
compositor into the runs of cells that differ from it, each placed with a cursor move;
a frame with nothing new is not written at all.

It reads the compositor's own output, which is a plain dialect: cursor moves
(`ESC[y;xH`), SGR colours reset after every segment (`ESC[...m text ESC[0m`), OSC 8
links, text and newlines. Anything else (an unknown sequence, a cell past the screen's
edge) makes it pass the frame through unchanged and forget what it knew, so the next
frame is written whole: it can send too much, never too little. Full-screen repaints
(screen switches, resizes) also go out whole, refreshing its copy.
"""

from __future__ import annotations

import re

from rich.cells import get_character_cell_size

TOKEN = re.compile(
    r"\x1b\[(?P<y>\d+);(?P<x>\d+)H"  # cursor move
    r"|\x1b\[(?P<sgr>[0-9;]*)m"  # colours
    r"|\x1b\]8;(?P<params>[^;\x1b\x07]*);(?P<uri>[^\x1b\x07]*)(?:\x1b\\|\x07)"  # link
    r"|(?P<nl>\r?\n)"
    r"|(?P<text>[^\x1b\r\n]+)"
    r"|(?P<other>[\x1b\r])"  # anything else: not understood
)
GAP = 6  # unchanged cells worth resending rather than a new cursor move
Key = tuple[str, str]  # (SGR codes, opening OSC 8 sequence or ""), interned: compared by identity
Span = tuple[int, list[str], Key]  # x, one string per cell ("" right of a wide char), key


class Unknown(Exception):
    """The frame holds something this model does not follow."""


class FrameDiff:
    def __init__(self) -> None:
        self.width = 0
        self.height = 0
        self.chars: list[list[str | None]] = []  # None: not known
        self.keys: list[list[Key | None]] = []
        self._interned: dict[Key, Key] = {}
        self.cursor: tuple[int, int] | None = None  # where the last frame left it, if known
        self.sent = 0  # characters of frames as rewritten
        self.received = 0  # characters of frames as the compositor wrote them

    def reset(self, width: int | None = None, height: int | None = None) -> None:
        """Forget the screen (the next frame goes out whole), optionally with a new size."""
        if width is not None and height is not None:
            self.width, self.height = width, height
        self.chars = [[None] * self.width for _ in range(self.height)]
        self.keys = [[None] * self.width for _ in range(self.height)]
        self.cursor = None

    def frame(self, data: str, full: bool = False) -> str:
        """The terminal output for one compositor frame `data` (`full`: write it all)."""
        self.received += len(data)
        try:
            rows, cursor = self._parse(data)
        except Unknown:
            self.reset()
            self.sent += len(data)
            return data
        if full:
            for y, spans in rows.items():
                self._apply(y, spans)
            self.cursor = cursor
            self.sent += len(data)
            return data
        out: list[str] = []
        for y in sorted(rows):
            self._diff_row(y, rows[y], out)
        if cursor is not None and (out or cursor != self.cursor):
            out.append(f"\x1b[{cursor[1] + 1};{cursor[0] + 1}H")
        self.cursor = cursor
        result = "".join(out)
        self.sent += len(result)
        return result

    # -- reading a frame ------------------------------------------------------------------
    def _key(self, sgr: str, link: str) -> Key:
        key = (sgr, link)
        return self._interned.setdefault(key, key)

    def _parse(self, data: str) -> tuple[dict[int, list[Span]], tuple[int, int] | None]:
        """What the frame writes, as spans per row, and where it leaves the cursor."""
        rows: dict[int, list[Span]] = {}
        x = y = 0
        sgr = link = ""
        key = self._key("", "")
        width, height = self.width, self.height
        cursor: tuple[int, int] | None = None
        for m in TOKEN.finditer(data):
            kind = m.lastgroup
            if kind == "x":
                y, x = int(m.group("y")) - 1, int(m.group("x")) - 1
                cursor = (x, y)
            elif kind == "sgr":
                codes = m.group("sgr")
                sgr = "" if codes in ("", "0") else (f"{sgr};{codes}" if sgr else codes)
                key = self._key(sgr, link)
            elif kind == "uri":
                link = m.group(0) if m.group("uri") else ""
                key = self._key(sgr, link)
            elif kind == "nl":
                y, x = y + 1, 0
            elif kind == "text":
                text = m.group("text")
                if not 0 <= y < height or x < 0:
                    raise Unknown
                if text.isascii():
                    if not text.isprintable():
                        raise Unknown
                    cells = list(text)
                else:
                    cells = _cells(text)
                if x + len(cells) > width:
                    raise Unknown
                rows.setdefault(y, []).append((x, cells, key))
                x += len(cells)
                cursor = None  # text moved it: the frame ends with a move if it matters
            else:
                raise Unknown
        return rows, cursor

    # -- writing the difference -----------------------------------------------------------
    def _apply(self, y: int, spans: list[Span]) -> None:
        chars, keys = self.chars[y], self.keys[y]
        for x, cells, key in spans:
            chars[x:x + len(cells)] = cells
            keys[x:x + len(cells)] = [key] * len(cells)

    def _diff_row(self, y: int, spans: list[Span], out: list[str]) -> None:
        old_chars, old_keys = self.chars[y], self.keys[y]
        new_chars, new_keys = old_chars[:], old_keys[:]
        width = self.width
        written = bytearray(width)
        for x, cells, key in spans:
            n = len(cells)
            new_chars[x:x + n] = cells
            new_keys[x:x + n] = [key] * n
            written[x:x + n] = b"\x01" * n
        if new_chars == old_chars and new_keys == old_keys:
            return
        changed = [x for x in range(width)
                   if new_chars[x] != old_chars[x] or new_keys[x] is not old_keys[x]]
        runs: list[list[int]] = []
        for x in changed:  # merged across short gaps of cells this frame writes too
            if runs and x - runs[-1][1] <= GAP and all(written[runs[-1][1]:x]):
                runs[-1][1] = x + 1
            else:
                runs.append([x, x + 1])
        last_end = 0
        for run in runs:
            start, end = run
            # a run never starts or ends inside a wide character this frame writes; where
            # it cuts into an old one it does not, the terminal blanks that half (as it does
            # with the frame as it was): what that cell shows is no longer known
            while start > last_end and (new_chars[start] == "" or old_chars[start] == ""):
                if not written[start - 1]:
                    new_chars[start - 1] = new_keys[start - 1] = None
                    break
                start -= 1
            while end < width and (new_chars[end] == "" or old_chars[end] == ""):
                if not written[end]:
                    new_chars[end] = new_keys[end] = None
                    break
                end += 1
            start = max(start, last_end)
            if start < end:
                out.append(f"\x1b[{y + 1};{start + 1}H")
                out.append(_render(new_chars, new_keys, start, end))
                last_end = end
        self.chars[y], self.keys[y] = new_chars, new_keys


def _cells(text: str) -> list[str]:
    cells: list[str] = []
    for ch in text:
        size = get_character_cell_size(ch)
        if size == 0:  # combining: part of the cell before
            if not cells:
                raise Unknown
            cells[-1] += ch
        elif size == 2:
            cells.append(ch)
            cells.append("")
        elif ch.isprintable():
            cells.append(ch)
        else:
            raise Unknown
    return cells


def _render(chars: list[str | None], keys: list[Key | None], start: int, end: int) -> str:
    parts: list[str] = []
    x = start
    while x < end:
        key = keys[x]
        run_end = x + 1
        while run_end < end and keys[run_end] is key:
            run_end += 1
        body = "".join(c or "" for c in chars[x:run_end])
        if key is not None:
            sgr, link = key
            if sgr:
                body = f"\x1b[{sgr}m{body}\x1b[0m"
            if link:
                body = f"{link}{body}\x1b]8;;\x1b\\"
        parts.append(body)
        x = run_end
    return "".join(parts)
