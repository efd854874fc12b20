"""Guards of an environment's policy: the maintenance window and its clock."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from runbook.durations import format_duration
from runbook.model import Window

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True, slots=True)
class WindowStatus:
    open: bool
    remaining_s: float | None  # time left in the window when open
    opens_in_s: float | None  # time until it next opens when closed
    text: str


def window_status(window: Window | None, now: float) -> WindowStatus:
    """Is `now` (epoch seconds) inside the window, and how long is left or to wait."""
    if window is None:
        return WindowStatus(True, None, None, "any time (no maintenance window)")
    tz = ZoneInfo(window.tz)
    t = dt.datetime.fromtimestamp(now, tz)
    desc = _describe(window)
    # look at the windows starting yesterday .. in 7 days
    for offset in range(-1, 8):
        day = (t + dt.timedelta(days=offset)).date()
        if day.weekday() not in window.days:
            continue
        start = dt.datetime.combine(day, dt.time(), tz) + dt.timedelta(minutes=window.start_minute)
        length = (window.end_minute - window.start_minute) % (24 * 60)
        end = start + dt.timedelta(minutes=length)
        if start <= t < end:
            left = (end - t).total_seconds()
            return WindowStatus(True, left, None, f"in window {desc}: {format_duration(left)} left")
        if start > t:
            wait = (start - t).total_seconds()
            return WindowStatus(False, None, wait,
                                f"OUTSIDE window {desc}: opens in {format_duration(wait)}")
    return WindowStatus(False, None, None, f"OUTSIDE window {desc}")


def _describe(w: Window) -> str:
    days = ",".join(DAY_NAMES[d] for d in sorted(w.days))
    s, e = w.start_minute, w.end_minute
    return f"{days} {s // 60:02d}:{s % 60:02d}-{e // 60:02d}:{e % 60:02d} {w.tz}"
