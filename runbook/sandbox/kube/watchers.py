"""Watch plumbing: the change events the store records, and one queue per watcher.

A real API server delivers watch events some milliseconds after the write that made them
(etcd, then the watch cache, then the connection): a client that writes and then reads its
informer's cache at once can see the object from before its own write. `Change.due` carries
that delay (the store's `watch_latency`); a watcher hands an event out only once it is due.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass

from .common import Obj, clone
from .resources import Resource
from .selectors import FieldRequirement, Requirement, fields_match, labels_match


@dataclass(frozen=True)
class Change:
    """One committed change: the object after it (before it, for a deletion)."""

    rv: int
    type: str  # ADDED, MODIFIED, DELETED
    key: tuple[str, str]
    namespace: str
    obj: Obj
    prev: Obj | None
    due: float = 0.0  # time.monotonic() from which watchers may deliver it (watch latency)


class Dropped(Exception):
    """The watch was cut (fault injection or server stop): end it without a clean close."""


class Watcher:
    """The receiving end of one watch request: filters changes, queues watch events."""

    def __init__(self, res: Resource, namespace: str | None,
                 labels: tuple[Requirement, ...] = (),
                 fields: tuple[FieldRequirement, ...] = ()) -> None:
        self.res = res
        self.namespace = namespace
        self.labels = labels
        self.fields = fields
        self._queue: queue.Queue[tuple[float, Obj] | None] = queue.Queue()
        self._held: tuple[float, Obj] | None = None  # taken from the queue, not due yet
        self._dropped = threading.Event()
        self._closed = threading.Event()

    def _passes(self, obj: Obj | None) -> bool:
        return obj is not None and labels_match(self.labels, obj) and fields_match(self.fields, obj)

    def wants(self, change: Change) -> bool:
        return change.key == self.res.key and (
            self.namespace is None or change.namespace == self.namespace)

    def event_for(self, change: Change) -> Obj | None:
        """The watch event this watcher sees for a change, if any (selector transitions)."""
        if not self.wants(change):
            return None
        now_ok = self._passes(change.obj)
        if change.type == "ADDED":
            return {"type": "ADDED", "object": change.obj} if now_ok else None
        if change.type == "DELETED":
            return {"type": "DELETED", "object": change.obj} if now_ok else None
        was_ok = self._passes(change.prev)
        if now_ok and was_ok:
            return {"type": "MODIFIED", "object": change.obj}
        if now_ok:
            return {"type": "ADDED", "object": change.obj}
        if was_ok and change.prev is not None:
            gone = clone(change.prev)
            gone.setdefault("metadata", {})["resourceVersion"] = str(change.rv)
            return {"type": "DELETED", "object": gone}
        return None

    def offer(self, change: Change) -> None:
        if self._closed.is_set():
            return
        event = self.event_for(change)
        if event is not None:
            self._queue.put((change.due, event))

    def put(self, event: Obj) -> None:
        self._queue.put((0.0, event))

    def next(self, timeout: float) -> Obj | None:
        """The next due event, or None after `timeout` seconds (or when closed); raises
        Dropped when cut. Events come out in order, each no sooner than its `due` time."""
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            if self._dropped.is_set():
                raise Dropped()
            if self._held is None:
                try:
                    self._held = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    return None
                if self._held is None:  # woken by close() or drop()
                    if self._dropped.is_set():
                        raise Dropped()
                    return None
            due, event = self._held
            now = time.monotonic()
            if due <= now:
                self._held = None
                return event
            if now >= deadline:
                return None
            if self._dropped.wait(min(due, deadline) - now):
                raise Dropped()

    def drop(self) -> None:
        self._dropped.set()
        self._queue.put(None)

    def close(self) -> None:
        self._closed.set()
        self._queue.put(None)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    @property
    def dropped(self) -> bool:
        return self._dropped.is_set()
