"""bench/pairing.py's figure a: how soon a follower sees what the driver journals.

Two app instances in one process (Pilot, headless), as tests/integration/test_pairing_tui.py
runs them: alice drives, bob follows through a JournalStore of his own (as another process
on another host would). alice confirms one item after another (`Run.confirm`, on her app's
loop); for each, the time until bob's `Run.state` has it (his follower thread, through
`journal.wait` and `Run.sync`) and until his run screen has handled the event (his item list
and detail updated: the next frame paints them). On a SQLite file and, when PostgreSQL can
be started, on a PostgreSQL journal (LISTEN/NOTIFY).
"""

from __future__ import annotations

import asyncio
import random
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runbook.format.loader import load_text
from runbook.journal.backends import open_journal
from runbook.rules.state import Status
from runbook.session.operator import Operator
from runbook.session.run import Run
from screens.app import AppConfig, build_app
from screens.messages import RunEvent
from screens.run.screen import RunScreen
from steps import default_registry

ALICE = Operator("alice", "jump", "")
BOB = Operator("bob", "jump", "")
TARGET_MS = 250.0


@dataclass
class FollowFigures:
    backend: str
    state_ms: list[float]  # confirm -> bob's Run.state
    screen_ms: list[float]  # confirm -> bob's run screen handled the event
    misses: int


def runbook_text(n: int) -> str:
    items = "\n".join(f"          - {{id: i{k:03d}, title: Check number {k}}}" for k in range(n))
    return ("runbook: 1\ntitle: Pairing bench\nenvironments:\n  shared: {}\nphases:\n"
            "  - id: p\n    title: P\n    sections:\n      - id: s\n        title: S\n"
            f"        items:\n{items}\n")


async def _until(ok: Any, timeout: float) -> float | None:
    end = time.perf_counter() + timeout
    while not ok():
        if time.perf_counter() > end:
            return None
        await asyncio.sleep(0.001)
    return time.perf_counter()


def _run_screen(app: Any) -> RunScreen | None:
    for s in app.screen_stack:
        if isinstance(s, RunScreen):
            return s
    return None


async def follow(locator: str, backend: str, n: int) -> FollowFigures:
    rb = load_text(runbook_text(n), "pairing-bench.yaml", default_registry())
    j1, j2 = open_journal(locator), open_journal(locator)
    state_ms: list[float] = []
    screen_ms: list[float] = []
    misses = 0
    try:
        driver_app = build_app(AppConfig(rb, default_registry(), j1, ALICE, "shared", {}, False))
        async with driver_app.run_test(size=(160, 48)):
            if await _until(lambda: driver_app.current_run is not None, 15.0) is None:
                raise RuntimeError("the driver's run never started")
            alice = driver_app.current_run
            assert alice is not None
            bob = Run.attach(j2, j2.session(alice.meta.id), rb, default_registry(), BOB)
            follower_app = build_app(AppConfig(rb, default_registry(), j2, BOB, "shared", {},
                                               False))
            follower_app.current_run = bob
            async with follower_app.run_test(size=(160, 48)):
                if await _until(lambda: "bob@jump" in alice.state.followers.values(), 15.0) \
                        is None:
                    raise RuntimeError("the driver never saw the follower attach")
                screen = _run_screen(follower_app)
                assert screen is not None
                handled: dict[str, float] = {}

                def after_dispatch(message: object) -> None:  # published once handled
                    if isinstance(message, RunEvent) and message.event.item:
                        handled.setdefault(message.event.item, time.perf_counter())

                screen.message_signal.subscribe(screen, after_dispatch, immediate=True)
                await asyncio.sleep(0.5)
                for k in range(n):
                    item = f"i{k:03d}"
                    t0 = time.perf_counter()
                    alice.confirm(item)
                    t_state = await _until(
                        lambda item=item: bob.state.items[item].status is Status.CONFIRMED, 5.0)
                    t_screen = await _until(lambda item=item: item in handled, 5.0)
                    if t_state is None or t_screen is None:
                        misses += 1
                    else:
                        state_ms.append((t_state - t0) * 1000)
                        screen_ms.append((t_screen - t0) * 1000)
                    await asyncio.sleep(random.uniform(0.02, 0.12))
    finally:
        for j in (j1, j2):
            with suppress(Exception):
                j.close()
    return FollowFigures(backend, state_ms, screen_ms, misses)


def sqlite_figures(tmp: Path, n: int) -> FollowFigures:
    return asyncio.run(follow(str(tmp / "pairing-journal.db"), "SQLite", n))


@contextmanager
def postgres() -> Iterator[str]:
    """A throw-away PostgreSQL on loopback (runbook/sandbox/servers.py) and a fresh database."""
    from runbook.sandbox.servers import (
        TEST_PASSWORD,
        TEST_USER,
        make_tempdir,
        pg_bindir,
        start_primary,
    )
    bindir = pg_bindir()
    root = make_tempdir("runbook-bench-pg-")
    primary = None
    try:
        primary = start_primary(root, bindir)
        name = f"journal_{uuid.uuid4().hex[:12]}"
        primary.sql(f"CREATE DATABASE {name} OWNER {TEST_USER}")
        yield primary.url(password=TEST_PASSWORD, db=name)
    finally:
        if primary is not None:
            primary.stop()
        shutil.rmtree(root, ignore_errors=True)


def postgres_figures(n: int) -> FollowFigures:
    with postgres() as url:
        return asyncio.run(follow(url, "PostgreSQL", n))
