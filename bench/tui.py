"""TUI performance figures, measured in a real pseudo-terminal (and, for the pod table, in-process).

    .venv/bin/python bench/tui.py [--quick] [--minutes N] [--samples N] [--runs N]
                                  [--fixed-share] [--only 1,2,3,5]

Prints one line per figure with its target (PASS/FAIL), and indented detail lines:

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
import asyncio
import atexit
import contextlib
import fcntl
import gc
import json
import math
import os
import random
import re
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


def out(line: str) -> None:
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


# -- the app in a pseudo-terminal -----------------------------------------------------------------
@dataclass
class Watch:
    patterns: dict[str, re.Pattern[bytes]]
    start: int  # absolute stream offset to search from
    scanned: int  # absolute offset already searched up to
    found: dict[str, tuple[float, int]] = field(default_factory=dict)  # name -> (time, offset)


class PtyApp:
    """A child process on a pty of COLS x ROWS; a thread drains and timestamps its output."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: str = str(ROOT)) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        self.master = master
        self.cond = threading.Condition()
        self.buf = bytearray()
        self.base = 0  # absolute offset of buf[0]
        self.first_byte: float | None = None
        self.eof = False
        self.watch: Watch | None = None
        self._stop = False

        def ctty() -> None:  # runs after setsid(): make the pty our controlling terminal
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
                                     start_new_session=True, preexec_fn=ctty, close_fds=True)
        os.close(slave)
        self.pid = self.proc.pid
        self.thread = threading.Thread(target=self._reader, daemon=True)
        self.thread.start()
        _cleanups.append(self.close)

    @property
    def offset(self) -> int:
        with self.cond:
            return self.base + len(self.buf)

    def _reader(self) -> None:
        while not self._stop:
            try:
                ready, _, _ = select.select([self.master], [], [], 0.2)
            except (OSError, ValueError):
                break
            if not ready:
                continue
            try:
                data = os.read(self.master, 1 << 16)
            except OSError:
                data = b""
            now = time.perf_counter()
            with self.cond:
                if not data:
                    self.eof = True
                    self.cond.notify_all()
                    return
                if self.first_byte is None:
                    self.first_byte = now
                self.buf += data
                w = self.watch
                if w is not None:
                    self._scan(w, now)
                elif len(self.buf) > 8 << 20:  # nobody waits: keep the tail only
                    drop = len(self.buf) - (256 << 10)
                    del self.buf[:drop]
                    self.base += drop
                self.cond.notify_all()

    def _scan(self, w: Watch, now: float) -> None:
        end = self.base + len(self.buf)
        lo = max(w.start, w.scanned - 4096, self.base)  # overlap: a match may straddle chunks
        window = bytes(self.buf[lo - self.base:])
        for name, pat in w.patterns.items():
            if name in w.found:
                continue
            m = pat.search(window)
            if m:
                w.found[name] = (now, lo + m.start())
        w.scanned = end

    def wait_for(self, patterns: dict[str, str], start: int, timeout: float,
                 need: str = "all") -> dict[str, tuple[float, int]]:
        """Wait until the texts appear in the output after `start` (all, or any); returns
        name -> (perf_counter time of the read that completed it, stream offset)."""
        w = Watch({k: text_pattern(v) for k, v in patterns.items()}, start, start)
        deadline = time.monotonic() + timeout
        with self.cond:
            self.watch = w
            self._scan(w, time.perf_counter())  # already there?
            try:
                while True:
                    done = (len(w.found) == len(patterns)) if need == "all" else bool(w.found)
                    if done or self.eof:
                        break
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self.cond.wait(min(left, 0.2))
            finally:
                self.watch = None
        return dict(w.found)

    def text(self, start: int = 0, end: int | None = None) -> bytes:
        with self.cond:
            lo = max(start - self.base, 0)
            hi = None if end is None else max(end - self.base, 0)
            return bytes(self.buf[lo:hi])

    def send(self, data: bytes) -> float:
        t = time.perf_counter()
        os.write(self.master, data)
        return t

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        if self.proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.pid, sig)
                try:
                    self.proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)  # anything left in its group
        self._stop = True
        self.thread.join(timeout=2)
        with contextlib.suppress(OSError):
            os.close(self.master)
        with contextlib.suppress(ValueError):
            _cleanups.remove(self.close)


