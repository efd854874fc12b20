"""Stand-in HTTP endpoints for the rehearsal: the services' health endpoints, answered
from the emulated deployments' readiness, and the external services the runbook checks
(container registry, CDN, blob storage, Stripe, SendGrid).

One server on one loopback port: `/svc/<service><health path>` for the services,
`/acr/v2/`, `/cdn/`, `/blob/...`, `/stripe/...`, `/sendgrid/...` for the rest.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Readiness = Callable[[str], tuple[bool, str]]  # service -> (healthy, why not)


class StandinServer:
    def __init__(self, health_paths: dict[str, str], readiness: Readiness) -> None:
        self.health_paths = health_paths
        self.readiness = readiness
        self.unhealthy: set[str] = set()  # fault: these answer "degraded" whatever the state
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                code, body = outer.answer(self.path, self.headers.get("Authorization", ""))
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="sandbox-http")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> StandinServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def answer(self, path: str, auth: str) -> tuple[int, Any]:
        path = path.split("?", 1)[0]
        if path.startswith("/svc/"):
            name, _, rest = path[len("/svc/"):].partition("/")
            if self.health_paths.get(name) != "/" + rest:
                return 404, {"error": "no such endpoint"}
            if name in self.unhealthy:
                return 503, {"status": "degraded", "reason": "fault injected"}
            ok, why = self.readiness(name)
            return (200, {"status": "healthy"}) if ok else (503, {"status": "unhealthy",
                                                                   "reason": why})
        if path.startswith("/acr/v2"):
            return 401, {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}
        if path.startswith(("/stripe/", "/sendgrid/")):
            if not auth.startswith("Bearer "):
                return 401, {"error": "no API key"}
            return 200, {"object": "ok", "livemode": False}
        if path.startswith(("/cdn", "/blob/")):
            return 200, {"ok": True}
        return 404, {"error": "no such endpoint"}
