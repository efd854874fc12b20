"""http.health and http.check against real local HTTP servers: healthy, unhealthy body,
slow, hung, refused; concurrency (a round takes the slowest, not the sum); no token leaks."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from runbook.execute.stepkind import CancelToken, Outcome, StepContext
from runbook.format.model import Service
from steps.http.check import HttpCheck
from steps.http.health import HttpHealth


class Handler(BaseHTTPRequestHandler):
    routes: dict[str, tuple[float, int, Any]] = {}
    seen_auth: list[str] = []
    together: threading.Barrier | None = None  # requests that must all be in flight at once

    def do_GET(self) -> None:
        delay, code, body = self.routes.get(self.path, (0.0, 404, {"error": "no route"}))
        self.seen_auth.append(self.headers.get("Authorization", ""))
        if self.together is not None:
            try:
                self.together.wait(timeout=10)
            except threading.BrokenBarrierError:  # not all of them came at once
                code, body = 503, {"status": "not concurrent"}
        if delay:
            time.sleep(delay)
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    Handler.routes = {}
    Handler.seen_auth = []
    Handler.together = None
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


class Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def write_lines(self, lines: Any) -> None:
        self.lines.extend(lines)


def ctx(params: dict[str, Any], services: tuple[Service, ...] = (), tmp: Path = Path("/tmp"),
        env: dict[str, str] | None = None) -> tuple[StepContext, Lines, list[Any], list[str]]:
    out = Lines()
    published: list[Any] = []
    secrets: list[str] = []
    c = StepContext(item_id="x", params=params, cancel=CancelToken(), output=out,
                    session_dir=tmp, dry_run=False, process_env=env or {},
                    publish=lambda topic, data: published.append((topic, data)),
                    secret=secrets.append, services=services)
    return c, out, published, secrets


def svc(name: str, path: str) -> Service:
    return Service(name=name, port=1, health=path, expect=(("status", "healthy"),))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_health_round_is_concurrent_and_all_healthy(server: str) -> None:
    services = tuple(svc(f"s{n}", f"/s{n}/health") for n in range(10))
    for n in range(10):
        Handler.routes[f"/s{n}/health"] = (0.05 + 0.025 * n, 200, {"status": "healthy"})
    # every endpoint answers only once all ten requests are in flight: one at a time, the
    # first would wait for the others in vain and the round would fail
    Handler.together = threading.Barrier(10)
    c, _, published, _ = ctx({"base_url": server, "timeout": 15.0}, services)
    result = HttpHealth().run(c)
    assert result.outcome is Outcome.PASSED, result.message
    assert published and published[-1][0] == "health"
    assert set(published[-1][1]) == {f"s{n}" for n in range(10)}
    assert result.facts["health"]["s9"]["status"] == "healthy"


def test_health_failures_named_and_bounded(server: str) -> None:
    Handler.routes.update({
        "/ok": (0, 200, {"status": "healthy"}),
        "/sick": (0, 200, {"status": "degraded"}),
        "/err": (0, 503, {"status": "healthy"}),
        "/text": (0, 200, "<html>"),
        "/hung": (30, 200, {"status": "healthy"}),
    })
    services = (svc("ok", "/ok"), svc("sick", "/sick"), svc("err", "/err"),
                svc("text", "/text"), svc("hung", "/hung"))
    c, _, _, _ = ctx({"base_url": server, "timeout": 0.5}, services)
    started = time.monotonic()
    result = HttpHealth().run(c)
    assert time.monotonic() - started < 0.5 + 0.5
    assert result.outcome is Outcome.FAILED
    for name in ("sick", "err", "text", "hung"):
        assert name in result.message
    assert "4 of 5 unhealthy" in result.message
    assert "HTTP 503" in result.message and "no answer in 0.5s" in result.message


def test_health_refused_and_wait_until_healthy(server: str) -> None:
    port = free_port()
    c, _, _, _ = ctx({"base_url": f"http://127.0.0.1:{port}", "timeout": 1.0},
                     (svc("gone", "/h"),))
    result = HttpHealth().run(c)
    assert result.outcome is Outcome.FAILED and "gone: down" in result.message

    Handler.routes["/later"] = (0, 503, {"status": "starting"})

    def heal() -> None:
        time.sleep(1.0)
        Handler.routes["/later"] = (0, 200, {"status": "healthy"})

    threading.Thread(target=heal, daemon=True).start()
    c, out, _, _ = ctx({"base_url": server, "until_healthy": 10.0}, (svc("later", "/later"),))
    result = HttpHealth().run(c)
    assert result.outcome is Outcome.PASSED
    assert sum(1 for line in out.lines if line.startswith("round")) >= 2


def test_http_check_token_from_env_never_shown(server: str, tmp_path: Path) -> None:
    Handler.routes["/v2/"] = (0, 401, {"errors": []})
    token = "sk_live_abcdef123456"
    c, out, _, secrets = ctx({"url": server + "/v2/", "expect_status": 401,
                              "credential_env": "REG_TOKEN"}, env={"REG_TOKEN": token})
    result = HttpCheck().run(c)
    assert result.outcome is Outcome.PASSED, result.message
    assert Handler.seen_auth[-1] == f"Bearer {token}"
    assert token in secrets
    assert token not in " ".join(out.lines) + result.message
    assert "REG_TOKEN" in HttpCheck().describe(c.params)
    c, _, _, _ = ctx({"url": server + "/v2/", "expect_status": 200})
    assert "HTTP 401, expected 200" in HttpCheck().run(c).message
    c, _, _, _ = ctx({"url": server + "/v2/", "credential_env": "NOPE_NOT_SET"})
    assert "$NOPE_NOT_SET is not set" in HttpCheck().run(c).message
    c, _, _, _ = ctx({"url": f"http://127.0.0.1:{free_port()}/", "timeout": 1.0})
    assert "cannot reach it" in HttpCheck().run(c).message
