"""The TUI bench's figures on hello.yaml (bench/tui.py): 1. the first useful frame (and 1b.
the heavy imports before it), 2. key -> screen latency while idle.
"""

from __future__ import annotations

import math
import re
import statistics
import subprocess
import time
from pathlib import Path

from tui_common import (
    COLS,
    FIRST_FRAME_MS,
    FIRST_FRAME_VS_TEXTUAL,
    HEAVY,
    HELLO,
    HELLO_FIRST,
    IDLE_P95_MS,
    PYTHON,
    ROOT,
    ROWS,
    fmt_lat,
    ms,
    out,
    pct,
    verdict,
)
from tui_pty import (
    first_frame_markers,
    key_latencies,
    selected_markers,
    start_tui,
    wait_first_frame,
)


# -- figure 1: first frame ------------------------------------------------------------------------
def median_wall(argv: list[str], runs: int, timeout: float = 30.0) -> list[float]:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=timeout, check=True, cwd=ROOT)
        times.append(time.perf_counter() - t)
    return times


IMPORT_LINE = re.compile(rb"import time:\s+(\d+) \|\s+(\d+) \|( *)([\w.]+)")


def figure_first_frame(tmp: Path, runs: int) -> None:
    tx: list[float] = []
    frames, first_bytes, titles = [], [], []
    for n in range(runs + 1):  # the first is a warm-up, not counted; interleaved against drift
        tx_n = median_wall([PYTHON, "-c", "import textual.app"], 1)
        app = start_tui(HELLO, str(tmp / f"ff{n}"))
        try:
            t, _ = wait_first_frame(app, HELLO_FIRST)
            fb = (app.first_byte or math.nan) - app.t0
            found = app.wait_for({"title": "Hello runbook"}, 0, 3.0)
            title = found["title"][0] - app.t0 if "title" in found else math.nan
        finally:
            app.close()
        if n:
            tx += tx_n
            frames.append(t)
            first_bytes.append(fb)
            titles.append(title)
    med = statistics.median(frames)
    tx_med = statistics.median(tx)
    limit = min(FIRST_FRAME_MS, FIRST_FRAME_VS_TEXTUAL * ms(tx_med))
    ok = ms(med) < FIRST_FRAME_MS and med <= FIRST_FRAME_VS_TEXTUAL * tx_med
    out(f"1. first useful frame (hello.yaml, pty {COLS}x{ROWS}, item list and footer drawn): "
        f"median {ms(med):.0f} ms "
        f"= {med / tx_med:.2f}x textual import | target < {FIRST_FRAME_MS:.0f} ms and <= "
        f"{FIRST_FRAME_VS_TEXTUAL}x textual import ({limit:.0f} ms here) -> {verdict(ok)}")
    out(f"   runs: {', '.join(f'{ms(t):.0f}' for t in frames)} ms; first byte median "
        f"{ms(statistics.median(first_bytes)):.0f} ms; `python -c 'import textual.app'` median "
        f"{ms(tx_med):.0f} ms ({', '.join(f'{ms(t):.0f}' for t in tx)})")
    ok_titles = [t for t in titles if not math.isnan(t)]
    if ok_titles:
        out(f"   full runbook title 'Hello runbook' in the status bar: median "
            f"{ms(statistics.median(ok_titles)):.0f} ms after start")
    else:
        out("   full runbook title 'Hello runbook' never appeared within 3 s")

    # imports before the first paint: Python's import log and Textual's frames share stderr
    app = start_tui(HELLO, str(tmp / "imports"), {"PYTHONPROFILEIMPORTTIME": "1"})
    try:
        found = app.wait_for(first_frame_markers(HELLO_FIRST), 0, 20.0)
        if len(found) < 2:
            out(f"   heavy imports: could not tell (no first frame with -X importtime, alive={app.alive()})")
            return
        paint_at = max(found.values())[1]
        time.sleep(2.0)  # and what comes in the next two seconds of idling
        stream = app.text()
    finally:
        app.close()
    # the frame containing the footer started at the last cursor-home/alt-screen before it
    before = stream[:paint_at]
    after = stream[paint_at:]
    mods_before = [m.group(4).decode() for m in IMPORT_LINE.finditer(before)]
    mods_after = [m.group(4).decode() for m in IMPORT_LINE.finditer(after)]
    heavy_before = sorted({m for m in mods_before if m.split(".")[0] in HEAVY})
    heavy_after = sorted({m.split(".")[0] for m in mods_after if m.split(".")[0] in HEAVY})
    tops = {}
    for m in IMPORT_LINE.finditer(before):
        if len(m.group(3)) == 1:  # top-level imports (indent 1)
            top = m.group(4).decode().split(".")[0]
            tops[top] = tops.get(top, 0) + int(m.group(2))
    biggest = sorted(tops.items(), key=lambda kv: -kv[1])[:6]
    heavy_tops = sorted({m.split(".")[0] for m in heavy_before})
    out(f"1b. heavy libraries imported before the first paint: "
        f"{', '.join(heavy_tops) if heavy_tops else 'none'} ({len(mods_before)} modules before paint) | "
        f"target: none of {', '.join(HEAVY)} -> {verdict(not heavy_tops)}")
    out("   heaviest top-level imports before paint (cumulative, with importtime overhead): "
        + ", ".join(f"{k} {v / 1000:.0f} ms" for k, v in biggest))
    if heavy_tops:
        more = " ..." if len(heavy_before) > 12 else ""
        out(f"   heavy modules seen: {', '.join(heavy_before[:12])}{more}")
    out(f"   imported in the 2 s after the first paint: {len(mods_after)} modules"
        + (f" (heavy: {', '.join(heavy_after)})" if heavy_after else ""))


# -- figure 2: idle key latency ---------------------------------------------------------------------
def figure_idle(tmp: Path, samples: int) -> None:
    app = start_tui(HELLO, str(tmp / "idle"))
    try:
        wait_first_frame(app, HELLO_FIRST)
        if not app.wait_for(selected_markers("say"), 0, 5.0, need="any"):
            out("2. idle key latency: the screen never showed item 'say' as selected -> FAIL")
            return
        time.sleep(1.5)  # past the first status-bar tick
        lat, misses = key_latencies(app, ("say", "eyes"), samples)
    finally:
        app.close()
    p95 = pct(lat, 95)
    ok = bool(lat) and p95 < IDLE_P95_MS and not misses
    out(f"2. key -> screen latency, idle (down/up, detail pane): {fmt_lat(lat, misses)} | "
        f"target p95 < {IDLE_P95_MS:.0f} ms -> {verdict(ok)}")
