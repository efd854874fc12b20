"""The pod watcher behind the Pods pane: list, then watch; snapshots at a bounded rate.

Never hangs (every request has a client-side timeout as well as the server's
timeoutSeconds), reconnects on dropped connections, and lists again on
410 Gone. Rows are plain dicts: name, ready, status, restarts, age, node, image.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from steps.kube.base import pod_phase
from steps.kube.client import KubeError, call, core

Snapshot = Callable[[list[dict[str, Any]]], object]
Status = Callable[[str], object]


def pod_row(pod: dict[str, Any], now: float) -> dict[str, Any]:
    st = pod.get("status", {})
    statuses = st.get("containerStatuses") or []
    containers = pod.get("spec", {}).get("containers") or []
    ready = sum(1 for c in statuses if c.get("ready"))
    created = pod["metadata"].get("creationTimestamp")
    return {
        "name": pod["metadata"]["name"],
        "ready": f"{ready}/{len(containers)}",
        "status": pod_phase(pod),
        "restarts": sum(int(c.get("restartCount", 0)) for c in statuses),
        "age": _age(created, now),
        "node": pod.get("spec", {}).get("nodeName", ""),
        "image": ", ".join(c.get("image", "") for c in containers),
    }


def _age(created: str | None, now: float) -> str:
    if not created:
        return ""
    try:
        t = datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return ""
    s = max(0, int(now - t))
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    if s < 172800:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


class PodWatcher:
    def __init__(self, api: Any, namespace: str, on_snapshot: Snapshot,
                 on_status: Status = lambda s: None, interval: float = 0.1) -> None:
        self.api = api
        self.namespace = namespace
        self.on_snapshot = on_snapshot
        self.on_status = on_status
        self.interval = interval
        self.pods: dict[str, dict[str, Any]] = {}
        self._dirty = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._changed = threading.Event()
        self._row_cache: dict[str, tuple[str, int, dict[str, Any]]] = {}
        self._threads = [threading.Thread(target=self._watch_loop, daemon=True, name="pod-watch"),
                         threading.Thread(target=self._emit_loop, daemon=True, name="pod-emit")]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self, join: float = 2.0) -> None:
        self._stop.set()
        self._changed.set()
        for t in self._threads:
            if t.is_alive():
                t.join(join)

    def _set(self, pods: dict[str, dict[str, Any]]) -> None:
        with self._lock:
            self.pods = pods
            self._dirty = True
        self._changed.set()

    def _watch_loop(self) -> None:
        from kubernetes import watch
        backoff = 0.5
        while not self._stop.is_set():
            try:
                listed = call(core(self.api).list_namespaced_pod, self.namespace, timeout=20)
                self._set({p["metadata"]["name"]: p for p in listed.get("items", [])})
                self.on_status(f"watching {self.namespace}")
                rv = listed.get("metadata", {}).get("resourceVersion", "")
                w = watch.Watch()
                for ev in w.stream(core(self.api).list_namespaced_pod, self.namespace,
                                   resource_version=rv, timeout_seconds=60,
                                   _request_timeout=(5, 75), deserialize=False):
                    if self._stop.is_set():
                        w.stop()
                        return
                    if ev.get("type") == "ERROR":
                        break  # 410 Gone and friends: list again
                    obj = ev.get("object") or ev.get("raw_object") or {}
                    name = obj.get("metadata", {}).get("name")
                    if not name:
                        continue
                    with self._lock:
                        if ev.get("type") == "DELETED":
                            self.pods.pop(name, None)
                        else:
                            self.pods[name] = obj
                        self._dirty = True
                    self._changed.set()
                backoff = 0.5
            except KubeError as e:
                self.on_status(f"not connected: {e}")
            except Exception as e:  # dropped connection, 410 raised by the client, timeouts
                self.on_status(f"reconnecting: {type(e).__name__}")
            if self._stop.wait(backoff):
                return
            backoff = min(backoff * 2, 10.0)

    def _emit_loop(self) -> None:
        """Emit at once on a change (leading edge), then at most once per `interval`."""
        last = 0.0
        while not self._stop.is_set():
            self._changed.wait()
            if self._stop.is_set():
                return
            wait = last + self.interval - time.monotonic()
            if wait > 0 and self._stop.wait(wait):
                return
            self._changed.clear()
            with self._lock:
                if not self._dirty:
                    continue
                pods = list(self.pods.values())
                self._dirty = False
            last = time.monotonic()
            self.on_snapshot(self._rows(pods, time.time()))

    def _rows(self, pods: list[dict[str, Any]], now: float) -> list[dict[str, Any]]:
        """Rows for every pod, recomputed only for pods whose resourceVersion changed (and
        their age once a minute), so a snapshot of thousands of pods stays cheap."""
        minute = int(now // 60)
        rows: list[dict[str, Any]] = []
        cache: dict[str, tuple[str, int, dict[str, Any]]] = {}
        for p in pods:
            meta = p["metadata"]
            key = meta["name"]
            rv = str(meta.get("resourceVersion", ""))
            hit = self._row_cache.get(key)
            row = hit[2] if hit is not None and hit[0] == rv and hit[1] == minute else \
                pod_row(p, now)
            cache[key] = (rv, minute, row)
            rows.append(row)
        self._row_cache = cache
        return rows
