"""Every use of Textual's private names, in one place, each checked before it is used.

Pacing (pacing.py) and the cell diff (frame_diff.py) work inside Textual: they count and
rewrite what the app writes to its driver (`App._driver`, `App._display`), tell a
compositor frame from other output (`textual._compositor`), hold back the synchronized
update brackets (`textual._ansi_sequences`), and put a timer whose interval may change in
place of a screen's update timer (`Screen.__update_timer`, `_timers`, `_on_timer_update`;
`Timer._run`, `_tick`, `_start`, `_active`, `_interval`; `textual._time`). The key footer
shows its keys in the first frame through `Footer._bindings_ready`. None of these is
Textual's public API, and a release may rename or reshape any of them.

So they are used here and nowhere else in screens/, and `problem()` checks each against
the shape this code expects before the app hooks anything: if one is missing or changed,
the pacer leaves pacing and the cell diff off for the session (the app is stock Textual,
writing every frame whole at the full rate) and says so in one line. The footer falls back
to the stock footer silently. Textual is pinned below its next major version in
pyproject.toml; a minor release is caught here.
"""

from __future__ import annotations

import asyncio
import inspect
import math
from collections.abc import Callable
from typing import Any

from textual.app import App
from textual.reactive import Reactive
from textual.screen import Screen
from textual.timer import EventTargetGone, Timer
from textual.widget import Widget

try:
    from textual._ansi_sequences import SYNC_END as SYNC_END
    from textual._ansi_sequences import SYNC_START as SYNC_START
    from textual._compositor import CompositorUpdate, LayoutUpdate
    from textual._time import get_time

    _IMPORTS = ""
except ImportError as e:  # a later Textual moved them: problem() says so, nothing uses them
    _IMPORTS = f"no {e.name or e} in this Textual"

TIMER_ATTR = "_Screen__update_timer"  # Screen's private update timer (created lazily)
_MISSING = object()


# -- the check -------------------------------------------------------------------------------
def problem(app: App[Any] | None = None) -> str:
    """What of Textual's private names is missing or not of the expected shape ('' if all is
    as expected). With `app`, its driver and current screen are looked at too."""
    try:
        return _static_problem() or (_app_problem(app) if app is not None else "")
    except Exception as e:  # a shape so changed that looking at it fails
        return f"{type(e).__name__}: {e}"


def _static_problem() -> str:
    if _IMPORTS:
        return _IMPORTS
    if not (isinstance(SYNC_START, str) and isinstance(SYNC_END, str) and SYNC_START):
        return "textual._ansi_sequences.SYNC_START/SYNC_END are not strings"
    if not (isinstance(CompositorUpdate, type) and isinstance(LayoutUpdate, type)
            and issubclass(LayoutUpdate, CompositorUpdate)):
        return "textual._compositor has no CompositorUpdate/LayoutUpdate classes"
    if not callable(get_time):
        return "textual._time.get_time is not callable"
    if _params(getattr(App, "_display", None)) != ["self", "screen", "renderable"]:
        return "App._display(screen, renderable) has changed"
    if not callable(getattr(Screen, "_on_timer_update", None)):
        return "Screen._on_timer_update is missing"
    if not inspect.iscoroutinefunction(getattr(Timer, "_run", None)):
        return "Timer._run is not a coroutine"
    tick = getattr(Timer, "_tick", None)
    if not inspect.iscoroutinefunction(tick) or not {"next_timer", "count"} <= set(_params(tick)):
        return "Timer._tick(next_timer=, count=) has changed"
    if not callable(getattr(Timer, "_start", None)):
        return "Timer._start is missing"
    probe = Timer(_Target(), 0.5, callback=_nothing, pause=True)  # type: ignore[arg-type]
    if getattr(probe, "_interval", None) != 0.5 or getattr(probe, "_callback", None) is not _nothing:
        return "Timer._interval/_callback are missing"
    active = getattr(probe, "_active", None)
    if not isinstance(active, asyncio.Event) or active.is_set():
        return "Timer._active is not the paused timer's event"
    return ""


def _app_problem(app: App[Any]) -> str:
    driver = getattr(app, "_driver", _MISSING)
    if driver is _MISSING:
        return "App._driver is missing"
    if driver is not None and not callable(getattr(driver, "write", None)):
        return "the driver has no write()"
    try:
        screen = app.screen
    except Exception:  # no screen yet: the timer is looked at when it is replaced
        return ""
    return screen_problem(screen)


