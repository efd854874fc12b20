"""The wheel: which terminal drives a session. A lease in the journal, renewed by a thread.

The driver renews its lease every third of its time to live; a driver whose terminal
died stops renewing, and once the lease has expired a follower may take the wheel
over (journaled, with a reason). A handover passes it on by name and token.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Callable

from runbook.journal.store import JournalStore, Wheel

WHEEL_TTL = 15.0  # seconds a driver's lease lives without renewal ($RUNBOOK_WHEEL_TTL)


def wheel_ttl() -> float:
    try:
        return max(0.2, float(os.environ.get("RUNBOOK_WHEEL_TTL") or WHEEL_TTL))
    except ValueError:
        return WHEEL_TTL


class WheelKeeper:
    def __init__(self, journal: JournalStore, session_id: str, holder: str,
                 ttl: float | None = None) -> None:
        self.journal = journal
        self.session_id = session_id
        self.holder = holder
        self.ttl = wheel_ttl() if ttl is None else ttl
        # host/pid/random: on the same host, a holder whose process is gone is known dead
        self.token = f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(6)}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_lost: Callable[[], None] = lambda: None

    def current(self) -> Wheel | None:
        return self.journal.wheel(self.session_id)

    def take(self, force: bool = False) -> bool:
        """Take the wheel (if free, expired or `force`); True if it is ours now."""
        cur = self.current()
        force = force or (cur is not None and cur.token != self.token and _dead_here(cur.token))
        got = self.journal.take_wheel(self.session_id, self.holder, self.token, self.ttl, force)
        if got.token == self.token:
            self._start()
            return True
        return False

    def held(self) -> bool:
        cur = self.current()
        return cur is not None and cur.token == self.token and cur.live(time.time())

    def release(self) -> None:
        self._stop.set()
        self.journal.release_wheel(self.session_id, self.token)

    def describe_holder(self) -> str:
        cur = self.current()
        if cur is None:
            return "nobody holds the wheel"
        left = cur.expires - time.time()
        since = time.strftime("%H:%M:%S", time.gmtime(cur.renewed))
        if left <= 0:
            return f"{cur.holder} held the wheel; the lease expired {-left:.0f}s ago"
        return f"{cur.holder} holds the wheel (renewed {since} UTC, expires in {left:.0f}s)"

    def _start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="wheel", daemon=True)
        self._thread.start()

    def _renew(self) -> None:
        failures = 0
        while not self._stop.wait(self.ttl / 3):
            try:
                ok = self.journal.renew_wheel(self.session_id, self.token, self.ttl)
                failures = 0
            except Exception:  # a journal hiccup: try again next round, the lease has slack
                failures += 1
                if failures >= 3:  # the journal is closed or gone: the lease will expire
                    return
                continue
            if not ok:
                self._stop.set()
                self.on_lost()
                return


def _dead_here(token: str) -> bool:
    """A token of a process on this host that no longer runs (its terminal was killed)."""
    host, _, rest = token.partition("/")
    pid = rest.partition("/")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:  # a zombie has ended too
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[-1].split()[0] == "Z"
    except OSError:
        return True
