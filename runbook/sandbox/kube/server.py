"""The HTTP front: routing of discovery and resource paths, JSON replies, Status errors."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import discovery, metrics
from .api import Api
from .cluster import Cluster
from .common import Obj
from .errors import ApiError
from .pod_io import serve_exec, serve_log
from .resources import Route, parse
from .streams import serve_watch


class KubeHTTPServer(ThreadingHTTPServer):
    """Threaded server that remembers open connections so `stop()` can cut them all."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], cluster: Cluster) -> None:
        self.cluster = cluster
        self.api = Api(cluster)
        self.stopping = threading.Event()
        self.requests: deque[tuple[str, str]] = deque(maxlen=500)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that vanish mid-request are normal here (cut watches, stops): stay quiet."""
        error = sys.exc_info()[1]
        if not isinstance(error, OSError):
            self.cluster.errors.append(f"http: {type(error).__name__}: {error}")

    def cut_connections(self) -> None:
        self.stopping.set()
        with self._open_lock:
            open_now = list(self._open)
        for sock in open_now:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: KubeHTTPServer
    server_version = "kube-emulator"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        try:  # small replies must not wait for delayed ACKs (Nagle)
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _body(self) -> bytes:
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, code: int, body: bytes, content_type: str = "application/json",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-cache, private")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, e: ApiError) -> None:
        if e.plain:
            self._send(e.code, f"{e.message}\n".encode(), "text/plain; charset=utf-8",
                       e.headers)
        else:
            self._send(e.code, json.dumps(e.status()).encode(), headers=e.headers)

    def _json(self, code: int, obj: Obj) -> None:
        self._send(code, json.dumps(obj).encode())

    def _handle(self, method: str) -> None:
        srv = self.server
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        srv.requests.append((method, self.path))
        try:
            body = self._body()
            faults = srv.cluster.faults
            if faults.latency:
                time.sleep(faults.latency)
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            if body and ctype in ("application/vnd.kubernetes.protobuf", "application/cbor"):
                raise ApiError(415, "the body of the request was in an unknown format - accepted "
                               "media types include: application/json, application/yaml, "
                               "application/json-patch+json, application/merge-patch+json, "
                               "application/strategic-merge-patch+json", "UnsupportedMediaType")
            injected = faults.check(method, url.path,
                                    watch=query.get("watch") in ("true", "1"))
            if injected is not None:
                raise injected
            self._route(method, url.path.rstrip("/") or "/", query, body)
        except ApiError as e:
            self._error(e)
        except (ConnectionError, BrokenPipeError):
            self.close_connection = True
        except Exception as e:  # a bug answers 500 like the real server, not a dead socket
            self._json(500, ApiError(500, f"emulator error: {type(e).__name__}: {e}").status())

    def _route(self, method: str, path: str, query: dict[str, str], body: bytes) -> None:
        srv = self.server
        if method == "GET" and path == "/openapi/v2":
            if "protobuf" in (self.headers.get("Accept") or ""):
                self._send(200, discovery.OPENAPI_V2_PROTO, discovery.OPENAPI_V2_PROTO_TYPE)
            else:
                self._json(200, discovery.openapi_v2())
            return
        if method == "GET":
            fixed = self._discovery(path)
            if fixed is not None:
                self._json(200, fixed)
                return
            if path in ("/healthz", "/livez", "/readyz"):
                self._send(200, b"ok", "text/plain; charset=utf-8")
                return
        if path.startswith(metrics.PREFIX) and method == "GET":
            self._json(200, metrics.handle(srv.cluster.store, path, query))
            return
        route = parse(path)
        if route is None:
            raise ApiError(404, "the server could not find the requested resource", "NotFound")
        rbac = srv.cluster.faults.rbac
        if rbac is not None:
            rbac.check(method, route, query.get("watch") in ("true", "1"))
        if route.res is None:
            doc = discovery.resource_list(route.group, route.version)
            if doc is None or method != "GET":
                raise ApiError(404, "the server could not find the requested resource",
                               "NotFound")
            self._json(200, doc)
            return
        if route.sub == "log" and method == "GET":
            reply = serve_log(self, srv.cluster, route, query, srv.stopping)
            if reply is not None:
                self._send(reply[0], reply[1], "text/plain")
            return
        if route.sub == "exec":
            serve_exec(self, srv.cluster, route, query)
            return
        if method == "GET" and query.get("watch") in ("true", "1"):
            self._watch(route, query)
            return
        code, obj = srv.api.handle(method, route, query, body,
                                   self.headers.get("Content-Type") or "application/json",
                                   self.headers.get("Accept") or "application/json")
        self._json(code, obj)

    def _watch(self, route: Route, query: dict[str, str]) -> None:
        serve_watch(self, self.server.cluster.store, route, query,
                    self.headers.get("Accept") or "", self.server.stopping)

    def _discovery(self, path: str) -> Obj | None:
        if path == "/version":
            return discovery.VERSION
        if path == "/api":
            host, port = str(self.server.server_address[0]), int(self.server.server_address[1])
            return discovery.api_versions(f"{host}:{port}")
        if path == "/apis":
            return discovery.api_groups()
        if path == "/openapi/v3":
            return discovery.openapi_index()
        if path.startswith("/openapi/v3/"):
            return discovery.openapi_document(path[len("/openapi/v3/"):])
        parts = path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "apis":
            return discovery.api_group(parts[1])
        return None
