"""Constants, targets and small helpers of the TUI bench (bench/tui.py): percentiles and
verdicts, output, terminal-text patterns, /proc readings, and the cleanup of what a run started.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import signal
import statistics
import sys
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
RUNBOOK_BIN = str(ROOT / ".venv" / "bin" / "runbook")
HELLO = str(ROOT / "runbooks" / "examples" / "hello.yaml")
HELLO_FIRST = "Say hello"  # the title of hello.yaml's first item
FOOTER_MARK = "palette"  # the footer's last key, "^p palette"
COLS, ROWS = 160, 48
HEAVY = ("kubernetes", "httpx", "psycopg", "redis")

KEY_DOWN = b"\x1b[B"
KEY_UP = b"\x1b[A"

# targets
FIRST_FRAME_MS = 500.0
FIRST_FRAME_VS_TEXTUAL = 1.8
IDLE_P95_MS = 50.0
FLOOD_P95_MS = 100.0
FLOOD_LINES_PER_S = 50_000
FLOOD_ITEMS = 12
RSS_MAX_MB = 150.0
RSS_FLAT_MB_PER_MIN = 1.0  # slope over the second half of the samples
PODS = 5_000
PODS_SHOW_S = 1.5
POD_UPDATES_PER_S = 200
PODS_P95_MS = 100.0
PODS_BUDGET_S = 120.0  # figure 5 as a whole; about 15 s on a quiet machine

ESC_SEQ = rb"(?:\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_])"
ANSI = re.compile(ESC_SEQ)

TAG = f"rbbench-{uuid.uuid4().hex[:12]}"  # on every flood generator's command line
_cleanups: list[Callable[[], None]] = []


# -- small helpers ------------------------------------------------------------------------------
def ms(seconds: float) -> float:
    return seconds * 1000.0


def pct(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    s = sorted(values)
    if not s:
        return math.nan
    k = max(0, min(len(s) - 1, math.ceil(p / 100.0 * len(s)) - 1))
    return s[k]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


misses: list[str] = []  # the figures whose line ends "-> FAIL" (their numbers)


def out(line: str) -> None:
    if line.rstrip().endswith("-> FAIL") or " -> FAIL;" in line:
        misses.append(line.split(" ", 1)[0].rstrip("."))
    print(line, flush=True)


def text_pattern(text: str) -> re.Pattern[bytes]:
    """Match `text` in a terminal stream: escape sequences (styles) may sit between its characters."""
    parts = [re.escape(ch.encode()) for ch in text]
    return re.compile((ESC_SEQ + b"*").join(parts))


def slope_per_min(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) in value per minute."""
    if len(points) < 2:
        return 0.0
    xs = [p[0] / 60.0 for p in points]
    ys = [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return 0.0 if den == 0 else sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den


def kill_tagged() -> int:
    """SIGKILL every process whose command line carries this run's tag (the flood generators)."""
    n = 0
    me = os.getpid()
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if TAG.encode() in cmd:
            with contextlib.suppress(OSError):
                os.kill(int(pid), signal.SIGKILL)
                n += 1
    return n


def cleanup_all() -> None:
    while _cleanups:
        fn = _cleanups.pop()
        with contextlib.suppress(Exception):
            fn()
    kill_tagged()


def _on_signal(signum: int, _frame: object) -> None:
    cleanup_all()
    sys.exit(128 + signum)



def fmt_lat(lat: Sequence[float], misses: int) -> str:
    if not lat:
        return f"no samples ({misses} timed out)"
    return (f"p50 {pct(lat, 50):.1f} ms, p95 {pct(lat, 95):.1f} ms, max {max(lat):.1f} ms "
            f"(n={len(lat)}{f', {misses} timed out' if misses else ''})")


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS/VmHWM in kB from /proc/PID/status."""
    res: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                res[k] = int(v.split()[0])
    except OSError:
        pass
    return res


def cpu_seconds(pid: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return math.nan
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
