"""The TUI bench's figure 5 (bench/tui.py): the pod table, in-process and headless (App.run_test):
time to show 5,000 pods, and key latency while snapshots change 200 pods/s.

The figure has a time budget that its loops respect: cancelling the app from outside (a
wait_for around run_test) left keys queued in an app whose screens were already gone, and
Textual died on them with a ScreenStackError traceback instead of the figure.
"""

from __future__ import annotations

import asyncio
import gc
import math
import random
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tui_common import (
    COLS,
    HELLO,
    POD_UPDATES_PER_S,
    PODS,
    PODS_BUDGET_S,
    PODS_P95_MS,
    PODS_SHOW_S,
    ROOT,
    ROWS,
    fmt_lat,
    ms,
    out,
    pct,
    verdict,
)


# -- figure 5: the pod table, in-process -----------------------------------------------------------
def _pod(n: int, restarts: int = 0, status: str = "Running") -> dict[str, Any]:
    return {"name": f"api-{n:05d}-7f9c6d5b8-x{n % 97:02d}q", "ready": "1/1" if status == "Running" else "0/1",
            "status": status, "restarts": restarts, "age": f"{n % 59 + 1}m", "node": f"node-{n % 40:02d}",
            "image": "registry.example/creatorbridge/api:v1.42.0"}


