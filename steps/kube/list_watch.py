"""List, then watch, one collection of a namespace: the loop shared by the Pods pane's watcher
(steps/kube/pod_watch.py) and the deployment watch behind rollout status (steps/kube/rollout.py).

It lists once, then watches from the list's resourceVersion. When a watch ends (the server's
timeoutSeconds) or its connection drops, it watches again from the newest resourceVersion it
has seen (events and bookmarks), without listing again; it lists again only when the server
answers 410 Gone (that version is no longer kept). Every request has a client-side timeout as
well as the server's timeoutSeconds, and `close()` cuts an open watch at once.

Requests go through the ApiClient by path (steps.kube.client.get/open_get), not through a
generated API class, and bodies stay plain JSON.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from steps.kube.client import KubeError, Query, get, open_get

GONE = 410
CONNECT_TIMEOUT = 5.0
LIST_TIMEOUT = 20.0

OnList = Callable[[list[dict[str, Any]]], object]
OnEvent = Callable[[str, dict[str, Any]], object]
OnError = Callable[[str], object]


class ListWatch:
    """`run()` (on the caller's thread) until `close()`: on_list(items) after each list,
    on_event(type, object) for each ADDED/MODIFIED/DELETED, on_error(text) when a request
    fails (it retries with backoff), on_watching() each time a watch is open."""

    def __init__(self, api: Any, path: str, on_list: OnList, on_event: OnEvent,
                 on_error: OnError = lambda text: None,
                 on_watching: Callable[[], object] = lambda: None, *, watch_seconds: int = 60,
                 backoff: tuple[float, float] = (0.5, 10.0), cached_list: bool = False) -> None:
        self.api = api
        self.path = path
        self.on_list = on_list
        self.on_event = on_event
        self.on_error = on_error
        self.on_watching = on_watching
        self.watch_seconds = watch_seconds
        # the first list may be served from the API server's cache (resourceVersion=0, as
        # client-go's reflectors do), the watch bringing it up to date: fine for a display,
        # not for a rollout check; lists after 410 Gone are consistent reads
        self.cached_list = cached_list
        self.backoff = backoff
        self.resource_version = ""  # "" = list first; then the newest version seen
        self.lists = 0  # lists made so far (one, then one more per 410 Gone)
        self._stop = threading.Event()
        self._resp: Any = None

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        delay = self.backoff[0]
        while not self._stop.is_set():
            started = time.monotonic()
            listed = not self.resource_version
            try:
                if listed:
                    self._list()
                events = self._watch()
                if events or time.monotonic() - started > 1.0:
                    delay = self.backoff[0]
                    continue  # the server ended the watch: resume from the newest version
            except KubeError as e:
                if e.status == GONE:
                    self.resource_version = ""  # that version is gone: list again
                    if not listed:
                        continue
                self.on_error(str(e))
            except Exception as e:  # dropped connections, read timeouts, garbled lines
                self.on_error(f"watch interrupted: {type(e).__name__}: {str(e)[:120]}")
            if self._stop.wait(delay):
                return
            delay = min(delay * 2, self.backoff[1])

    def close(self) -> None:
        """Stop, and cut the open watch connection now (not at its next event)."""
        self._stop.set()
        resp = self._resp
        if resp is not None:
            _cut(resp)

    def _list(self) -> None:
        query: Query = [("resourceVersion", "0")] if self.cached_list and not self.lists else []
        body = get(self.api, self.path, query, timeout=LIST_TIMEOUT)
        self.lists += 1
        if self._stop.is_set():
            return
        self.on_list(body.get("items") or [])
        self.resource_version = str((body.get("metadata") or {}).get("resourceVersion") or "")

    def _watch(self) -> int:
        """One watch request, until the server ends it; how many events it brought."""
        if self._stop.is_set():
            return 0
        query: Query = [("watch", True), ("resourceVersion", self.resource_version),
                        ("allowWatchBookmarks", True), ("timeoutSeconds", self.watch_seconds)]
        resp = self._resp = open_get(self.api, self.path, query,
                                     timeout=(CONNECT_TIMEOUT, self.watch_seconds + 15.0))
        count = 0
        try:
            if self._stop.is_set():  # closed while connecting
                return count
            self.on_watching()
            for line in _lines(resp):
                ev = json.loads(line)
                kind = str(ev.get("type", ""))
                obj = ev.get("object") or {}
                if kind == "ERROR":
                    raise KubeError(f"API error {obj.get('code')}: {obj.get('message', '')}",
                                    obj.get("code"))
                if kind != "BOOKMARK":
                    self.on_event(kind, obj)
                    count += 1
                rv = (obj.get("metadata") or {}).get("resourceVersion")
                if rv:
                    self.resource_version = str(rv)
                if self._stop.is_set():
                    break
            return count
        finally:
            self._resp = None
            resp.close()  # a watch connection is not reused
            resp.release_conn()


def _cut(resp: Any) -> None:
    """Shut the socket under a response another thread is reading (close() alone may not
    wake a blocked read)."""
    try:
        resp.shutdown()
        return
    except Exception:  # no socket to shut this way: find it
        pass
    try:
        resp.connection.sock.shutdown(socket.SHUT_RDWR)
    except Exception:  # already closed, or not connected
        try:
            resp.close()
        except Exception:  # a half-dead connection: nothing more to do
            pass


def _lines(resp: Any) -> Iterator[bytes]:
    """The non-empty lines of a streamed body, as they arrive."""
    pending = b""
    for chunk in resp.stream(None):
        pending += chunk
        if b"\n" not in chunk:
            continue
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line.strip():
                yield line
    if pending.strip():
        yield pending
