"""bench/pairing.py's figure b: the app over an emulated 256 kbit/s link while a step floods.

The real app (`runbook run`) on a pty whose far end is a 32 KiB/s link (slow_link.py). One
check prints 50,000 lines/s of log-like lines (96 bytes, every column changing from line to
line) for the whole figure; its log is on screen. Measured at the far end: bytes/s crossing
the link while the flood runs and nothing is pressed, key -> screen latency during the flood
(down/up between the flooding item and the next one: time from writing the key until the
far end's screen, a terminal model fed with what crossed the link, shows the newly selected
item's "id ..." in the detail pane), and bytes/s once the run is idle again.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from slow_link import LINK_BYTES_PER_S, SlowLinkApp
from tui_common import (
    FOOTER_MARK,
    KEY_DOWN,
    KEY_UP,
    PYTHON,
    RUNBOOK_BIN,
    TAG,
    fmt_lat,
    kill_tagged,
    ms,
    pct,
)
from tui_pty import app_env

FLOOD_LINES_PER_S = 50_000
KEY_P95_MS = 250.0
BUSY_BYTES_PER_S = 24 * 1024
IDLE_BYTES_PER_S = 1024
WARM_S = 3.0  # flood before measuring
BUSY_S = 5.0  # bytes/s window while busy, no keys
IDLE_S = 10.0  # bytes/s window once idle


@dataclass
class LinkFigures:
    key_ms: list[float]
    key_misses: int
    busy_bps: float
    keys_bps: float  # bytes/s while the keys were being pressed (flood still on)
    idle_bps: float
    lines_per_s: float  # what reached the item's log file
    tail_shown: bool  # the far end's screen ends up showing the log's last line
    tail: str
    keys_after_flood: bool  # the keys took so long that the flood was over before the last


LINE_WIDTH = 96  # bytes per generated line, newline included

# Log-like lines whose every column changes from one line to the next (a counter, then one
# of 1,009 random request lines): no screen row repeats the row it replaces, so the app
# cannot get away with sending a few changed digits.
GENERATOR = """
import os, random, sys, time
tag, rate, dur, width = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
rng = random.Random(1)
verbs = ['GET', 'POST', 'PUT', 'DELETE']
things = ['creators', 'payouts', 'media', 'sessions', 'webhooks', 'invoices', 'feeds']
pool = []
for i in range(1009):
    body = '%s worker-%d %s /api/v1/%s/%08x status=%d took=%dms req=%016x' % (
        rng.choice(['INFO ', 'WARN ', 'DEBUG']), rng.randrange(16), rng.choice(verbs),
        rng.choice(things), rng.getrandbits(32), rng.choice([200, 201, 204, 404, 503]),
        rng.randrange(2000), rng.getrandbits(64))
    pool.append(body[:width - 12].ljust(width - 12))
parent = os.getppid()
t0 = last = time.monotonic()
n = 0
budget = 0.0
while True:
    now = time.monotonic()
    if now - t0 > dur or os.getppid() != parent:
        break
    budget = min(budget + rate * (now - last), rate * 0.25)
    last = now
    due = int(budget)
    if due > 0:
        os.write(1, ''.join(['%010d %s\\n' % (n + i, pool[(n + i) % 1009]) for i in range(due)]).encode())
        n += due
        budget -= due
    time.sleep(0.01)
