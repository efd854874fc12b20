"""Container logs: bounded line buffers per (namespace, pod, container), with followers."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from .common import now_iso

LogKey = tuple[str, str, str]


@dataclass
class _Buffer:
    lines: list[tuple[float, str]] = field(default_factory=list)
    dropped: int = 0  # lines forgotten at the front (the cursor of lines[0])
    ended: bool = False


class PodLogs:
    """What each container has printed; `kubectl logs` and `follow` read from here."""

    def __init__(self, max_lines: int = 5000) -> None:
        self._buffers: dict[LogKey, _Buffer] = {}
        self._max = max_lines
        self._cond = threading.Condition()

    def append(self, namespace: str, pod: str, container: str, *lines: str) -> None:
        with self._cond:
            buf = self._buffers.setdefault((namespace, pod, container), _Buffer())
            now = time.time()
            buf.lines.extend((now, line) for line in lines)
            if len(buf.lines) > self._max:
                extra = len(buf.lines) - self._max
                del buf.lines[:extra]
                buf.dropped += extra
            self._cond.notify_all()

    def read(self, namespace: str, pod: str, container: str, tail: int | None = None,
             since_seconds: float | None = None) -> tuple[list[tuple[float, str]], int]:
        """Lines (with times) and the cursor after them."""
        with self._cond:
            buf = self._buffers.get((namespace, pod, container)) or _Buffer()
            lines = buf.lines
            if since_seconds is not None:
                cutoff = time.time() - since_seconds
                lines = [entry for entry in lines if entry[0] >= cutoff]
            if tail is not None:
                lines = lines[-tail:] if tail > 0 else []
            return list(lines), buf.dropped + len(buf.lines)

    def wait(self, namespace: str, pod: str, container: str, cursor: int,
             timeout: float) -> tuple[list[tuple[float, str]], int, bool]:
        """Lines after `cursor` (waiting up to `timeout`), the new cursor, and whether ended."""
        key = (namespace, pod, container)
        with self._cond:
            buf = self._buffers.get(key)
            if buf is None or (buf.dropped + len(buf.lines) <= cursor and not buf.ended):
                self._cond.wait(timeout)
                buf = self._buffers.get(key)
            if buf is None:
                return [], cursor, True
            start = max(0, cursor - buf.dropped)
            fresh = buf.lines[start:]
            return list(fresh), buf.dropped + len(buf.lines), buf.ended

    def end(self, namespace: str, pod: str) -> None:
        """The pod is gone: followers finish after the last line."""
        with self._cond:
            for key, buf in self._buffers.items():
                if key[0] == namespace and key[1] == pod:
                    buf.ended = True
            self._cond.notify_all()

    def forget(self, namespace: str, pod: str) -> None:
        with self._cond:
            for key in [k for k in self._buffers if k[0] == namespace and k[1] == pod]:
                del self._buffers[key]
            self._cond.notify_all()

    def has(self, namespace: str, pod: str, container: str) -> bool:
        with self._cond:
            return (namespace, pod, container) in self._buffers


def stamp(at: float) -> str:
    """The timestamp prefix of `--timestamps` lines (RFC 3339 with nanoseconds)."""
    whole = now_iso(at)[:-1]
    return f"{whole}.{int((at % 1) * 1e9):09d}Z"
