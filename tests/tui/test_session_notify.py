"""The TUI's session lifecycle and the webhook (a real HTTP server on 127.0.0.1): the last
message, "finished", has reached the receiver when the app has quit; a follower posts
nothing, whatever the driver does while it watches."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from runbook.cli.common import session_services
from runbook.format.loader import load_text
from runbook.format.model import Runbook
from runbook.journal.sqlite import Journal
from runbook.session.lifecycle import Lifecycle
from runbook.session.operator import Operator
from runbook.session.run import Run
from screens.app import AppConfig, build_app
from screens.run.screen import RunScreen
from steps import default_registry
from tests.tui.conftest import wait_for

REG = default_registry()
RUNBOOK = """
runbook: 1
title: Notified
variables:
  HOOK: {{secret: true, default: "{url}"}}
environments:
  local: {{notify_webhook: "${{HOOK}}"}}
phases:
  - id: a
    title: Only
    sections:
      - id: s
        title: S
        items:
          - {{id: look, title: Look}}
"""


class Receiver(BaseHTTPRequestHandler):
    texts: list[str] = []
    delay = 0.0  # a slow channel: what is posted late is lost unless the notifier is flushed

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        time.sleep(self.delay)
        self.texts.append(body["text"])
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[str]:
    Receiver.texts = []
    Receiver.delay = 1.0  # longer than the app takes to quit: only a flush delivers it in time
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/hooks/T0KEN"
    srv.shutdown()
    srv.server_close()


def book(tmp_path: Path, url: str) -> Runbook:
    path = tmp_path / "notified.yaml"
    path.write_text(RUNBOOK.format(url=url))
    return load_text(path.read_text(), str(path), REG)


async def test_finished_is_delivered_when_the_tui_has_quit(tmp_path: Path, hook: str) -> None:
    rb = book(tmp_path, hook)
    app = build_app(AppConfig(rb, REG, Journal(tmp_path / "j.db"), Operator("ann", "host", ""),
                              "local", {"HOOK": hook}, False, services=session_services()))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
        run = app.current_run
        assert run is not None
        await pilot.press("c")  # confirm `look`
        await wait_for(pilot, lambda: run.state.items["look"].done)
        await pilot.press("n")  # the last phase: finish
        await wait_for(pilot, lambda: run.state.finished)
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running)
    # nothing waited for here: the app's shutdown flushed and closed the notifier
    assert Receiver.texts, "nothing was posted"
    assert Receiver.texts[0].startswith("▶ Notified on local started by ann@host")
    assert Receiver.texts[-1].startswith("■ Notified on local finished: completed")
    assert not (tmp_path / "j.db").read_bytes().count(b"T0KEN")  # the URL is a secret
    assert Journal(tmp_path / "j.db").wheel(run.meta.id) is None  # and the wheel released


async def test_a_follower_posts_nothing(tmp_path: Path, hook: str) -> None:
    rb = book(tmp_path, hook)
    driver = Run.start(Journal(tmp_path / "j.db"), rb, "local", {"HOOK": hook}, REG,
                       Operator("ann", "host", ""), dry_run=False)  # posts nothing: no notifier
    journal = Journal(tmp_path / "j.db")
    # as `runbook attach` does: the command's lifecycle adopts the follower, the app closes it
    life = Lifecycle(journal, session_services())
    follower = life.adopt(Run.attach(journal, journal.session(driver.meta.id), rb, REG,
                                     Operator("bob", "host", "")))
    assert life.notifier is None
    app = build_app(AppConfig(rb, REG, journal, follower.operator, "local", follower.variables,
                              False, services=session_services()))
    app.current_run, app.lifecycle = follower, life
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
        driver.confirm("look")
        driver.finish()
        await wait_for(pilot, lambda: follower.state.finished)  # seen by the follower
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running)
    driver.close()
    assert life.notifier is None
    assert Receiver.texts == []  # the follower's close flushed nothing: it had nothing to post