async def _pods_bench(tmp: Path, samples: int) -> list[str]:
    deadline = time.perf_counter() + PODS_BUDGET_S
    sys.path.insert(0, str(ROOT))
    from textual import events
    from textual._compositor import CompositorUpdate

    from runbook.cli.main import resolve_for_form
    from runbook.format.loader import load
    from runbook.journal.sqlite import Journal
    from runbook.session.operator import Operator
    from screens.app import AppConfig, build_app
    from screens.messages import PodsSnapshot
    from screens.widgets.pod_table import PodTable
    from steps import default_registry

    lines: list[str] = []
    reg = default_registry()
    rb = load(HELLO, reg)
    env, values, _missing = resolve_for_form(rb, "local", [])
    journal = Journal(tmp / "pods-state" / "journal.db")
    app = build_app(AppConfig(rb, reg, journal, Operator("bench", "bench", ""), env, values, False))
    paints: list[float] = []

    async with app.run_test(size=(COLS, ROWS)) as pilot:
        original_display = app._display

        def display(screen: Any, renderable: Any) -> None:
            batching = bool(app._batch_count)
            original_display(screen, renderable)
            if isinstance(renderable, CompositorUpdate) and not batching:
                renderable.render_segments(app.console)  # what a real terminal write would cost
                paints.append(time.perf_counter())

        app._display = display  # type: ignore[method-assign]
        await pilot.pause()
        await pilot.press("3")
        screen = app.screen
        table = screen.query_one(PodTable)
        table.focus()
        await pilot.pause()

        applies: list[tuple[float, float]] = []
        original_apply = table.apply_snapshot

        def apply(pods: list[dict[str, Any]]) -> None:
            a = time.perf_counter()
            original_apply(pods)
            applies.append((a, time.perf_counter()))

        table.apply_snapshot = apply  # type: ignore[method-assign]

        async def until(pred: Callable[[], bool], timeout: float) -> bool:
            end = min(time.perf_counter() + timeout, deadline)
            while not pred():
                if time.perf_counter() > end:
                    return False
                await asyncio.sleep(0.001)
            return True

        pods = [_pod(n) for n in range(PODS)]
        t0 = time.perf_counter()
        screen.post_message(PodsSnapshot(list(pods)))
        ok_rows = await until(lambda: table.row_count == PODS and bool(applies), 30.0)
        applied = applies[-1][1] if applies else math.nan
        ok_paint = await until(lambda: any(p > applied for p in paints), 10.0)
        shown = next((p for p in paints if p > applied), math.nan) if ok_paint else math.nan
        took = shown - t0
        apply_took = ms(applies[-1][1] - applies[-1][0]) if applies else math.nan
        ok = ok_rows and ok_paint and took < PODS_SHOW_S
        lines.append(f"5. {PODS:,} pods shown (in-process, headless run_test, {COLS}x{ROWS}): "
                     f"{ms(took):.0f} ms to the first paint after the snapshot "
                     f"| target < {PODS_SHOW_S:g} s -> {verdict(ok)}")
        if applies:
            lines.append(f"   post -> apply_snapshot {ms(applies[-1][0] - t0):.0f} ms, apply_snapshot "
                         f"{apply_took:.0f} ms, -> first paint {ms(shown - applies[-1][1]):.0f} ms")
        await pilot.pause()

        # 200 pod updates/s: a snapshot every 100 ms changing 20 pods, posted from a thread
        stop = threading.Event()
        posted = [0]
        per_snapshot = POD_UPDATES_PER_S // 10

        def producer() -> None:
            current = list(pods)
            k = 0
            nxt = time.perf_counter()
            while not stop.is_set():
                for _ in range(per_snapshot):
                    i = (k * 7919) % PODS
                    old = current[i]
                    restarts = int(old["restarts"]) + 1
                    current[i] = _pod(i, restarts, "CrashLoopBackOff" if restarts % 2 else "Running")
                    k += 1
                screen.post_message(PodsSnapshot(list(current)))
                posted[0] += 1
                nxt += 0.1
                stop.wait(max(0.0, nxt - time.perf_counter()))

        th = threading.Thread(target=producer, daemon=True)
        applies.clear()
        gc_pauses: list[tuple[int, float]] = []
        gc_start = [0.0]

        def on_gc(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                gc_start[0] = time.perf_counter()
            else:
                gc_pauses.append((info["generation"], ms(time.perf_counter() - gc_start[0])))

        gc.callbacks.append(on_gc)
        th.start()
        await asyncio.sleep(1.0)
        processed: list[float] = []
        painted: list[float] = []
        misses = 0
        over = ""
        try:
            for n in range(samples):
                if time.perf_counter() > deadline:
                    over = f"; stopped after {n} of {samples} keys: the {PODS_BUDGET_S:.0f} s budget ran out"
                    break
                key = "down" if n % 2 == 0 else "up"
                before = table.cursor_row
                want = before + 1 if key == "down" else before - 1
                ev = events.Key(key, None)
                ev.set_sender(app)
                t = time.perf_counter()
                assert app._driver is not None
                app._driver.send_message(ev)
                if not await until(lambda want=want: table.cursor_row == want, 5.0):
                    misses += 1
                    # one key at a time: the app takes this one before the next is sent
                    await until(lambda want=want: table.cursor_row == want, PODS_BUDGET_S)
                    continue
                tp = time.perf_counter()
                processed.append(ms(tp - t))
                if await until(lambda tp=tp: any(p >= tp for p in paints[-5:]), 5.0):
                    painted.append(ms(next(p for p in paints if p >= tp) - t))
                await asyncio.sleep(random.uniform(0.05, 0.15))
        finally:
            stop.set()
            th.join(timeout=2)
            gc.callbacks.remove(on_gc)
        await pilot.pause()  # whatever is still queued is handled while the screen is there
        apply_ms = [ms(b - a) for a, b in applies]
        p95 = pct(painted, 95)
        ok = bool(painted) and p95 < PODS_P95_MS and not misses
        lines.append(f"5b. key latency on the pod table while {POD_UPDATES_PER_S} pod updates/s arrive "
                     f"(in-process, headless): to paint {fmt_lat(painted, misses)} | target p95 < "
                     f"{PODS_P95_MS:.0f} ms -> {verdict(ok)}{over}")
        lines.append(f"   press -> processed: {fmt_lat(processed, misses)}; snapshots applied "
                     f"{len(applies)}/{posted[0]} posted, apply_snapshot p50 {pct(apply_ms, 50):.1f} ms, "
                     f"p95 {pct(apply_ms, 95):.1f} ms, max {max(apply_ms, default=math.nan):.1f} ms")
        gen2 = [d for g, d in gc_pauses if g == 2]
        lines.append(f"   garbage collections meanwhile: {len(gc_pauses)}, of them {len(gen2)} full "
                     f"(generation 2), longest {max((d for _, d in gc_pauses), default=0):.0f} ms")
        paints.clear()
        app._display = original_display  # type: ignore[method-assign]
    return lines


def figure_pods(tmp: Path, samples: int) -> None:
    for line in asyncio.run(_pods_bench(tmp, samples)):
        out(line)
