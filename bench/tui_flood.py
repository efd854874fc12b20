"""The TUI bench's figures 3 and 4 (bench/tui.py): key latency while twelve checks flood
their logs, and the app's resident memory over the flood.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from pathlib import Path

from tui_common import (
    FLOOD_ITEMS,
    FLOOD_LINES_PER_S,
    FLOOD_P95_MS,
    PYTHON,
    RSS_FLAT_MB_PER_MIN,
    RSS_MAX_MB,
    TAG,
    cpu_seconds,
    fmt_lat,
    kill_tagged,
    out,
    pct,
    proc_status,
    slope_per_min,
    verdict,
)
from tui_pty import (
    key_latencies,
    selected_markers,
    start_tui,
    wait_first_frame,
)

# -- figures 3 and 4: the flood -----------------------------------------------------------------------
LINE_WIDTH = 32  # bytes per generated line, newline included

GENERATOR = """
import os, sys, time
tag, item, total, dur, share = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
parent = os.getppid()
me = os.path.join(share, str(os.getpid())) if share else ''
if me:
    open(me, 'w').close()


def live():
    n = 0
    for name in os.listdir(share):
        try:
            os.kill(int(name), 0)
            n += 1
        except (OSError, ValueError):
            pass
    return max(n, 1)


try:
    t0 = last = checked = time.monotonic()
    rate = total / (live() if me else ITEMS)
    n = 0
    budget = 0.0
    pad = 'x' * 64
    while True:
        now = time.monotonic()
        if now - t0 > dur or os.getppid() != parent:
            break
        if me and now - checked > 0.5:
            rate, checked = total / live(), now
        budget = min(budget + rate * (now - last), rate * 0.25)  # no catching up beyond 0.25 s
        last = now
        due = int(budget)
        if due > 0:
            chunk = ''.join('%s %010d %s\\n' % (item, n + i, pad[:WIDTH - 16]) for i in range(due))
            os.write(1, chunk.encode())
            n += due
            budget -= due
        time.sleep(0.01)
finally:
    if me:
        os.unlink(me)
