"""Pairing figures (issue 7): how soon a follower sees the driver's events, and how the app
behaves over a slow link.

    .venv/bin/python bench/pairing.py [--events N] [--keys N] [--no-postgres]

Prints one line per figure with its target (PASS/MISS), and indented detail lines:

a. follower latency: a driver and a follower app (Pilot, headless, one process) on one
   journal, each through its own JournalStore; the driver confirms N items one by one
   (`Run.confirm`); time until the follower's `Run.state` has each (its follower thread:
   `journal.wait` + `Run.sync`) and until its run screen has handled the event. SQLite
   file, and PostgreSQL when a server can be started on loopback (runbook/sandbox/servers.py).
   Target: p95 within 250 ms (median and max printed too).
b. the real app (`runbook run`, in a pty) behind an emulated 256 kbit/s link (32 KiB/s, the
   rest waiting in the pty, so the app's writes block when the link is full, as behind an
   SSH channel) while one step floods 50,000 lines/s: key -> screen latency p95 (< 250 ms),
   bytes/s crossing the link while busy (< 24 KiB/s) and when idle (< 1 KiB/s).

What keeps b within its targets: screens/terminal/pacing.py (frame rate and log drain paced to a
byte budget; input lifts the rate at once) and screens/terminal/frame_diff.py (only changed cells
are written).
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

# bench/ is not a package: its modules are found next to this script, from wherever it is run
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pairing_follow import TARGET_MS, FollowFigures, postgres_figures, sqlite_figures
from pairing_link import measure, report
from tui_common import _cleanups, _on_signal, cleanup_all, out, pct

failed = False


def verdict(text: str, target: str, ok: bool) -> None:
    global failed
    failed |= not ok
    out(f"{text} | target {target} -> {'PASS' if ok else 'MISS'}")


def follow_lines(f: FollowFigures) -> None:
    if not f.state_ms:
        verdict(f"a. follower latency ({f.backend}): no samples ({f.misses} timed out)",
                f"p95 < {TARGET_MS:.0f} ms", False)
        return
    for what, values in (("Run.state", f.state_ms), ("run screen updated", f.screen_ms)):
        p95 = pct(values, 95)
        verdict(f"a. driver event -> follower's {what} ({f.backend}): median "
                f"{statistics.median(values):.0f} ms, p95 {p95:.0f} ms, max {max(values):.0f} ms "
                f"(n={len(values)}{f', {f.misses} timed out' if f.misses else ''})",
                f"p95 < {TARGET_MS:.0f} ms", p95 < TARGET_MS and not f.misses)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=50, help="driver events for figure a")
    p.add_argument("--keys", type=int, default=30, help="key presses for figure b")
    p.add_argument("--no-postgres", action="store_true", help="figure a on SQLite only")
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    atexit.register(cleanup_all)
    tmp = Path(tempfile.mkdtemp(prefix="rbbench-pairing-"))
    _cleanups.insert(0, lambda: shutil.rmtree(tmp, ignore_errors=True))
    os.environ["RUNBOOK_STATE_DIR"] = str(tmp / "state")  # the in-process apps' sessions
    began = time.perf_counter()
    out(f"runbook pairing bench ({args.events} events, {args.keys} keys; {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f} before starting)")
    global failed
    try:
        follow_lines(sqlite_figures(tmp, args.events))
        if not args.no_postgres:
            try:
                follow_lines(postgres_figures(args.events))
            except Exception as e:  # no server binaries, no postgres user: say so
                out(f"a. PostgreSQL: not measured ({type(e).__name__}: {e})")
        try:
            report(measure(tmp, args.keys), verdict)
        except Exception as e:
            failed = True
            out(f"b. error: {type(e).__name__}: {e}")
    except KeyboardInterrupt:
        out("interrupted")
        return 130
    finally:
        cleanup_all()
    out(f"(bench took {time.perf_counter() - began:.0f} s; load average "
        f"{os.getloadavg()[0]:.2f} at the end)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
