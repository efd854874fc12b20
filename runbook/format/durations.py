"""Durations as runbook authors write them: "30s", "15m", "1h30m", "10-30m", "10-30 min"."""

from __future__ import annotations

import re

_UNIT = {"s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
         "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
         "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)?")
_RANGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:-|to)\s*(.+)$")


class DurationError(ValueError):
    pass


def parse_duration(text: str | int | float) -> float:
    """Seconds in `text`; a bare number is seconds."""
    if isinstance(text, bool):
        raise DurationError(f"not a duration: {text!r}")
    if isinstance(text, int | float):
        if text < 0:
            raise DurationError(f"negative duration: {text}")
        return float(text)
    s = text.strip().lower()
    if not s:
        raise DurationError("empty duration")
    total = 0.0
    pos = 0
    for m in _PART.finditer(s):
        if s[pos:m.start()].strip():
            raise DurationError(f"not a duration: {text!r} (use e.g. 30s, 15m, 1h30m)")
        unit = m.group(2) or "s"
        if unit not in _UNIT:
            raise DurationError(f"unknown unit {unit!r} in {text!r} (use s, m or h)")
        total += float(m.group(1)) * _UNIT[unit]
        pos = m.end()
    if pos == 0 or s[pos:].strip():
        raise DurationError(f"not a duration: {text!r} (use e.g. 30s, 15m, 1h30m)")
    return total


def parse_range(text: str | int | float) -> tuple[float, float]:
    """An expected duration: "15m" -> (900, 900); "10-30 min" -> (600, 1800)."""
    if isinstance(text, str):
        m = _RANGE.match(text)
        if m:
            hi = parse_duration(m.group(2))
            unit = re.sub(r"^[\d.\s]+", "", m.group(2)) or "s"
            lo = parse_duration(m.group(1) + unit)
            if lo > hi:
                raise DurationError(f"range goes backwards: {text!r}")
            return lo, hi
    d = parse_duration(text)
    return d, d


def format_duration(seconds: float) -> str:
    """Short human form: 45s, 12m, 1h05m."""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        m, r = divmod(s, 60)
        return f"{m}m{r:02d}s" if r else f"{m}m"
    h, r = divmod(s, 3600)
    return f"{h}h{r // 60:02d}m"


def format_range(r: tuple[float, float] | None) -> str:
    if r is None:
        return ""
    lo, hi = r
    return format_duration(lo) if lo == hi else f"{format_duration(lo)}-{format_duration(hi)}"
