"""`wait` for the PostgreSQL journal: LISTEN on a connection of its own, on a thread.

The thread records the highest sequence number notified for each session and wakes the
waiters. A waiter looks at the table once the listener is listening (so nothing committed
before LISTEN is missed), then sleeps until a notification for its session arrives. Each
time LISTEN (re)starts an epoch is counted: a waiter that sees a new epoch looks at the
table again, since notifications sent while the connection was down are lost. While the
listening connection is down, waiters poll the table.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable

import psycopg
from psycopg.rows import TupleRow

from runbook.journal.store import JournalError

POLL_SECONDS = 0.05  # how often waiters poll while the listening connection is down
RETRY_SECONDS = 1.0  # pause before the listener reconnects; longest sleep between checks
Conn = psycopg.Connection[TupleRow]


class Listener:
    def __init__(self, connect: Callable[[], Conn], channel: str, ready_timeout: float) -> None:
        self._connect = connect
        self.channel = channel  # notifications "<session id>:<seq>"
        self.wake = f"runbook_wake_{secrets.token_hex(6)}"  # ours alone: `close` ends the thread
        self._ready_timeout = ready_timeout
        self._cv = threading.Condition()
        self._seen: dict[str, int] = {}
        self._listening = False
        self._epoch = 0
        self._ready = threading.Event()  # set after the first LISTEN, or its failure
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def started(self) -> bool:
        return self._thread is not None

    def wait(self, session_id: str, after: int, timeout: float,
             last_seq: Callable[[str], int]) -> bool:
        """True as soon as `session_id` has an event after `after`; False after `timeout`.
        `last_seq(session_id)` reads the table."""
        deadline = time.monotonic() + timeout
        self._start()
        checked = -1  # the epoch of the last look at the table
        while True:
            with self._cv:
                if self._seen.get(session_id, 0) > after:
                    return True
                epoch, listening = self._epoch, self._listening
            if epoch != checked or not listening:
                if last_seq(session_id) > after:
                    return True
                checked = epoch
            with self._cv:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                if self._seen.get(session_id, 0) <= after and self._epoch == epoch:
                    self._cv.wait(left if self._listening else min(left, POLL_SECONDS))

    def close(self, notify: Callable[[str], None]) -> None:
        """Stop the thread; `notify(channel)` sends a NOTIFY on another connection."""
        self._stop.set()
        if self._thread is not None:
            try:
                notify(self.wake)
            except JournalError:
                pass  # the thread sees the stop within RETRY_SECONDS anyway
            self._thread.join(timeout=RETRY_SECONDS + 5)

    def _start(self) -> None:
        with self._cv:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="runbook-journal-listen")
                self._thread.start()
        self._ready.wait(self._ready_timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            conn: Conn | None = None
            try:
                conn = self._connect()
                conn.execute(f"LISTEN {self.channel}")
                conn.execute(f"LISTEN {self.wake}")
                self._heard(listening=True)
                while not self._stop.is_set():
                    for note in conn.notifies(timeout=RETRY_SECONDS):
                        if self._stop.is_set():
                            break
                        sid, _, seq = note.payload.rpartition(":")
                        if note.channel == self.channel and seq.isdigit():
                            with self._cv:
                                self._seen[sid] = max(self._seen.get(sid, 0), int(seq))
                                self._cv.notify_all()
            except (psycopg.Error, JournalError):
                self._heard(listening=False)
                self._stop.wait(RETRY_SECONDS)
            finally:
                if conn is not None:
                    conn.close()

    def _heard(self, listening: bool) -> None:
        with self._cv:
            self._listening = listening
            if listening:
                self._epoch += 1
            self._cv.notify_all()
        self._ready.set()