def screen_problem(screen: Screen[Any]) -> str:
    timers = getattr(screen, "_timers", None)
    if not (callable(getattr(timers, "add", None)) and callable(getattr(timers, "discard", None))):
        return "Screen._timers is not a set of timers"
    current = getattr(screen, TIMER_ATTR, _MISSING)
    if current is not None and not isinstance(current, Timer):
        return "Screen.__update_timer is missing or not a Timer"
    return ""


def _params(fn: Any) -> list[str]:
    try:
        return list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return []


class _Target:
    """Something a probe Timer can hold a weak reference to."""


def _nothing() -> None:
    return None


# -- the uses --------------------------------------------------------------------------------
def is_frame(renderable: object) -> bool:
    """Whether App._display is showing a compositor frame (which FrameDiff follows)."""
    return isinstance(renderable, CompositorUpdate)


def is_full_frame(renderable: object) -> bool:
    """Whether it is a whole-screen layout frame (written whole, refreshing the diff)."""
    return isinstance(renderable, LayoutUpdate)


def hook_output(app: App[Any], on_frame: Callable[[object], None],
                write: Callable[[str, Callable[[str], None]], None]) -> bool:
    """Route what the app writes to its terminal through `write(data, original_write)`, with
    `on_frame(renderable)` called around each App._display (and `on_frame(None)` after).
    False (nothing hooked) for an inline or driverless app."""
    driver = app._driver
    if driver is None or app.is_inline:
        return False
    original_write = driver.write
    display = app._display

    def displayed(screen: Screen[Any], renderable: object) -> None:
        on_frame(renderable)
        try:
            display(screen, renderable)  # type: ignore[arg-type]
        finally:
            on_frame(None)

    def written(data: str) -> None:
        write(data, original_write)

    app._display = displayed  # type: ignore[method-assign]
    driver.write = written  # type: ignore[method-assign]
    return True


def update_timer(screen: Screen[Any]) -> object:
    """The screen's update timer: a Timer, None if not made yet, `False` if there is none."""
    return getattr(screen, TIMER_ATTR, False)


def footer_keys_ready(footer: Widget) -> None:
    """Tell a Footer its keys are ready (Textual 8's flag), so it composes them in the first
    frame; absent or changed, the stock footer's behaviour stays."""
    ready = getattr(type(footer), "_bindings_ready", None)
    if isinstance(ready, Reactive):
        footer.set_reactive(ready, True)


class FrameTimer(Timer):
    """A screen's update timer whose interval may change while it runs.

    Textual's timer ticks on a fixed grid of `interval` (read once, when it starts); this
    one ticks as soon as it is resumed (something is dirty) unless the last frame was less
    than `interval` ago, and then when it is. A shorter interval wakes it at once.
    """

    def __init__(self, screen: Screen[Any], interval: float, callback: Callable[[], Any],
                 active: bool) -> None:
        super().__init__(screen, interval, name="screen_update", callback=callback,
                         pause=not active)
        self._last = -math.inf
        self._wake = asyncio.Event()

    @property
    def interval(self) -> float:
        return self._interval

    def set_interval(self, interval: float) -> None:
        if interval != self._interval:
            self._interval = interval
            self._wake.set()

    async def _run(self) -> None:
        active: asyncio.Event = self._active
        wake = self._wake
        while True:
            await active.wait()
            wait = self._last + self._interval - get_time()
            if wait > 0:
                wake.clear()
                try:
                    await asyncio.wait_for(wake.wait(), wait)
                except TimeoutError:
                    pass
                continue
            self._last = get_time()
            try:
                await self._tick(next_timer=self._last, count=0)
            except EventTargetGone:
                break


def install_frame_timer(screen: Screen[Any], interval: float) -> FrameTimer | None:
    """Put a FrameTimer in place of the screen's update timer (None: this screen has none
    yet, or is not running). The new timer is made before the old one is stopped, so a
    failure leaves the screen painting as it did."""
    current = update_timer(screen)
    if current is False or not screen.is_running:
        return None
    if isinstance(current, FrameTimer):
        current.set_interval(interval)
        return current
    active = isinstance(current, Timer) and current._active.is_set()
    timer = FrameTimer(screen, interval, screen._on_timer_update, active)
    if isinstance(current, Timer):
        current.stop()
        screen._timers.discard(current)
    timer._start()
    screen._timers.add(timer)
    setattr(screen, TIMER_ATTR, timer)
    return timer