def app_env(state_dir: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEXTUAL", "PYTHONPROFILE"))}
    env.update(TERM="xterm-256color", COLUMNS=str(COLS), LINES=str(ROWS), RUNBOOK_STATE_DIR=state_dir,
               RUNBOOK_OPERATOR="bench", LANG=os.environ.get("LANG", "C.UTF-8"))
    env.pop("NO_COLOR", None)
    env.update(extra or {})
    return env


def start_tui(runbook: str, state_dir: str, extra_env: dict[str, str] | None = None) -> PtyApp:
    return PtyApp([RUNBOOK_BIN, "run", runbook, "--env", "local"], app_env(state_dir, extra_env))


def first_frame_markers(first_title: str) -> dict[str, str]:
    """Texts that together mean "the run screen is up": the item list shows the first item
    and the footer is drawn (its last key is Textual's command palette, "^p palette")."""
    return {"item": first_title, "footer": FOOTER_MARK}


def wait_first_frame(app: PtyApp, first_title: str, timeout: float = 15.0) -> tuple[float, int]:
    """(seconds from process start to the first useful frame, stream offset of it)."""
    found = app.wait_for(first_frame_markers(first_title), 0, timeout)
    if len(found) < 2:
        tail = ANSI.sub(b"", app.text(max(0, app.offset - 3000)))[-1200:]
        raise RuntimeError(f"no first frame within {timeout:g}s (alive={app.alive()}, seen "
                           f"{sorted(found)} of item title and footer): {tail!r}")
    t, offset = max(found.values())
    return t - app.t0, offset


def selected_markers(item: str) -> dict[str, str]:
    """Texts that appear only while `item` is the selected one: the detail pane's "id <item>"
    or the log pane's header "<item>: N lines" (either will do)."""
    return {"detail": f"id {item}", "log": f"{item}: "}


def key_latencies(app: PtyApp, ids: tuple[str, str], n: int, timeout: float = 5.0,
                  gap: tuple[float, float] = (0.05, 0.15)) -> tuple[list[float], int]:
    """Alternate down/up between the first two items; each sample is key write -> a text of the
    newly selected item (selected_markers) read from the pty. Returns (ms, timeouts)."""
    lat: list[float] = []
    misses = 0
    cur = 0  # index of the selected item
    for _ in range(n):
        key, nxt = (KEY_DOWN, 1) if cur == 0 else (KEY_UP, 0)
        start = app.offset
        t = app.send(key)
        found = app.wait_for(selected_markers(ids[nxt]), start, timeout, need="any")
        if found:
            lat.append(ms(min(found.values())[0] - t))
            cur = nxt
        else:
            misses += 1
            # resynchronise: we no longer know where the cursor is; go to the top
            app.send(KEY_UP)
            app.wait_for(selected_markers(ids[0]), start, timeout, need="any")
            cur = 0
        if not app.alive():
            break
        time.sleep(random.uniform(*gap))
    return lat, misses


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


# -- figure 5: the pod table, in-process -----------------------------------------------------------
def _pod(n: int, restarts: int = 0, status: str = "Running") -> dict[str, Any]:
    return {"name": f"api-{n:05d}-7f9c6d5b8-x{n % 97:02d}q", "ready": "1/1" if status == "Running" else "0/1",
            "status": status, "restarts": restarts, "age": f"{n % 59 + 1}m", "node": f"node-{n % 40:02d}",
            "image": "registry.example/creatorbridge/api:v1.42.0"}


async def _pods_bench(tmp: Path, samples: int) -> list[str]:
    sys.path.insert(0, str(ROOT))
    from textual import events
    from textual._compositor import CompositorUpdate

    from runbook.cli import resolve_for_form
    from runbook.journal import Journal
    from runbook.loader import load
    from runbook.operator import Operator
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
            end = time.perf_counter() + timeout
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
        try:
            for n in range(samples):
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
        apply_ms = [ms(b - a) for a, b in applies]
        p95 = pct(painted, 95)
        ok = bool(painted) and p95 < PODS_P95_MS and not misses
        lines.append(f"5b. key latency on the pod table while {POD_UPDATES_PER_S} pod updates/s arrive "
                     f"(in-process, headless): to paint {fmt_lat(painted, misses)} | target p95 < "
                     f"{PODS_P95_MS:.0f} ms -> {verdict(ok)}")
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
    async def main() -> list[str]:
        return await asyncio.wait_for(_pods_bench(tmp, samples), timeout=120.0)

    try:
        lines = asyncio.run(main())
    except TimeoutError:
        lines = ["5. pods: timed out after 120 s -> FAIL"]
    for line in lines:
        out(line)


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
    out(f"(bench took {time.perf_counter() - began:.0f} s; load average {os.getloadavg()[0]:.2f} at the end)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
