"""The pod watcher behind the Pods pane: list then watch the namespace's pods
(steps/kube/list_watch.py), and hand the pane only what changed, as rows.

A batch of changed rows goes out as soon as there is one and the pane has taken the
previous batch (`ack`), so an event reaches the table after the time the table needs
for the batch before it, never after a fixed emit period; while the pane is busy,
changes to the same pod coalesce. The first batch is a screenful (FIRST_BATCH rows),
so a big namespace shows its first rows while the table takes in the rest. Rows are
plain dicts: name, ready, status, restarts, age, node, image. Ages are refreshed every
AGE_TICK seconds. A pod's JSON is kept only until its row is made: what stays is its
resourceVersion, its row and its creation time, a small part of a big namespace's list.

It is the screens' one door to Kubernetes (with the step registry, their only import from
steps/): `PodWatcher.connect` makes the client, and `KubeError` is re-exported for them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from steps.kube.base import pod_phase
from steps.kube.client import KubeError as KubeError  # what `connect` raises
from steps.kube.client import api_client
from steps.kube.list_watch import ListWatch

Change = Callable[[list[dict[str, Any]], list[str]], object]  # (added or changed rows, removed)
Status = Callable[[str], object]

AGE_TICK = 30.0  # seconds between age refreshes
ACK_TIMEOUT = 1.0  # seconds after which an unacknowledged batch no longer holds the next
FIRST_BATCH = 200  # rows in the first batch


def pod_row(pod: dict[str, Any], now: float) -> dict[str, Any]:
    st = pod.get("status") or {}
    statuses = st.get("containerStatuses") or []
    spec = pod.get("spec") or {}
    containers = spec.get("containers") or []
    return {
        "name": pod["metadata"]["name"],
        "ready": f"{sum(1 for c in statuses if c.get('ready'))}/{len(containers)}",
        "status": pod_phase(pod),
        "restarts": sum(int(c.get("restartCount", 0)) for c in statuses),
        "age": _age(_created(pod), now),
        "node": spec.get("nodeName", ""),
        "image": ", ".join(c.get("image", "") for c in containers),
    }


def _created(pod: dict[str, Any]) -> float | None:
    try:
        return datetime.fromisoformat(pod["metadata"]["creationTimestamp"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return None


def _age(created: float | None, now: float) -> str:
    if created is None:
        return ""
    s = max(0, int(now - created))
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    if s < 172800:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


class PodWatcher:
    def __init__(self, api: Any, namespace: str, on_change: Change,
                 on_status: Status = lambda s: None, *, watch_seconds: int = 60) -> None:
        self.namespace = namespace
        self.on_change = on_change
        self.on_status = on_status
        self.versions: dict[str, str] = {}  # the namespace's pods now: resourceVersions
        self._pending: dict[str, dict[str, Any] | None] = {}  # changed (None: gone) since
        self._sent: dict[str, dict[str, Any]] = {}  # the rows the pane has (emit thread)
        self._born: dict[str, float | None] = {}  # their creation times (emit thread)
        self._age_due = False
        self._in_flight: float | None = None  # when the unacknowledged batch went out
        self._status = ""
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.list_watch = ListWatch(api, f"/api/v1/namespaces/{namespace}/pods", self._listed,
                                    self._event, self._failed, self._watching,
                                    watch_seconds=watch_seconds, cached_list=True)
        self._threads = [
            threading.Thread(target=self.list_watch.run, daemon=True, name="pod-watch"),
            threading.Thread(target=self._emit_loop, daemon=True, name="pod-emit")]

    @classmethod
    def connect(cls, context: str, kubeconfig: str | None, namespace: str, on_change: Change,
                on_status: Status = lambda s: None) -> PodWatcher:
        """A watcher (not started) on the cluster of `context` ('' = the current one); loads
        the Kubernetes client. KubeError if the kube config does not load."""
        return cls(api_client(context, kubeconfig), namespace, on_change, on_status)

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self, join: float = 2.0) -> None:
        self._stop.set()
        self.list_watch.close()
        self._wake.set()
        for t in self._threads:
            if t.is_alive():
                t.join(join)

    def ack(self) -> None:
        """The pane has applied the last batch (any thread): the next may go."""
        with self._lock:
            self._in_flight = None
            if self._pending:
                self._wake.set()

    # -- the watch thread ---------------------------------------------------------------
    def _listed(self, items: list[dict[str, Any]]) -> None:
        fresh = {p["metadata"]["name"]: p for p in items}
        with self._lock:
            for name in self.versions.keys() - fresh.keys():
                self._pending[name] = None
            versions = {}
            for name, pod in fresh.items():
                versions[name] = version = _version(pod)
                if self.versions.get(name) != version:
                    self._pending[name] = pod
            self.versions = versions
        self._wake.set()

    def _event(self, kind: str, obj: dict[str, Any]) -> None:
        name = (obj.get("metadata") or {}).get("name")
        if not name:
            return
        with self._lock:
            if kind == "DELETED":
                self.versions.pop(name, None)
                self._pending[name] = None
            else:
                self.versions[name] = _version(obj)
                self._pending[name] = obj
        self._wake.set()

    def _failed(self, text: str) -> None:
        self._say(f"reconnecting: {text}")

    def _watching(self) -> None:
        self._say(f"watching {self.namespace}")

    def _say(self, text: str) -> None:
        if text != self._status:  # a resumed watch says nothing new
            self._status = text
            self.on_status(text)

    # -- the emit thread ----------------------------------------------------------------
    def _emit_loop(self) -> None:
        next_tick = time.monotonic() + AGE_TICK
        while not self._stop.is_set():
            now = time.monotonic()
            wait = next_tick - now
            with self._lock:
                if self._in_flight is not None:
                    wait = min(wait, self._in_flight + ACK_TIMEOUT - now)
            self._wake.wait(max(0.0, wait))
            if self._stop.is_set():
                return
            with self._lock:
                self._wake.clear()
                now = time.monotonic()
                if now >= next_tick:  # ages move on
                    next_tick = now + AGE_TICK
                    self._age_due = True
                if self._in_flight is not None and now - self._in_flight < ACK_TIMEOUT:
                    continue  # the pane has not taken the last batch yet
                batch = self._take(FIRST_BATCH if not self._sent else len(self._pending))
                aged, self._age_due = self._age_due, False
            if batch or aged:
                self._send(batch, aged)

    def _take(self, limit: int) -> dict[str, dict[str, Any] | None]:
        """Up to `limit` pending changes (under the lock)."""
        if len(self._pending) <= limit:
            batch, self._pending = self._pending, {}
        else:
            names = list(self._pending)[:limit]
            batch = {n: self._pending.pop(n) for n in names}
            self._wake.set()  # the rest follows
        return batch

    def _send(self, batch: dict[str, dict[str, Any] | None], aged: bool) -> None:
        now = time.time()
        changed: dict[str, dict[str, Any]] = {}
        removed: list[str] = []
        for name, pod in batch.items():
            if pod is None:
                self._born.pop(name, None)
                if self._sent.pop(name, None) is not None:
                    removed.append(name)
                continue
            row = pod_row(pod, now)
            self._born[name] = _created(pod)
            if self._sent.get(name) != row:
                self._sent[name] = changed[name] = row
        if aged:  # rows whose age reads differently now
            for name, row in self._sent.items():
                age = _age(self._born.get(name), now)
                if age != row["age"] and name not in changed:
                    self._sent[name] = changed[name] = {**row, "age": age}
        if not changed and not removed:
            return
        with self._lock:
            self._in_flight = time.monotonic()
        self.on_change(list(changed.values()), removed)


def _version(pod: dict[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("resourceVersion", ""))
