"""Fixtures for Pilot tests: a small runbook and the app built by the shared factory."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runbook.format.loader import load_text
from runbook.format.model import Runbook
from runbook.journal.sqlite import Journal
from runbook.session.operator import Operator
from screens.app import AppConfig, RunbookApp, build_app
from steps import default_registry

# a weekday that is not today nor tomorrow: the production window is closed now
CLOSED_DAY = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[
    (dt.datetime.now(dt.UTC).weekday() + 3) % 7]

# unique per test process, so concurrent test runs never see each other's sleeps
LONG_ARG = f"3{os.getpid() % 10}.{os.getpid()}"

RUNBOOK = f"""
runbook: 1
title: TUI test runbook
variables:
  TAG: {{pattern: 'v[0-9]+', default: v1}}
services:
  - {{name: api, port: 8080, health: /health, expect: {{status: healthy}}}}
environments:
  local:
    namespace: test
  prod:
    namespace: prod
    production: true
    policy:
      window: {{days: [{CLOSED_DAY}], start: "02:00", end: "06:00"}}
      typed_confirmation: true
phases:
  - id: one
    title: Phase one
    sections:
      - id: first
        title: First section
        items:
          - {{id: hello, kind: check, title: Say hello, uses: shell, with: {{argv: [echo, hello]}}}}
          - {{id: look, title: Look at it}}
          - {{id: maybe, title: Optional thing, required: false}}
      - id: second
        title: Second section
        items:
          - {{id: fails, kind: check, title: Always fails, uses: shell, with: {{argv: ["false"]}}}}
  - id: two
    title: Phase two
    sections:
      - id: act
        title: Act
        items:
          - id: how
            kind: choice
            title: How to deploy
            options:
              - id: helm
                title: Helm
                items:
                  - {{id: helm-up, kind: action, title: "Helm upgrade to ${{TAG}}", uses: shell,
             with: {{argv: [echo, helm]}}}}
              - id: rolling
                title: Rolling
                items:
                  - {{id: roll, kind: action, title: Roll, uses: shell, with: {{argv: [echo, roll]}}}}
          - {{id: long, kind: action, title: Long step, uses: shell, with: {{argv: [sleep, "{LONG_ARG}"]}}}}
          - {{id: flood, kind: check, title: Flood, uses: shell, with: {{argv: [seq, "1", "20000"]}}}}
"""


@pytest.fixture
def runbook(tmp_path: Path) -> Runbook:
    path = tmp_path / "tui.yaml"
    path.write_text(RUNBOOK)
    return load_text(RUNBOOK, str(path), default_registry())


@pytest.fixture
def make_app(tmp_path: Path, runbook: Runbook) -> Callable[..., RunbookApp]:
    def make(env: str = "local", dry_run: bool = False) -> RunbookApp:
        journal = Journal(tmp_path / "state" / "journal.db")
        return build_app(AppConfig(runbook, default_registry(), journal,
                                   Operator("alice", "testhost", ""), env, {"TAG": "v1"},
                                   dry_run))
    return make


async def wait_for(pilot: object, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)
        await pilot.pause()  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def no_step_left_behind() -> Iterator[None]:
    """A test that fails mid-way leaves its detached `long` step running (steps outlive
    their terminal, by design): end it, so that the next test does not count it."""
    yield
    import signal
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if LONG_ARG.encode() in argv:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass


@pytest.fixture(autouse=True)
def fold_checked(fold_check: object) -> None:
    """Every TUI test ends with the fold check (tests/fold_check.py): a fresh process's fold
    of the journal equals what each app had and showed."""
