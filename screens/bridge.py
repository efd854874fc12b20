"""The thread -> UI bridge: the only module called from worker threads.

Output lines are buffered per item under a lock and drained by the UI on a
timer (about every 100 ms), so however many items stream and however fast,
the UI sees at most one batch per item per tick. Run events go through
`post_message`, which is thread-safe, and are never coalesced.
"""

from __future__ import annotations

import threading
from collections import deque

from textual.message_pump import MessagePump

from runbook.events import Event
from runbook.state import RunState
from screens.messages import RunEvent

KEEP_LINES = 2000  # lines kept per item for the log pane; the full output is in the log file


class OutputBuffer:
    """Recent output of one item: a bounded tail plus counters."""

    def __init__(self) -> None:
        self.tail: deque[str] = deque(maxlen=KEEP_LINES)
        self.total = 0
        self.pending: list[str] = []


class Bridge:
    def __init__(self, target: MessagePump) -> None:
        self.target = target
        self._lock = threading.Lock()
        self._buffers: dict[str, OutputBuffer] = {}
        self._dirty: set[str] = set()

    # -- called from worker threads ------------------------------------------
    def output(self, item_id: str, lines: list[str]) -> None:
        with self._lock:
            buf = self._buffers.get(item_id)
            if buf is None:
                buf = self._buffers[item_id] = OutputBuffer()
            buf.pending.extend(lines)
            if len(buf.pending) > KEEP_LINES:
                del buf.pending[:-KEEP_LINES]
            buf.total += len(lines)
            self._dirty.add(item_id)

    def event(self, event: Event, state: RunState) -> None:
        self.target.post_message(RunEvent(event, state))

    # -- called on the UI thread -----------------------------------------------
    def drain(self) -> dict[str, tuple[list[str], int]]:
        """New lines per item since the last drain (bounded), with the item's total count."""
        with self._lock:
            out: dict[str, tuple[list[str], int]] = {}
            for item_id in self._dirty:
                buf = self._buffers[item_id]
                out[item_id] = (buf.pending, buf.total)
                buf.tail.extend(buf.pending)
                buf.pending = []
            self._dirty.clear()
            return out

    def history(self, item_id: str) -> tuple[list[str], int]:
        """The kept tail of an item's output and how many lines it printed in all."""
        with self._lock:
            buf = self._buffers.get(item_id)
            if buf is None:
                return [], 0
            buf.tail.extend(buf.pending)
            buf.pending = []
            self._dirty.discard(item_id)
            return list(buf.tail), buf.total
