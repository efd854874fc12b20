"""The object store: objects by type, namespace and name; resourceVersion; watch history."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

from .common import Obj, clone, meta, new_uid, normalized, now_iso, random_suffix
from .defaults import prepare
from .errors import ApiError, already_exists, bad_request, conflict, gone, not_found
from .resources import NAMESPACE, Resource
from .selectors import FieldRequirement, Requirement, fields_match, labels_match
from .watchers import Change, Watcher

Key = tuple[str, str]


class Store:
    """Thread-safe objects with one global resourceVersion counter and a bounded change log."""

    def __init__(self, history: int = 5000) -> None:
        self.lock = threading.RLock()
        self._objects: dict[Key, dict[tuple[str, str], Obj]] = {}
        self._rv = 0
        self._history: deque[Change] = deque()
        self._history_size = history
        self._floor = 0  # a watch from a resourceVersion below this gets 410 Gone
        self._watchers: set[Watcher] = set()
        self._changed = threading.Condition(self.lock)
        self.watch_latency = 0.0  # seconds from a write to its watch events (Faults sets it)

    # -- reading ---------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        with self.lock:
            return self._rv

    def find(self, res: Resource, namespace: str, name: str) -> Obj | None:
        with self.lock:
            found = self._objects.get(res.key, {}).get((namespace if res.namespaced else "", name))
            return clone(found) if found is not None else None

    def get(self, res: Resource, namespace: str, name: str) -> Obj:
        found = self.find(res, namespace, name)
        if found is None:
            raise not_found(res.plural, res.group, name)
        return found

    def list(self, res: Resource, namespace: str | None = None,
             labels: tuple[Requirement, ...] = (),
             fields: tuple[FieldRequirement, ...] = ()) -> tuple[list[Obj], int]:
        """Matching objects sorted by namespace and name, and the current resourceVersion."""
        with self.lock:
            items = [clone(o) for (ns, _n), o in sorted(self._objects.get(res.key, {}).items())
                     if (namespace is None or ns == namespace)
                     and labels_match(labels, o) and fields_match(fields, o)]
            return items, self._rv

    def wait_change(self, after_rv: int, timeout: float) -> int:
        """Block until the resourceVersion passes `after_rv` (or timeout); the current one."""
        with self._changed:
            if self._rv <= after_rv:
                self._changed.wait(timeout)
            return self._rv

    # -- writing ---------------------------------------------------------------------------

    def create(self, res: Resource, obj: Obj, namespace: str = "", dry_run: bool = False) -> Obj:
        obj = clone(obj)
        md = meta(obj)
        if res.namespaced:
            md["namespace"] = md.get("namespace") or namespace or "default"
        else:
            md.pop("namespace", None)
        if not md.get("name") and md.get("generateName"):
            md["name"] = f"{md['generateName']}{random_suffix()}"
        name = str(md.get("name") or "")
        ns = str(md.get("namespace", ""))
        with self.lock:
            if res.namespaced:
                self._check_namespace(ns)
            if name and (ns, name) in self._objects.get(res.key, {}):
                raise already_exists(res.plural, res.group, name)
            obj["apiVersion"], obj["kind"] = res.api_version, res.kind
            md.update(uid=new_uid(), creationTimestamp=now_iso())
            for transient in ("resourceVersion", "deletionTimestamp", "selfLink"):
                md.pop(transient, None)
            if res.generation:
                md["generation"] = 1
            prepare(res, obj, None)
            if dry_run:
                md["resourceVersion"] = str(self._rv)
                return obj
            return self._commit("ADDED", res, obj, None)

    def replace(self, res: Resource, obj: Obj, *, subresource: str = "", check_rv: bool = True,
                dry_run: bool = False) -> Obj:
        """Update (PUT). `subresource="status"` takes only the status; the main resource keeps
        the stored status."""
        obj = clone(obj)
        md = meta(obj)
        name = str(md.get("name", ""))
        ns = str(md.get("namespace", "")) if res.namespaced else ""
        with self.lock:
            old = self._objects.get(res.key, {}).get((ns, name))
            if old is None:
                raise not_found(res.plural, res.group, name)
            sent_rv = md.get("resourceVersion")
            if check_rv and sent_rv and str(sent_rv) != old["metadata"]["resourceVersion"]:
                raise conflict(res.plural, res.group, name)
            if subresource == "status":
                new = clone(old)
                new["status"] = obj.get("status", {})
            else:
                new = obj
                new["apiVersion"], new["kind"] = res.api_version, res.kind
                if "status" in res.subresources and "status" in old:
                    new["status"] = clone(old["status"])
                kept = ("uid", "creationTimestamp", "generation", "deletionTimestamp",
                        "deletionGracePeriodSeconds", "namespace")
                for field in kept:
                    if field in old["metadata"]:
                        md[field] = old["metadata"][field]
                if res.generation and normalized(new.get("spec")) != normalized(old.get("spec")):
                    md["generation"] = int(old["metadata"].get("generation", 1)) + 1
                prepare(res, new, old)
            if _sans_rv(new) == _sans_rv(old):
                return clone(old)  # a no-op write does not bump the resourceVersion
            if dry_run:
                return new
            return self._commit("MODIFIED", res, new, old)

    def modify(self, res: Resource, namespace: str, name: str,
               change: Callable[[Obj], None], subresource: str = "") -> Obj | None:
        """Read-modify-write atomically (controllers); None if the object is gone."""
        with self.lock:
            current = self.find(res, namespace, name)
            if current is None:
                return None
            change(current)
            return self.replace(res, current, subresource=subresource, check_rv=False)

    def delete(self, res: Resource, namespace: str, name: str, dry_run: bool = False) -> Obj:
        ns = namespace if res.namespaced else ""
        with self.lock:
            old = self._objects.get(res.key, {}).get((ns, name))
            if old is None:
                raise not_found(res.plural, res.group, name)
            if dry_run:
                return clone(old)
            del self._objects[res.key][(ns, name)]
            return self._commit("DELETED", res, clone(old), old, store=False)

    def delete_namespace_contents(self, namespace: str, resources: Iterable[Resource]) -> None:
        with self.lock:
            for res in resources:
                for ns, name in [k for k in self._objects.get(res.key, {}) if k[0] == namespace]:
                    self.delete(res, ns, name)

    def _check_namespace(self, ns: str) -> None:
        found = self._objects.get(NAMESPACE.key, {}).get(("", ns))
        if found is None:
            raise not_found("namespaces", "", ns)
        if found.get("status", {}).get("phase") == "Terminating":
            raise ApiError(403, f"unable to create new content in namespace {ns} because it is "
                           "being terminated", "Forbidden")

    def _commit(self, kind: str, res: Resource, obj: Obj, prev: Obj | None,
                store: bool = True) -> Obj:
        self._rv += 1
        md = meta(obj)
        md["resourceVersion"] = str(self._rv)
        ns = str(md.get("namespace", "")) if res.namespaced else ""
        if store:
            self._objects.setdefault(res.key, {})[(ns, str(md["name"]))] = obj
        change = Change(self._rv, kind, res.key, ns, clone(obj),
                        clone(prev) if prev is not None else None,
                        time.monotonic() + self.watch_latency if self.watch_latency else 0.0)
        self._history.append(change)
        while len(self._history) > self._history_size:
            self._floor = self._history.popleft().rv
        for watcher in list(self._watchers):
            watcher.offer(change)
        self._changed.notify_all()
        return clone(obj)

    # -- watching --------------------------------------------------------------------------

    def watch(self, res: Resource, namespace: str | None, resource_version: str,
              labels: tuple[Requirement, ...] = (), fields: tuple[FieldRequirement, ...] = (),
              initial: bool = False) -> Watcher:
        """A registered watcher with its backlog queued. Raises 410 for a compacted version.

        `resource_version` "" or "0" (or `initial`) starts with ADDED events for the current
        objects; a number replays the retained changes after it."""
        watcher = Watcher(res, namespace, labels, fields)
        with self.lock:
            if initial or resource_version in ("", "0"):
                for obj in self.list(res, namespace, labels, fields)[0]:
                    watcher.put({"type": "ADDED", "object": obj})
            else:
                try:
                    since = int(resource_version)
                except ValueError:
                    raise bad_request(f"invalid resource version: {resource_version}") from None
                if since < self._floor:
                    raise gone(since, self._rv)
                for change in self._history:
                    if change.rv > since:
                        watcher.offer(change)
            self._watchers.add(watcher)
        return watcher

    @property
    def watcher_count(self) -> int:
        with self.lock:
            return len(self._watchers)

    def unwatch(self, watcher: Watcher) -> None:
        with self.lock:
            self._watchers.discard(watcher)
        watcher.close()

    def drop_watchers(self) -> int:
        """Cut every open watch (fault injection); the number cut."""
        with self.lock:
            cut = list(self._watchers)
            self._watchers.clear()
        for watcher in cut:
            watcher.drop()
        return len(cut)

    def compact(self) -> int:
        """Forget the change log: every older resourceVersion now gets 410 Gone."""
        with self.lock:
            self._history.clear()
            self._floor = self._rv
            return self._rv

    def compact_to(self, resource_version: int) -> None:
        """Forget the changes up to `resource_version`, as etcd's compaction does: watching
        from an older version gets 410 Gone; the changes after it are still replayed."""
        with self.lock:
            while self._history and self._history[0].rv <= resource_version:
                self._history.popleft()
            self._floor = max(self._floor, min(resource_version, self._rv))

    def is_expired(self, resource_version: int) -> bool:
        with self.lock:
            return resource_version < self._floor


def _sans_rv(obj: Obj) -> object:
    md = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "resourceVersion"}
    return normalized({**obj, "metadata": md})
