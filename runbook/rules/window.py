"""Guards of an environment's policy: the maintenance window, its clock and its budget, and
the advance notice due before it.

All pure functions of their arguments (a time is epoch seconds). Reading the rollback
runbook's duration and journaling the warning are the session's
(`runbook.session.preflight`): rules import no session, journal or executor.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from runbook.format.durations import format_duration
from runbook.format.model import Item, Policy, Runbook, Section, Window
from runbook.rules.state import RunState, Status

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
WARNING_GUARD = "window-warning"  # the key of the journaled warning in RunState.guards


@dataclass(frozen=True, slots=True)
class WindowStatus:
    open: bool
    remaining_s: float | None  # time left in the window when open
    opens_in_s: float | None  # time until it next opens when closed
    text: str
    start: float | None = None  # when the current window opened, or the next one opens


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
            return WindowStatus(True, left, None, f"in window {desc}: {format_duration(left)} left",
                                start.timestamp())
        if start > t:
            wait = (start - t).total_seconds()
            return WindowStatus(False, None, wait,
                                f"OUTSIDE window {desc}: opens in {format_duration(wait)}",
                                start.timestamp())
    return WindowStatus(False, None, None, f"OUTSIDE window {desc}")


def _describe(w: Window) -> str:
    days = ",".join(DAY_NAMES[d] for d in sorted(w.days))
    s, e = w.start_minute, w.end_minute
    return f"{days} {s // 60:02d}:{s % 60:02d}-{e // 60:02d}:{e % 60:02d} {w.tz}"


# -- the window's budget: is there time to finish, and still roll back? ----------

@dataclass(frozen=True, slots=True)
class WindowBudget:
    status: WindowStatus
    run_s: float  # expected remaining duration of the run
    rollback_s: float | None  # expected duration of the rollback runbook (None: unknown)
    warn: bool  # the window left is shorter than run + rollback
    text: str  # what the clock shows: the warning, or the window status

    @property
    def needed_s(self) -> float:
        return self.run_s + (self.rollback_s or 0.0)


def expected(r: tuple[float, float] | None) -> float:
    """The expected value of a duration range: its midpoint ("10-30m" expects 20m)."""
    return (r[0] + r[1]) / 2 if r else 0.0


def expected_remaining(runbook: Runbook, state: RunState) -> float:
    """Seconds the items not yet done are expected to take.

    A section with `expected` counts for the share of its items not done yet (items of
    a branch not taken leave the count); elsewhere each pending item counts its own
    `expected`. Items with neither count nothing.
    """
    total = 0.0
    for phase in runbook.phases:
        for section in phase.sections:
            items = [i for i in _items(section)
                     if state.items[i.id].status is not Status.NOT_TAKEN]
            pending = [i for i in items if not state.items[i.id].done]
            if section.expected is not None:
                total += expected(section.expected) * len(pending) / len(items) if items else 0.0
            else:
                total += sum(expected(i.expected) for i in pending)
    return total


def _items(section: Section) -> list[Item]:
    out: list[Item] = []
    for item in section.items:
        out.append(item)
        for option in item.options:
            out.extend(option.items)
    return out


def window_budget(window: Window | None, now: float, run_s: float,
                  rollback_s: float | None) -> WindowBudget:
    """The window's clock, and a warning when what is left of it is shorter than the run's
    expected remaining duration plus the rollback's expected duration."""
    status = window_status(window, now)
    left = status.remaining_s
    needed = run_s + (rollback_s or 0.0)
    warn = window is not None and status.open and left is not None and left < needed
    if not warn:
        return WindowBudget(status, run_s, rollback_s, False, status.text)
    assert left is not None
    parts = (f"run {format_duration(run_s)} + rollback {format_duration(rollback_s)}"
             if rollback_s is not None else f"run {format_duration(run_s)}; rollback unknown")
    text = f"window {format_duration(left)} left < {format_duration(needed)} needed ({parts})"
    return WindowBudget(status, run_s, rollback_s, True, text)


# -- advance notice ----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class NoticeDue:
    window_start: float  # the window this run falls in (or the next one)
    due: float  # window start minus the notice
    text: str  # notice due by Sat 2025-01-18 02:00 UTC (24h before the window at ...)
    short: str  # notice due by Sat 18 Jan 02:00 UTC


def notice_due(policy: Policy, now: float) -> NoticeDue | None:
    """When the advance notice for the current (or next) window was due; None without a
    notice rule or a window."""
    if not policy.notice_s or policy.window is None:
        return None
    status = window_status(policy.window, now)
    if status.start is None:
        return None
    due = status.start - policy.notice_s
    tz = ZoneInfo(policy.window.tz)
    fmt = "%a %Y-%m-%d %H:%M"
    start_text = dt.datetime.fromtimestamp(status.start, tz).strftime(fmt)
    due_text = dt.datetime.fromtimestamp(due, tz).strftime(fmt)
    text = (f"notice due by {due_text} {policy.window.tz} ({_hours(policy.notice_s)} "
            f"before the window at {start_text})")
    short = f"notice due by {dt.datetime.fromtimestamp(due, tz):%a %d %b %H:%M} {policy.window.tz}"
    return NoticeDue(status.start, due, text, short)


def _hours(seconds: float) -> str:
    return f"{round(seconds) // 3600}h" if round(seconds) % 3600 == 0 else format_duration(seconds)
