"""The app in a pseudo-terminal, for the TUI bench (bench/tui.py): a child process on a pty
whose output a thread drains and timestamps, waits for texts in it, and key latencies.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import re
import select
import signal
import struct
import subprocess
import termios
import threading
import time
from dataclasses import dataclass, field

from term_screen import Screen
from tui_common import (
    ANSI,
    COLS,
    FOOTER_MARK,
    KEY_DOWN,
    KEY_UP,
    ROOT,
    ROWS,
    RUNBOOK_BIN,
    _cleanups,
    ms,
    text_pattern,
)


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
        self.screen = Screen()  # what a terminal shows: the app writes only changed cells
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
                self.screen.feed(data)
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
        shown = None
        for name, pat in w.patterns.items():
            if name in w.found:
                continue
            m = pat.search(window)
            if m:
                w.found[name] = (now, lo + m.start())
                continue
            if shown is None:  # a text sent in pieces (only its changed cells) is on screen
                shown = "\n".join(self.screen.lines()).encode()
            if pat.search(shown):
                w.found[name] = (now, end)
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