"""


def flood_runbook(path: Path, seconds: float, share: Path | None) -> list[str]:
    """Twelve checks printing FLOOD_LINES_PER_S lines/s in all. With `share`, the generators
    that run at the same moment split the total between them (so the load is the same when
    the app runs fewer than twelve at once); without, each prints a twelfth."""
    script = GENERATOR.replace("WIDTH", str(LINE_WIDTH)).replace("ITEMS", str(FLOOD_ITEMS))
    ids = [f"c{n:02d}" for n in range(1, FLOOD_ITEMS + 1)]
    lines = ["runbook: 1", "title: TUI flood bench", 'version: "1"', "environments:",
             "  local: {namespace: bench}", "phases:", "  - id: flood", "    title: Flood",
             "    sections:", "      - id: all", "        title: All checks", "        items:"]
    for i in ids:
        argv = [PYTHON, "-c", script, TAG, i, str(FLOOD_LINES_PER_S), f"{seconds:.0f}",
                str(share) if share else ""]
        lines.append(f"          - {{id: {i}, kind: check, title: {json.dumps('Flood ' + i[1:])}, "
                     f"uses: shell, with: {{argv: {json.dumps(argv)}}}}}")
    path.write_text("\n".join(lines) + "\n")
    return ids


def running_generators() -> int:
    n = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if TAG.encode() in cmd and state != "Z":
            n += 1
    return n


def logged_lines(state: Path) -> int:
    total = 0
    for f in state.glob("sessions/*/logs/*.log"):
        with contextlib.suppress(OSError):
            total += f.stat().st_size
    return total // LINE_WIDTH


def figure_flood(tmp: Path, samples: int, minutes: float, fixed_share: bool) -> None:
    state = tmp / "flood"
    rb = tmp / "flood.yaml"
    share = None if fixed_share else tmp / "flood-share"
    if share is not None:
        share.mkdir()
    seconds = minutes * 60 + 120  # generators end by themselves a little after the measurement
    ids = flood_runbook(rb, seconds, share)
    app = start_tui(str(rb), str(state))
    rss: list[tuple[float, float]] = []
    stop = threading.Event()
    try:
        wait_first_frame(app, "Flood 01")
        if not app.wait_for(selected_markers(ids[0]), 0, 5.0, need="any"):
            out("3. flood key latency: the screen never showed the first item as selected -> FAIL")
            return
        time.sleep(0.5)
        start = app.offset
        app.send(b"a")
        t_flood = time.perf_counter()
        started = app.wait_for({"n": f"started {FLOOD_ITEMS} check"}, start, 10.0)

        def sampler() -> None:
            while not stop.is_set():
                st = proc_status(app.pid)
                if "VmRSS" in st:
                    rss.append((time.perf_counter() - t_flood, st["VmRSS"] / 1024))
                stop.wait(10.0)

        th = threading.Thread(target=sampler, daemon=True)
        th.start()
        if "n" not in started:
            out("   warning: no 'started 12 check(s)' notification seen")
        time.sleep(3.0)  # let the flood reach its rate
        running = running_generators()
        l0, c0, t0 = logged_lines(state), cpu_seconds(app.pid), time.perf_counter()
        lat, misses = key_latencies(app, (ids[0], ids[1]), samples)
        l1, c1, t1 = logged_lines(state), cpu_seconds(app.pid), time.perf_counter()
        rate = (l1 - l0) / (t1 - t0)
        p95 = pct(lat, 95)
        ok = bool(lat) and p95 < FLOOD_P95_MS and not misses
        out(f"3. key -> screen latency while checks stream {rate:,.0f} lines/s (down/up): "
            f"{fmt_lat(lat, misses)} | target p95 < {FLOOD_P95_MS:.0f} ms at {FLOOD_LINES_PER_S:,} "
            f"lines/s from {FLOOD_ITEMS} checks -> {verdict(ok)}")
        out(f"   `a` started {running} of {FLOOD_ITEMS} checks at once"
            + ("" if running == FLOOD_ITEMS else
               f" (the others wait: Textual thread workers share asyncio's default executor, "
               f"min(32, CPUs + 4) = {min(32, (os.cpu_count() or 1) + 4)} threads here)")
            + (f"; {'they split' if share else 'each prints a twelfth of'} the "
               f"{FLOOD_LINES_PER_S:,} lines/s"))
        out(f"   {rate:,.0f} lines/s reached the log files; app CPU {100 * (c1 - c0) / (t1 - t0):.0f}% "
            f"of one core; {os.cpu_count()} CPUs here")
        if rate < 0.9 * FLOOD_LINES_PER_S:
            out("   note: a generator blocks when the app reads its pipe slowly, so the rate is the "
                "app's intake")

        # figure 4: memory over the rest of the flood period
        end = t_flood + minutes * 60
        la, ca, ta = logged_lines(state), cpu_seconds(app.pid), time.perf_counter()
        while time.perf_counter() < end and app.alive():
            time.sleep(min(5.0, max(0.0, end - time.perf_counter())))
        st = proc_status(app.pid)
        if "VmRSS" in st:
            rss.append((time.perf_counter() - t_flood, st["VmRSS"] / 1024))
        lb, cb, tb = logged_lines(state), cpu_seconds(app.pid), time.perf_counter()
        running_end = running_generators()
        lat2, misses2 = key_latencies(app, (ids[0], ids[1]), max(10, samples // 2))
        stop.set()
        alive = app.alive()
    finally:
        stop.set()
        app.close()
        killed = kill_tagged()
    if not rss:
        out("4. memory: no samples -> FAIL")
        return
    values = [v for _, v in rss]
    half = [p for p in rss if p[0] >= rss[-1][0] / 2]
    s_all, s_half = slope_per_min(rss), slope_per_min(half)
    ok = max(values) < RSS_MAX_MB and s_half < RSS_FLAT_MB_PER_MIN and alive
    out(f"4. app RSS over {minutes:g} min of flood: first {values[0]:.0f} MB, last {values[-1]:.0f} MB, "
        f"max {max(values):.0f} MB, slope {s_all:+.2f} MB/min (second half {s_half:+.2f}) | target < "
        f"{RSS_MAX_MB:.0f} MB and flat (second-half slope < {RSS_FLAT_MB_PER_MIN:g} MB/min) -> {verdict(ok)}")
    out("   samples (s: MB): " + ", ".join(f"{t:.0f}: {v:.0f}" for t, v in rss))
    if tb > ta:
        out(f"   over that period: {(lb - la) / (tb - ta):,.0f} lines/s logged, app CPU "
            f"{100 * (cb - ca) / (tb - ta):.0f}% of one core; {running_end} checks running at the end; "
            f"app {'alive' if alive else 'DEAD'}")
    out(f"   key latency at the end of the flood: {fmt_lat(lat2, misses2)}"
        + (f"; killed {killed} leftover generator(s)" if killed else ""))
