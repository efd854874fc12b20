"""The thread -> UI bridge: the only module called from worker threads.

Output lines are buffered per item under a lock and drained by the UI on a
timer (about every 100 ms), so however many items stream and however fast,
the UI sees at most one batch per item per tick. Run events go through
`post_message`, which is thread-safe, and are never coalesced. The Pods pane's
feed (PodsFeed) posts the pod watcher's batches of changed rows; the watcher
sends the next batch when the UI has applied the last one.
"""

from __future__ import annotations

import gc
import os
import threading
from collections import deque
from typing import Any

from textual.message_pump import MessagePump

from runbook.rules.events import Event
from runbook.rules.state import RunState
from screens.messages import PodsChanged, PodsStatus, RunEvent

KEEP_LINES = 2000  # lines kept per item for the log pane; the full output is in the log file

_frozen: set[str] = set()


def freeze_heap(stage: str) -> None:
    """gc.freeze(), once per stage and process: what is loaded by then (the app at start-up,
    at its first paint, the Kubernetes client) stays for good, and full collections then scan
    only what came after, instead of pausing the UI for tens of milliseconds each (a parse
    of a big pod list slows down threefold with them). Once: tests open many apps."""
    if stage not in _frozen:
        _frozen.add(stage)
        gc.freeze()


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


class PodsFeed:
    """The pods of `namespace`, watched on a worker thread, posted to `target`."""

    def __init__(self, target: MessagePump, context: str, namespace: str) -> None:
        self.target = target
        self.context = context
        self.namespace = namespace
        self.watcher: Any = None
        self._lock = threading.Lock()
        self._stopped = False

    def run(self) -> None:
        """Load the Kubernetes client (a few hundred ms of imports, hence after the first
        paint and off the UI thread), then start the watcher."""
        from steps.kube.pod_watch import KubeError, PodWatcher
        try:
            watcher = PodWatcher.connect(self.context, os.environ.get("KUBECONFIG"),
                                         self.namespace, self._changed, self._status)
        except KubeError as e:
            self.target.post_message(PodsStatus(f"Pods: not connected ({e})"))
            return
        freeze_heap("kubernetes client")
        with self._lock:
            if self._stopped:
                return
            self.watcher = watcher
            watcher.start()

    def stop(self, join: float = 0.5) -> None:
        with self._lock:
            self._stopped = True
            watcher = self.watcher
        if watcher is not None:
            watcher.stop(join)

    def _changed(self, changed: list[dict[str, Any]], removed: list[str]) -> None:
        self.target.post_message(PodsChanged(changed, removed, self.watcher.ack))

    def _status(self, text: str) -> None:
        self.target.post_message(PodsStatus(f"Pods: {text}"))
