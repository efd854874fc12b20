"""Session notifications to a Slack-compatible webhook (a real local HTTP server)."""

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

from runbook.format.loader import load_text
from runbook.journal.sqlite import Journal
from runbook.rules.events import Ev
from runbook.session.operator import Operator
from runbook.session.run import Run
from steps import default_registry
from steps.notify import attach_notifier

RUNBOOK = """
runbook: 1
title: Notify test
variables:
  HOOK: {{secret: true, default: "{url}"}}
environments:
  local: {{notify_webhook: "${{HOOK}}"}}
phases:
  - id: a
    title: First
    sections:
      - id: s
        title: S
        items:
          - {{id: ok, kind: check, title: OK, uses: shell, with: {{argv: ["true"]}}}}
          - {{id: bad, kind: check, title: Bad, uses: shell, with: {{argv: ["false"]}},
             required: false}}
  - id: b
    title: Second
    sections:
      - id: t
        title: T
        items:
          - {{id: fine, title: Fine}}
"""


class Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(json.loads(body))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[str]:
    Hook.received = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/hooks/T0KEN-SECRET"
    srv.shutdown()
    srv.server_close()


def start(tmp_path: Path, url: str) -> Run:
    rb = load_text(RUNBOOK.format(url=url), str(tmp_path / "n.yaml"), default_registry())
    values = {"HOOK": url}
    return Run.start(Journal(tmp_path / "j.db"), rb, "local", values, default_registry(),
                     Operator("ann", "host", ""), dry_run=False)


def test_milestones_are_posted(tmp_path: Path, hook: str) -> None:
    run = start(tmp_path, hook)
    notifier = attach_notifier(run)
    assert notifier is not None
    run.execute("ok")
    run.execute("bad")
    run.advance()
    run.confirm("fine")
    run.finish()
    notifier.close()
    texts = [m["text"] for m in Hook.received]
    assert texts[0].startswith("▶ Notify test on local started by ann@host")
    assert any("bad failed" in t for t in texts)
    assert any("phase 'First' complete; now 'Second'" in t for t in texts)
    assert texts[-1].startswith("■ Notify test on local finished: completed")
    journal = (tmp_path / "j.db").read_bytes()
    assert b"T0KEN-SECRET" not in journal  # the webhook URL is a secret


def test_delivery_failure_is_journaled_never_fatal(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = start(tmp_path, f"http://127.0.0.1:{port}/hook")
    notifier = attach_notifier(run)
    assert notifier is not None
    run.execute("ok")
    deadline = time.monotonic() + 10
    while not [e for e in run.journal.events(run.meta.id) if e.kind is Ev.NOTIFY_FAILED]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    notifier.close()
    failed = [e for e in run.journal.events(run.meta.id) if e.kind is Ev.NOTIFY_FAILED]
    assert "unreachable" in failed[0].data["error"]
    assert run.state.items["ok"].status.value == "passed"
