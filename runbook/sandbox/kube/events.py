"""Event recording for the simulated controllers (core/v1 Events, aggregated by count)."""

from __future__ import annotations

from .common import Obj, now_iso, random_suffix
from .errors import ApiError
from .resources import EVENT
from .store import Store

MAX_EVENTS_PER_NAMESPACE = 1000


class Recorder:
    """Writes Events about objects, bumping `count` when the same event repeats."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._seen: dict[tuple[str, str, str, str], str] = {}  # (ns, uid, reason, msg) -> name
        self._names: dict[str, list[str]] = {}

    def emit(self, obj: Obj, reason: str, message: str, kind: str = "Normal",
             component: str = "deployment-controller", host: str = "") -> None:
        md = obj.get("metadata") or {}
        namespace = str(md.get("namespace") or "default")
        involved: Obj = {"kind": obj.get("kind", ""), "namespace": namespace,
                         "name": md.get("name", ""), "uid": md.get("uid", ""),
                         "apiVersion": obj.get("apiVersion", ""),
                         "resourceVersion": md.get("resourceVersion", "")}
        if obj.get("kind") == "Pod" and component == "kubelet":
            containers = (obj.get("spec") or {}).get("containers") or [{}]
            involved["fieldPath"] = f"spec.containers{{{containers[0].get('name', '')}}}"
        stamp = now_iso()
        key = (namespace, str(md.get("uid", "")), reason, message)
        with self.store.lock:
            name = self._seen.get(key)
            if name is not None:
                def bump(ev: Obj) -> None:
                    ev["count"] = int(ev.get("count", 1)) + 1
                    ev["lastTimestamp"] = stamp
                if self.store.modify(EVENT, namespace, name, bump) is not None:
                    return
            name = f"{md.get('name', 'object')}.{random_suffix(16)}"
            source: Obj = {"component": component}
            if host:
                source["host"] = host
            event: Obj = {"metadata": {"name": name, "namespace": namespace},
                          "involvedObject": involved, "reason": reason, "message": message,
                          "source": source, "firstTimestamp": stamp, "lastTimestamp": stamp,
                          "count": 1, "type": kind, "eventTime": None,
                          "reportingComponent": component, "reportingInstance": host}
            try:
                self.store.create(EVENT, event, namespace)
            except ApiError:
                return  # the namespace is gone or going
            self._seen[key] = name
            names = self._names.setdefault(namespace, [])
            names.append(name)
            if len(names) > MAX_EVENTS_PER_NAMESPACE:
                old = names.pop(0)
                try:
                    self.store.delete(EVENT, namespace, old)
                except ApiError:
                    pass
