"""An emulated slow link between the app's pty and the reader, for bench/pairing.py.

`SlowLinkApp` is bench/tui_pty.py's PtyApp whose reader thread is the far end of a link of
`rate` bytes/s: it takes at most what the link can carry from the pty master, in small
reads, so the rest waits in the kernel's pty buffer (about 15 KiB here); once that is full,
the app's writes to the terminal block, as they do behind a full SSH channel. Every byte
read is timestamped when it has crossed the link, so "visible in the relayed output" is
what a person at the other end would see. Keys go the other way unthrottled (they are a
few bytes).
"""

from __future__ import annotations

import os
import select
import time

from tui_pty import PtyApp

LINK_BYTES_PER_S = 32 * 1024  # 256 kbit/s
CHUNK = 1024  # the link's buffer: what it holds beyond the pty's own


class SlowLinkApp(PtyApp):
    def __init__(self, argv: list[str], env: dict[str, str], rate: float = LINK_BYTES_PER_S) -> None:
        self.rate = float(rate)
        self.passed: list[tuple[float, int]] = []  # (time, bytes) per read that crossed the link
        self.screen_watch: tuple[str, ...] = ()
        self.seen: dict[str, float] = {}  # watched text -> when the screen first showed it
        super().__init__(argv, env)

    def wait_screen(self, texts: tuple[str, ...], timeout: float) -> dict[str, float]:
        """Wait until the far end's screen shows one of `texts`; text -> time it did."""
        deadline = time.monotonic() + timeout
        with self.cond:
            self.seen = {t: time.perf_counter() for t in texts if self.screen.shows(t)}
            self.screen_watch = texts
            try:
                while not self.seen and not self.eof:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self.cond.wait(min(left, 0.2))
            finally:
                self.screen_watch = ()
            return dict(self.seen)

    def _reader(self) -> None:
        budget = 0.0  # bytes the link may carry now (a token bucket of CHUNK bytes)
        last = time.perf_counter()
        while not self._stop:
            now = time.perf_counter()
            budget = min(CHUNK, budget + (now - last) * self.rate)
            last = now
            if budget < 256:  # wait for the link to drain rather than trickling bytes
                time.sleep((256 - budget) / self.rate)
                continue
            try:
                ready, _, _ = select.select([self.master], [], [], 0.2)
            except (OSError, ValueError):
                break
            if not ready:
                continue
            try:
                data = os.read(self.master, int(budget))
            except OSError:
                data = b""
            now = time.perf_counter()
            budget -= len(data)
            with self.cond:
                if not data:
                    self.eof = True
                    self.cond.notify_all()
                    return
                if self.first_byte is None:
                    self.first_byte = now
                self.passed.append((now, len(data)))
                self.buf += data
                self.screen.feed(data)
                for t in self.screen_watch:
                    if t not in self.seen and self.screen.shows(t):
                        self.seen[t] = now
                w = self.watch
                if w is not None:
                    self._scan(w, now)
                elif len(self.buf) > 8 << 20:
                    drop = len(self.buf) - (256 << 10)
                    del self.buf[:drop]
                    self.base += drop
                self.cond.notify_all()

    def bytes_between(self, t0: float, t1: float) -> int:
        with self.cond:
            return sum(n for t, n in self.passed if t0 <= t < t1)
