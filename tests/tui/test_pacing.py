"""Pacing for slow links (screens/terminal/pacing.py, frame_diff.py) and the log pane's flood.

The pacer is driven with made-up byte counts (a headless app writes nothing): heavy
output lowers the frame rate and slows the log drain, input lifts it at once, quiet
restores it. FrameDiff is checked against a small terminal model: what the rewritten
frames leave on screen is what the compositor's frames would have left.
"""

from __future__ import annotations

import itertools
import random
import re
import time
from collections.abc import Callable

import pytest
from rich.cells import get_character_cell_size
from textual._ansi_sequences import SYNC_END, SYNC_START
from textual._compositor import CompositorUpdate
from textual.widgets import Log

from screens.app import RunbookApp
from screens.run.screen import RunScreen
from screens.terminal import pacing
from screens.terminal.frame_diff import FrameDiff
from screens.terminal.pacing import FrameTimer, Pacer
from screens.widgets.log_pane import MAX_LINES, LogPane
from tests.tui.conftest import wait_for

MakeApp = Callable[..., RunbookApp]


def screen(app: RunbookApp) -> RunScreen:
    s = app.screen
    assert isinstance(s, RunScreen), s
    return s


def frame_timer(app: RunbookApp) -> FrameTimer:
    timer = getattr(app.screen, "_Screen__update_timer", None)
    assert isinstance(timer, FrameTimer), timer
    return timer


def flood(pacer: Pacer, now: float, seconds: float = 1.0, frame: int = 6000,
          per_second: int = 10) -> None:
    """Made-up frames of `frame` bytes, `per_second` of them, over `seconds` before `now`."""
    n = int(seconds * per_second)
    for i in range(n):
        pacer.count(frame, now - seconds + i / per_second)


