"""Pacing for slow links: the app writes to the terminal at most about OUTPUT_BUDGET bytes/s.

Over a poor SSH link every byte the app writes has to cross the link before the next
frame shows, so a fast-scrolling log can fill the link and leave key presses queued
behind stale frames. `Pacer` counts the bytes Textual writes to its driver and the frames
they make, and from the average frame size picks a frame rate that keeps the output
within the budget (between MIN_FPS and Textual's MAX_FPS): small frames (a clock, a
cursor move) keep the full rate, a repainted log pane of a few KiB gets a few frames a
second. Textual repaints a screen from a timer that runs at a fixed rate (1/MAX_FPS,
set from TEXTUAL_FPS when textual is imported); `FrameTimer` takes its place on each
screen and renders at most once per `interval`, which the pacer changes as it goes.

The log panes coalesce with it: RunScreen drains the output bridge every
`drain_interval` (100 ms at full rate, one frame period when slowed), so a flood reaches
the log pane in fewer, bigger batches, each one repaint of its last screenful.

Input wins over pacing: a key press (or a click, a paste, a resize) lifts the rate to
the full one for BOOST_SECONDS, so its screen update goes out at once; the log keeps its
slow drain meanwhile.

What goes out is what changed: every frame passes through `FrameDiff` (frame_diff.py),
which writes only the cells that differ from what the terminal shows, so a clock that
ticks costs the digits that changed, and a frame that changes nothing costs nothing.

RUNBOOK_OUTPUT_BUDGET sets the budget in bytes/s (0: never slow down), and
RUNBOOK_FRAME_DIFF=0 writes Textual's frames as they are.

Both work through Textual's private names, all of them in textual_private.py: if this
Textual's do not have the expected shape, `start` leaves pacing and the cell diff off and
says so in one line; the app then behaves as stock Textual.
"""

from __future__ import annotations

import math
import os
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from textual import constants, events
from textual.app import App
from textual.message import Message

from screens.terminal import textual_private
from screens.terminal.frame_diff import FrameDiff
from screens.terminal.textual_private import FrameTimer, install_frame_timer

OUTPUT_BUDGET = 16 * 1024  # bytes/s written to the terminal when output is heavy
MAX_FPS = constants.MAX_FPS  # Textual's own rate (60 unless TEXTUAL_FPS says otherwise)
MIN_FPS = 2.0
WINDOW = 1.0  # seconds of writes the rate is judged on
TICK = 0.25  # how often the rate is reconsidered
BOOST_SECONDS = 0.5  # full rate after input
DRAIN_FAST = 0.1  # the log drain at full rate (what RunScreen always did)
DRAIN_SLOW = 1.0 / MIN_FPS
FRAME_BYTES = 32  # a write at least this long is a frame (not a mode switch or a bell)
INPUT = (events.Key, events.MouseDown, events.MouseScrollDown, events.MouseScrollUp,
         events.Paste, events.Resize)


def budget_from_env() -> float:
    try:
        return float(os.environ.get("RUNBOOK_OUTPUT_BUDGET", OUTPUT_BUDGET))
    except ValueError:
        return OUTPUT_BUDGET


