"""Long-running responses: watch streams (JSON lines, chunked) and followed pod logs."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler

from .common import Obj
from .errors import ApiError
from .podlogs import PodLogs, stamp
from .resources import Resource, Route
from .selectors import parse_fields, parse_labels
from .store import Store
from .tables import table, wants_table
from .watchers import Dropped

DEFAULT_WATCH_TIMEOUT = 1800.0


class Chunked:
    """Chunked transfer encoding on a handler's socket."""

    def __init__(self, handler: BaseHTTPRequestHandler, content_type: str) -> None:
        self.handler = handler
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Cache-Control", "no-cache, private")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()

    def write(self, data: bytes) -> None:
        if data:
            self.handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.handler.wfile.flush()

    def end(self) -> None:
        self.handler.wfile.write(b"0\r\n\r\n")
        self.handler.wfile.flush()

    def cut(self) -> None:
        """Drop the connection without ending the stream (a broken watch)."""
        self.handler.close_connection = True
        try:
            self.handler.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def serve_watch(handler: BaseHTTPRequestHandler, store: Store, route: Route,
                query: dict[str, str], accept: str, stopping: threading.Event) -> None:
    res = route.res
    assert res is not None
    labels = parse_labels(query.get("labelSelector"))
    fields = parse_fields(query.get("fieldSelector"), res.fields, res.kind)
    if route.name:
        fields = (*fields, *parse_fields(f"metadata.name={route.name}", (), res.kind))
    timeout = float(query.get("timeoutSeconds") or DEFAULT_WATCH_TIMEOUT)
    as_table = wants_table(accept)
    include = query.get("includeObject", "Metadata")
    initial = query.get("sendInitialEvents") == "true"
    out = Chunked(handler, "application/json")
    try:
        watcher = store.watch(res, route.namespace, query.get("resourceVersion", ""), labels,
                              fields, initial)
    except ApiError as e:
        out.write(json.dumps({"type": "ERROR", "object": e.status()}).encode() + b"\n")
        out.end()
        return
    if initial:
        rv = store.resource_version
        watcher.put({"type": "BOOKMARK", "object": _bookmark(res, rv, initial_end=True)})
    deadline = time.monotonic() + timeout
    first = True
    try:
        while not stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            event = watcher.next(min(left, 0.25))
            if event is None:
                if watcher.closed:
                    break
                continue
            if as_table and event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                obj = event["object"]
                event = {"type": event["type"], "object": table(
                    res, [obj], include, obj["metadata"]["resourceVersion"], with_columns=first)}
                first = False
            out.write(json.dumps(event).encode() + b"\n")
        if stopping.is_set():
            raise Dropped()
        out.end()
    except Dropped:
        out.cut()
    except OSError:
        handler.close_connection = True  # the client went away
    finally:
        store.unwatch(watcher)


def _bookmark(res: Resource, rv: int, initial_end: bool) -> Obj:
    md: Obj = {"resourceVersion": str(rv), "creationTimestamp": None}
    if initial_end:
        md["annotations"] = {"k8s.io/initial-events-end": "true"}
    return {"kind": res.kind, "apiVersion": res.api_version, "metadata": md}


def format_lines(lines: list[tuple[float, str]], timestamps: bool) -> bytes:
    return b"".join(((f"{stamp(at)} " if timestamps else "") + text + "\n").encode()
                    for at, text in lines)


def serve_log_follow(handler: BaseHTTPRequestHandler, logs: PodLogs, namespace: str, pod: str,
                     container: str, first: list[tuple[float, str]], cursor: int,
                     timestamps: bool, alive: Callable[[], bool],
                     stopping: threading.Event) -> None:
    """Stream a container's log until the pod goes away, the client leaves or we stop."""
    out = Chunked(handler, "text/plain")
    try:
        out.write(format_lines(first, timestamps))
        while not stopping.is_set():
            lines, cursor, ended = logs.wait(namespace, pod, container, cursor, 0.25)
            out.write(format_lines(lines, timestamps))
            if ended or not alive():
                break
        if stopping.is_set():
            out.cut()
            return
        out.end()
    except OSError:
        handler.close_connection = True