"""


def flood_runbook(path: Path, seconds: float) -> tuple[str, str]:
    argv = [PYTHON, "-c", GENERATOR, TAG, str(FLOOD_LINES_PER_S), f"{seconds:.0f}",
            str(LINE_WIDTH)]
    path.write_text("\n".join([
        "runbook: 1", "title: Slow link bench", 'version: "1"', "environments:", "  local: {}",
        "phases:", "  - id: p", "    title: Flood", "    sections:", "      - id: s",
        "        title: One flooding check", "        items:",
        f"          - {{id: flood, kind: check, title: Flood the log, uses: shell, "
        f"with: {{argv: {json.dumps(argv)}}}}}",
        "          - {id: other, title: Look at the other pane}",
    ]) + "\n")
    return "flood", "other"


def logged_lines(state: Path) -> int:
    return sum(f.stat().st_size for f in state.glob("sessions/*/logs/*.log")) // LINE_WIDTH


def key_latencies(app: SlowLinkApp, ids: tuple[str, str], n: int,
                  timeout: float = 5.0) -> tuple[list[float], int, int]:
    """Down/up between the two items: key write -> the far end's screen shows the newly
    selected item's id in the detail pane. Returns (ms, timeouts, index of the item the
    cursor is on at the end)."""
    lat: list[float] = []
    misses = 0
    cur = 0
    for _ in range(n):
        key, nxt = (KEY_DOWN, 1) if cur == 0 else (KEY_UP, 0)
        t = app.send(key)
        seen = app.wait_screen((f"id {ids[nxt]}",), timeout)
        if seen:
            lat.append(ms(min(seen.values()) - t))
            cur = nxt
        else:
            misses += 1
            app.send(KEY_UP)  # resynchronise on the first item
            app.wait_screen((f"id {ids[0]}",), timeout)
            cur = 0
        if not app.alive():
            break
        time.sleep(random.uniform(0.1, 0.3))
    return lat, misses, cur


def measure(tmp: Path, samples: int, rate: float = LINK_BYTES_PER_S,
            extra_env: dict[str, str] | None = None) -> LinkFigures:
    state = tmp / "link-state"
    rb = tmp / "link.yaml"
    flood_s = WARM_S + BUSY_S + samples * 1.0 + 10.0  # the keys take ~0.4 s each
    ids = flood_runbook(rb, flood_s)
    app = SlowLinkApp([RUNBOOK_BIN, "run", str(rb), "--env", "local"],
                      app_env(str(state), extra_env), rate)
    try:
        for text in ("Flood the log", FOOTER_MARK, f"id {ids[0]}"):
            if not app.wait_screen((text,), 30.0):
                raise RuntimeError(f"the far end's screen never showed {text!r} "
                                   f"(alive={app.alive()})")
        time.sleep(1.0)
        app.send(b"r")
        t_flood = time.perf_counter()
        if not app.wait_screen(("full output:",), 10.0):  # the log header, once lines came
            raise RuntimeError("the flood never reached the log pane")
        time.sleep(max(0.0, WARM_S - (time.perf_counter() - t_flood)))
        l0, t0 = logged_lines(state), time.perf_counter()
        time.sleep(BUSY_S)
        t1 = time.perf_counter()
        l1 = logged_lines(state)
        busy = app.bytes_between(t0, t1) / (t1 - t0)
        lat, misses, cur = key_latencies(app, ids, samples)
        t2 = time.perf_counter()
        keys_bps = app.bytes_between(t1, t2) / (t2 - t1)
        late = t2 > t_flood + flood_s
        if cur:  # back on the flooding item: its log on screen when it ends, then idle
            app.send(KEY_UP)
        time.sleep(max(0.0, t_flood + flood_s - time.perf_counter()) + 3.0)
        t3 = time.perf_counter()
        time.sleep(IDLE_S)
        t4 = time.perf_counter()
        idle = app.bytes_between(t3, t4) / (t4 - t3)
        if not app.alive():
            raise RuntimeError("the app died")
        tail = last_logged(state)
        shown = bool(tail) and app.screen.shows(tail[:60])
    finally:
        app.close()
        kill_tagged()
    return LinkFigures(lat, misses, busy, keys_bps, idle, (l1 - l0) / (t1 - t0), shown, tail,
                       late)


def last_logged(state: Path) -> str:
    for f in state.glob("sessions/*/logs/*.log"):
        with f.open("rb") as fh:
            fh.seek(max(0, f.stat().st_size - 4 * LINE_WIDTH))
            lines = fh.read().decode(errors="replace").splitlines()
        return lines[-1] if lines else ""
    return ""


Verdict = Callable[[str, str, bool], None]  # (figure, target, met)


def report(f: LinkFigures, verdict: Verdict) -> None:
    p95 = pct(f.key_ms, 95)
    verdict("b1. key -> screen latency over 256 kbit/s while a step floods 50,000 lines/s "
            f"(down/up, until the far end's screen shows it): {fmt_lat(f.key_ms, f.key_misses)}"
            + (" (the flood was over before the last keys)" if f.keys_after_flood else ""),
            f"p95 < {KEY_P95_MS:.0f} ms", bool(f.key_ms) and p95 < KEY_P95_MS and not f.key_misses)
    verdict(f"b2. bytes/s over the link while busy: {f.busy_bps / 1024:.1f} KiB/s "
            f"({f.keys_bps / 1024:.1f} KiB/s while the keys were pressed; the step logged "
            f"{f.lines_per_s:,.0f} lines/s)", f"< {BUSY_BYTES_PER_S // 1024} KiB/s",
            f.busy_bps < BUSY_BYTES_PER_S)
    verdict(f"b3. bytes/s over the link when idle ({IDLE_S:.0f} s after the flood): "
            f"{f.idle_bps:.0f} B/s", f"< {IDLE_BYTES_PER_S} B/s", f.idle_bps < IDLE_BYTES_PER_S)
    verdict(f"b4. the far end's screen (a terminal model fed with what crossed the link) shows "
            f"the step's last log line {f.tail[:10]!r}...: {'yes' if f.tail_shown else 'no'}",
            "yes", f.tail_shown)
