"""TUI performance figures, measured in a real pseudo-terminal (and, for the pod table, in-process).

    .venv/bin/python bench/tui.py [--quick] [--minutes N] [--samples N] [--runs N]
                                  [--fixed-share] [--only 1,2,3,5]

Prints one line per figure with its target (PASS/FAIL), and indented detail lines; exits 1
when a figure misses its target or cannot be measured, else 0:

1. time to the first useful frame of `runbook run runbooks/examples/hello.yaml --env local`
   (process start -> a frame with the first item's title and the footer reaches the terminal),
   median of --runs runs,
   against 500 ms and 1.8x the wall time of `python -c "import textual.app"`; and which heavy
   libraries (kubernetes, httpx, psycopg, redis) are imported before that first paint
   (PYTHONPROFILEIMPORTTIME=1: Python writes its import log to stderr, which is also where
   Textual's Linux driver writes the screen, so both arrive interleaved, in order, on the pty);
2. key -> screen latency while idle: "down"/"up" alternately, time from writing the key to
   the pty until the newly selected item's "id <item>" (detail pane) or "<item>: " (log pane
   header) is read back from it;
3. the same while twelve checks stream 50,000 lines/s in total (started with the `a` key);
   the checks that run at the same moment share the 50,000 lines/s (--fixed-share: each
   prints a twelfth whether or not the others run), and the bench says how many ran at once;
4. resident memory of the app process during that flood (10 minutes, 1 with --quick),
   sampled from /proc/PID/status every 10 s;
5. the pod table, in-process and headless (App.run_test): time to show 5,000 pods from one
   PodsSnapshot, and key latency while snapshots change 200 pods/s.

Every wait has a hard timeout; the app runs in its own session (process group) on the pty and
is killed at the end, as are the flood generators (found by a per-run tag on their command
line, and they also exit by themselves when their parent goes or their time is up).
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

# bench/ is not a package: its modules are found next to this script, from wherever it is run
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tui_common import COLS, ROWS, _cleanups, _on_signal, cleanup_all, misses, out
from tui_flood import figure_flood
from tui_hello import figure_first_frame, figure_idle
from tui_pods import figure_pods


# -- main ---------------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="1 minute of flood instead of 10")
    p.add_argument("--minutes", type=float, help="minutes of flood for the memory figure")
    p.add_argument("--samples", type=int, default=50, help="key presses per latency figure")
    p.add_argument("--runs", type=int, default=7, help="runs for the first-frame median")
    p.add_argument("--fixed-share", action="store_true",
                   help="each flood check prints 1/12 of the total, however many run at once")
    p.add_argument("--only", default="1,2,3,5", help="figures to run (4 comes with 3)")
    args = p.parse_args(argv)
    minutes = args.minutes if args.minutes is not None else (1.0 if args.quick else 10.0)
    only = {s.strip() for s in args.only.split(",")}

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    atexit.register(cleanup_all)
    tmp = Path(tempfile.mkdtemp(prefix="rbbench-tui-"))
    _cleanups.insert(0, lambda: shutil.rmtree(tmp, ignore_errors=True))
    began = time.perf_counter()
    out(f"runbook TUI bench ({'quick' if args.quick else 'full'}: flood {minutes:g} min, "
        f"{args.samples} key samples, {args.runs} runs; pty {COLS}x{ROWS}, TERM=xterm-256color; "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} before starting)")
    failed = False
    steps: list[tuple[str, Callable[[], None]]] = [
        ("1", lambda: figure_first_frame(tmp, args.runs)),
        ("2", lambda: figure_idle(tmp, args.samples)),
        ("3", lambda: figure_flood(tmp, args.samples, minutes, args.fixed_share)),
        ("5", lambda: figure_pods(tmp, args.samples)),
    ]
    try:
        for key, fn in steps:
            if key not in only:
                continue
            try:
                fn()
            except Exception as e:  # one figure failing must not hide the others
                failed = True
                out(f"{key}. error: {type(e).__name__}: {e}")
    except KeyboardInterrupt:
        out("interrupted")
        return 130
    finally:
        cleanup_all()
    out(f"(bench took {time.perf_counter() - began:.0f} s; load average {os.getloadavg()[0]:.2f} at the end; "
        + (f"MISSED: figure {', '.join(misses)})" if misses else
           "every figure met its target)" if not failed else "a figure failed to run)"))
    return 1 if failed or misses else 0


if __name__ == "__main__":
    sys.exit(main())