class Pacer:
    """Measures the app's terminal output and sets the frame rate and the log drain."""

    def __init__(self, app: App[Any], budget: float | None = None) -> None:
        self.app = app
        self.budget = budget_from_env() if budget is None else budget
        self.fps = float(MAX_FPS)
        self.drain_interval = DRAIN_FAST
        self.boost_until = 0.0
        self.written = 0  # bytes written in all
        self._writes: deque[tuple[float, int]] = deque()  # (time, bytes) of frames in WINDOW
        self._clock: Callable[[], float] = time.monotonic
        self._installed = False
        self.diff = FrameDiff() if os.environ.get("RUNBOOK_FRAME_DIFF", "1") != "0" else None
        self._frame: object = None  # what App._display is showing, while it writes it
        self._sync = ""  # a held SYNC_START: written only if its frame writes something
        self.off = ""  # why pacing and the cell diff are off ('' while they are on)

    # -- wiring ------------------------------------------------------------------------
    def start(self) -> None:
        """Count the driver's writes, watch input, reconsider the rate every TICK; unless
        Textual's private names are not as expected (then: off, and one line says so)."""
        if self._installed:
            return
        self._installed = True
        app = self.app
        why = textual_private.problem(app)
        if why:
            self.turn_off(why)
            return
        textual_private.hook_output(app, self._framing, self._write)
        app.message_signal.subscribe(app, self._message, immediate=True)
        self.app.set_interval(TICK, self.adapt, name="pacer")

    def turn_off(self, why: str) -> None:
        """Pacing and the cell diff off for the rest of the session: full rate, every frame
        written whole (what stock Textual does). Said once, in one line."""
        if self.off:
            return
        self.off = why
        self.diff = None
        self._sync = ""
        self.fps = float(MAX_FPS)
        self.drain_interval = DRAIN_FAST
        line = f"Slow-link pacing and the cell diff are off: {why}"
        self.app.log.warning(line)
        self.app.notify(line, severity="warning", timeout=8, markup=False)

    def _framing(self, renderable: object) -> None:
        self._frame = renderable

    def _write(self, data: str, write: Callable[[str], None]) -> None:
        data = self._rewrite(data)
        if data:
            self.count(len(data.encode("utf-8", "replace")))
            write(data)

    def _message(self, message: Message) -> None:
        if isinstance(message, INPUT):
            if isinstance(message, events.Resize) and self.diff is not None:
                self.diff.reset()  # the terminal may have reflowed what it showed
            self.input()

    def _rewrite(self, data: str) -> str:
        """A compositor frame as the cells it changes (FrameDiff); other writes as they are."""
        diff, frame = self.diff, self._frame
        if diff is None:
            return data
        if frame is None:
            if "\x1b[2J" in data or "\x1b[?1049" in data or "\x1bc" in data:
                diff.reset()  # the screen was cleared behind the diff's back
            return data
        if data == textual_private.SYNC_START:  # held until the frame turns out to write something
            self._sync = data
            return ""
        if data == textual_private.SYNC_END:
            opened, self._sync = self._sync, ""
            return "" if opened == textual_private.SYNC_START else data
        if not textual_private.is_frame(frame):
            diff.reset()  # some other renderable: not followed
            out = data
        else:
            size = self.app.size
            if (size.width, size.height) != (diff.width, diff.height):
                diff.reset(size.width, size.height)
            out = diff.frame(data, full=textual_private.is_full_frame(frame))
        if out and self._sync:
            out, self._sync = self._sync + out, "opened"
        return out

    # -- measuring ---------------------------------------------------------------------
    def count(self, nbytes: int, now: float | None = None) -> None:
        """`nbytes` were written to the terminal (tests call it with made-up figures)."""
        self.written += nbytes
        if nbytes >= FRAME_BYTES:
            self._writes.append((self._clock() if now is None else now, nbytes))

    def rate(self, now: float | None = None) -> tuple[float, float]:
        """(bytes/s over the last WINDOW, mean bytes per frame in it)."""
        now = self._clock() if now is None else now
        w = self._writes
        while w and w[0][0] < now - WINDOW:
            w.popleft()
        if not w:
            return 0.0, 0.0
        total = sum(n for _, n in w)
        return total / WINDOW, total / len(w)

    # -- adapting ----------------------------------------------------------------------
    def input(self) -> None:
        """Input arrived: full rate for a moment, so its screen update goes out at once."""
        self.boost_until = self._clock() + BOOST_SECONDS
        self._apply(float(MAX_FPS))

    def paced_fps(self, now: float | None = None) -> float:
        """Frames per second that keep frames of the recent size within the budget."""
        per_second, per_frame = self.rate(now)
        if self.budget <= 0 or per_second <= self.budget / 2 or not per_frame:
            return float(MAX_FPS)  # light output: no need to hold anything back
        return max(MIN_FPS, min(float(MAX_FPS), self.budget / per_frame))

    def adapt(self, now: float | None = None) -> None:
        now = self._clock() if now is None else now
        paced = self.paced_fps(now)
        # the log drain follows the paced rate (input does not speed it up), 100 ms at most
        self.drain_interval = min(DRAIN_SLOW, max(DRAIN_FAST, 1.0 / paced))
        self._apply(float(MAX_FPS) if now < self.boost_until else paced)

    def _apply(self, fps: float) -> None:
        if self.off:
            return
        self.fps = fps
        for screen in list(self.app.screen_stack):
            if fps >= MAX_FPS and not isinstance(textual_private.update_timer(screen), FrameTimer):
                continue  # full rate: Textual's own timer does it (until output must be paced)
            why = textual_private.screen_problem(screen)
            try:
                if not why:
                    install_frame_timer(screen, 1.0 / fps)
            except Exception as e:  # Textual's timer internals changed under us
                why = f"the screen's update timer cannot be replaced ({type(e).__name__}: {e})"
            if why:
                self.turn_off(why)
                return

    @property
    def slowed(self) -> bool:
        return self.fps < MAX_FPS


def pacer_of(app: App[Any]) -> Pacer | None:
    pacer = getattr(app, "pacer", None)
    return pacer if isinstance(pacer, Pacer) else None


def paced_interval(owner: Any, callback: Callable[[], None]) -> None:
    """Call `callback` every `drain_interval` of the app's pacer, in steps of DRAIN_FAST
    (every DRAIN_FAST without a pacer): RunScreen's log drain, which so coalesces its
    batches when output is heavy."""
    last = -math.inf

    def tick() -> None:
        nonlocal last
        pacer = pacer_of(owner.app)
        interval = pacer.drain_interval if pacer is not None else DRAIN_FAST
        now = time.monotonic()
        if now - last >= interval - DRAIN_FAST / 2:
            last = now
            callback()

    owner.set_interval(DRAIN_FAST, tick, name="paced-drain")