async def test_pacer_slows_down_under_heavy_output_and_recovers(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
        pacer = app.pacer
        clock = [1000.0]
        pacer._clock = lambda: clock[0]
        pacer.boost_until = 0.0  # (the resize at start-up boosted it, by the real clock)
        pacer.adapt()
        assert pacer.fps == pacing.MAX_FPS and pacer.drain_interval == pacing.DRAIN_FAST
        # at full rate Textual's own update timer paints: none is replaced until output is paced
        assert not isinstance(getattr(app.screen, "_Screen__update_timer", None), FrameTimer)

        # 10 frames/s of 6 KB: 60 KB/s, over the 16 KiB/s budget: ~2.7 frames/s
        flood(pacer, clock[0])
        pacer.adapt()
        assert pacing.MIN_FPS <= pacer.fps < 4
        assert abs(pacer.fps - pacer.budget / 6000) < 0.01
        assert frame_timer(app).interval == 1 / pacer.fps
        assert pacer.drain_interval > pacing.DRAIN_FAST  # the log coalesces
        assert pacer.slowed

        # a key lifts the rate at once (the log drain stays slow)
        await pilot.press("down")
        assert pacer.fps == pacing.MAX_FPS and frame_timer(app).interval == 1 / pacing.MAX_FPS
        drain = pacer.drain_interval
        assert drain > pacing.DRAIN_FAST
        clock[0] += pacing.BOOST_SECONDS / 2
        pacer.adapt()
        assert pacer.fps == pacing.MAX_FPS  # still boosted
        clock[0] += pacing.BOOST_SECONDS  # boost over, the flood goes on
        flood(pacer, clock[0])
        pacer.adapt()
        assert pacer.fps < 4

        # small frames never hold anything back, however many
        clock[0] += 5
        flood(pacer, clock[0], frame=300, per_second=25)
        pacer.adapt()
        assert pacer.fps == pacing.MAX_FPS and pacer.drain_interval == pacing.DRAIN_FAST

        # quiet: back to the full rate, the timer too
        clock[0] += 5
        pacer.adapt()
        assert not pacer.slowed and frame_timer(app).interval == 1 / pacing.MAX_FPS


async def test_frame_timer_paints_at_the_paced_rate(make_app: MakeApp) -> None:
    """A slowed screen still paints what changes, at most `fps` times a second."""
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
        pacer = app.pacer
        pacer.boost_until = 0.0
        pacer.paced_fps = lambda now=None: 4.0  # type: ignore[method-assign]
        pacer.adapt()
        timer = frame_timer(app)
        assert timer.interval == 0.25
        painted: list[float] = []
        original = timer._callback
        assert original is not None

        def paint() -> object:
            painted.append(time.monotonic())
            return original()

        timer._callback = paint
        pane = screen(app).query_one(LogPane)
        pane.item_id = "hello"
        start = time.monotonic()
        for n in range(40):  # a change every 25 ms or so
            pane.append([f"line {n}"], n + 1)
            await pilot.pause(0.025)
        await pilot.pause(0.3)
        took = time.monotonic() - start
        assert 2 <= len(painted) <= took * 4 + 1, (took, painted)  # 4 frames/s, not 40
        gaps = [b - a for a, b in itertools.pairwise(painted)]
        assert all(g >= 0.2 for g in gaps), gaps
        text = "\n".join(s.text for s in app.screen._compositor.render_strips())
        assert "line 39" in text  # the last change is on screen


async def test_frames_that_change_nothing_write_nothing(make_app: MakeApp) -> None:
    """What the pacer writes for a frame: its changed cells, inside a synchronized update
    only if there are any."""
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
        pacer = app.pacer
        frame = "\x1b[1;1H\x1b[1melapsed 3s\x1b[0m\x1b[48;1H"
        pacer._frame = CompositorUpdate()
        try:
            written = [pacer._rewrite(d) for d in (SYNC_START, frame, SYNC_END)]
            assert "".join(written) == SYNC_START + frame + SYNC_END
            again = [pacer._rewrite(d) for d in (SYNC_START, frame, SYNC_END)]
            assert again == ["", "", ""]
            tick = "".join(pacer._rewrite(d) for d in (SYNC_START, frame.replace("3s", "4s"),
                                                       SYNC_END))
            assert tick == SYNC_START + "\x1b[1;9H\x1b[1m4\x1b[0m\x1b[48;1H" + SYNC_END
        finally:
            pacer._frame = None
        assert pacer._rewrite("\x1b[?1049h\x1b[2J") == "\x1b[?1049h\x1b[2J"  # not a frame
        assert pacer.diff is not None and pacer.diff.chars[0][0] is None  # and it forgot


async def test_log_pane_shows_the_last_lines_of_a_flood(make_app: MakeApp) -> None:
    """Past MAX_LINES the Log prunes; the pane still repaints to the newest lines."""
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
        s = screen(app)
        s.query_one(Log)
        item = s.item
        assert item is not None
        total = 0
        for _batch in range(12):  # 12 drains of 2,000 lines: 24,000 > MAX_LINES
            lines = [f"flood line {total + i:06d}" for i in range(2000)]
            total += len(lines)
            s.bridge.output(item.id, lines)
            await pilot.pause(0.12)  # a drain or two
        await wait_for(pilot, lambda: s.query_one(LogPane).total == total)
        await pilot.pause(0.3)
        log = s.query_one(Log)
        assert log.line_count == MAX_LINES
        assert log.lines[-1] == f"flood line {total - 1:06d}"
        shown = [strip.text for strip in app.screen._compositor.render_strips()]
        region = log.region
        visible = [shown[y][region.x:region.right].strip() for y in range(region.y, region.bottom)]
        visible = [v for v in visible if v.startswith("flood line")]
        assert visible and visible[-1] == f"flood line {total - 1:06d}", visible[-3:]
        numbers = [int(v.split()[-1]) for v in visible]
        assert numbers == list(range(numbers[0], total))  # the last screenful, in order


# -- FrameDiff against a terminal model ---------------------------------------------------------
TOKEN = re.compile(r"\x1b\[(\d+);(\d+)H|\x1b\[([0-9;]*)m|\x1b\]8;[^;]*;([^\x1b]*)\x1b\\|(\n)|([^\x1b\n]+)")


class Terminal:
    """Cells of (text, SGR, link), written the way a terminal does it (wide characters,
    halves of them overwritten), for the dialect the compositor writes."""

    def __init__(self, width: int, height: int) -> None:
        self.w, self.h = width, height
        self.cells: list[list[tuple[str, str, str]]] = [[(" ", "", "")] * width
                                                         for _ in range(height)]

    def _put(self, x: int, y: int, ch: str, size: int, sgr: str, link: str) -> None:
        row = self.cells[y]
        if row[x][0] == "" and x > 0:  # over the right half of a wide char: its left goes
            row[x - 1] = (" ", *row[x - 1][1:])
        end = x + size
        if end < self.w and row[end][0] == "":  # over a wide char's left half: its right goes
            row[end] = (" ", *row[end][1:])
        row[x] = (ch, sgr, link)
        if size == 2:
            row[x + 1] = ("", sgr, link)

    def feed(self, data: str) -> None:
        x = y = 0
        sgr = link = ""
        for m in TOKEN.finditer(data):
            if m.group(1):
                y, x = int(m.group(1)) - 1, int(m.group(2)) - 1
            elif m.group(3) is not None:
                codes = m.group(3)
                sgr = "" if codes in ("", "0") else (f"{sgr};{codes}" if sgr else codes)
            elif m.group(4) is not None:
                link = m.group(4)
            elif m.group(5):
                y, x = y + 1, 0
            else:
                for ch in m.group(6):
                    size = get_character_cell_size(ch)
                    if size == 0:
                        t, s, lk = self.cells[y][x - 1]
                        self.cells[y][x - 1] = (t + ch, s, lk)
                        continue
                    self._put(x, y, ch, size, sgr, link)
                    x += size

    def dump(self) -> list[list[tuple[str, str, str]]]:
        return [list(r) for r in self.cells]


STYLES = ["", "1", "38;5;253;48;5;17", "7;38;5;135", "38;5;247;48;5;233"]
CHARS = "abc xyz-│╭═12"


def random_screen(rng: random.Random, w: int, h: int) -> list[list[tuple[str, str, str]]]:
    rows = []
    for _ in range(h):
        row: list[tuple[str, str, str]] = []
        while len(row) < w:
            style = rng.choice(STYLES)
            link = "https://x.example/" + rng.choice("ab") if rng.random() < 0.05 else ""
            for _ in range(rng.randint(1, 12)):
                r = rng.random()
                if r < 0.05 and len(row) + 2 <= w:
                    row += [("中", style, link), ("", style, link)]
                elif r < 0.08 and len(row) + 1 <= w:
                    row.append(("e\u0301", style, link))
                elif len(row) < w:
                    row.append((rng.choice(CHARS), style, link))
        rows.append(row[:w])
    return rows


def mutate(rng: random.Random, screen: list[list[tuple[str, str, str]]]) -> None:
    """Change a few cells (a clock, a cursor row, a log line), wide characters kept whole."""
    w = len(screen[0])
    for _ in range(rng.randint(1, 8)):
        y, x = rng.randrange(len(screen)), rng.randrange(w - 1)
        if rng.random() < 0.3:
            fresh = random_screen(rng, w, 1)[0]
            screen[y][:] = fresh
            continue
        row = screen[y]
        if row[x][0] == "" or row[x + 1][0] == "":
            continue
        row[x] = (rng.choice(CHARS), rng.choice(STYLES), "")


def encode(screen: list[list[tuple[str, str, str]]], y0: int, y1: int, x0: int, x1: int) -> str:
    """The region as the compositor writes it: a move per line, a segment per style."""
    out = []
    for y in range(y0, y1):
        row = screen[y]
        a, b = x0, x1
        while a > 0 and row[a][0] == "":
            a -= 1
        while b < len(row) and row[b][0] == "":
            b += 1
        out.append(f"\x1b[{y + 1};{a + 1}H")
        x = a
        while x < b:
            _, style, link = row[x]
            end = x
            while end < b and row[end][1:] == (style, link):
                end += 1
            text = "".join(c for c, _, _ in row[x:end])
            seg = f"\x1b[{style}m{text}\x1b[0m" if style else text
            if link:
                seg = f"\x1b]8;id=1;{link}\x1b\\{seg}\x1b]8;;\x1b\\"
            out.append(seg)
            x = end
        if y != y1 - 1:
            out.append("\n")
    out.append("\x1b[1;1H")
    return "".join(out)


@pytest.mark.parametrize("seed", range(6))
def test_frame_diff_leaves_the_same_screen_as_the_frames(seed: int) -> None:
    rng = random.Random(seed)
    w, h = 40, 12
    diff = FrameDiff()
    diff.reset(w, h)
    plain, rewritten = Terminal(w, h), Terminal(w, h)
    model = random_screen(rng, w, h)
    sent = received = 0
    for n in range(400):
        if n % 50 == 0:  # a full repaint now and then (screen switch)
            data = encode(model, 0, h, 0, w)
            out = diff.frame(data, full=n % 100 == 0)
        else:
            mutate(rng, model)
            y0 = rng.randrange(h)
            y1 = rng.randint(y0 + 1, h)
            x0 = rng.randrange(w - 1)
            x1 = rng.randint(x0 + 1, w)
            data = encode(model, y0, y1, x0, x1)
            out = diff.frame(data)
        plain.feed(data)
        rewritten.feed(out)
        received += len(data)
        sent += len(out)
        assert rewritten.dump() == plain.dump(), f"frame {n}"
    assert sent < received


def test_frame_diff_repeated_frame_is_a_cursor_move_and_unknown_passes_through() -> None:
    diff = FrameDiff()
    diff.reset(20, 2)
    frame = "\x1b[1;1H\x1b[1mstatus 12:00:01\x1b[0m\x1b[1;1H"
    assert "status" in diff.frame(frame)  # not known yet: written
    assert diff.frame(frame) == ""  # nothing new: nothing written
    tick = diff.frame(frame.replace(":01", ":02"))
    assert tick == "\x1b[1;15H\x1b[1m2\x1b[0m\x1b[1;1H"  # the changed cell, the cursor back
    odd = "\x1b[1;1H\x1b[?25lstatus\x1b[1;1H"  # a sequence it does not follow
    assert diff.frame(odd) == odd
    assert "status" in diff.frame(frame)  # forgotten: written whole again
