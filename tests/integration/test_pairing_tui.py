"""Pairing with two app instances (Pilot) on one journal: SQLite, and a real PostgreSQL.

alice drives, bob attaches from another terminal (another JournalStore instance, as
another process would have). What the driver journals shows up in the follower; bob's
co-sign unblocks alice's item under the two-person rule; alice cannot approve her own;
bob asks for the wheel and alice hands it over; when bob's terminal dies, alice takes the
wheel back once his lease has expired. Both terminals write at once: one order.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runbook.format.loader import load_text
from runbook.journal.backends import open_journal
from runbook.rules.events import Ev
from runbook.rules.fold import fold
from runbook.rules.state import Status
from runbook.session.operator import Operator
from runbook.session.report import build, to_markdown
from runbook.session.run import Refused, Run
from screens.app import AppConfig, RunbookApp, build_app
from screens.modals.confirm_modal import ConfirmModal
from screens.modals.reason_modal import ReasonModal
from screens.run.screen import RunScreen
from steps import default_registry
from tests.integration.test_journal_contract import pg_database

pytestmark = pytest.mark.timeout(120)

RUNBOOK = """
runbook: 1
title: Pairing
environments:
  shared:
    policy: {two_person: [migrate]}
phases:
  - id: p
    title: P
    sections:
      - id: s
        title: S
        items:
          - {id: look, title: Look at the dashboards}
          - {id: migrate, kind: action, title: Migrate the database, uses: shell,
             with: {argv: ["true"]}}
          - {id: note, title: Tell the channel}
          - {id: after, title: After the handover}
          - {id: later, title: After the takeover}
"""
ALICE = Operator("alice", "jump", "")
BOB = Operator("bob", "jump", "")


@pytest.fixture(params=["sqlite", "postgresql"])
def locator(request: pytest.FixtureRequest, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("RUNBOOK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("RUNBOOK_WHEEL_TTL", "1.0")
    if request.param == "sqlite":
        yield str(tmp_path / "state" / "journal.db")
    else:
        yield from pg_database(request.getfixturevalue("pg_pair"))


def screen(app: RunbookApp) -> RunScreen:
    for s in app.screen_stack:
        if isinstance(s, RunScreen):
            return s
    raise AssertionError("no run screen")


async def until(pilots: list[object], ok: object, what: str, timeout: float = 10.0) -> float:
    start = time.monotonic()
    while not ok():  # type: ignore[operator]
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out: {what}")
        await asyncio.sleep(0.01)
        for p in pilots:
            await p.pause()  # type: ignore[attr-defined]
    return time.monotonic() - start


async def test_two_terminals_drive_follow_cosign_hand_over_take_over(locator: str) -> None:
    rb = load_text(RUNBOOK, "pairing.yaml", default_registry())
    j1, j2 = open_journal(locator), open_journal(locator)
    driver_app = build_app(AppConfig(rb, default_registry(), j1, ALICE, "shared", {}, False))
    async with driver_app.run_test(size=(160, 48)) as dp:
        await until([dp], lambda: driver_app.current_run is not None, "the driver's run")
        alice = driver_app.current_run
        assert alice is not None and alice.driving
        bob = Run.attach(j2, j2.session(alice.meta.id), rb, default_registry(), BOB)
        follower_app = build_app(AppConfig(rb, default_registry(), j2, BOB, "shared", {}, False))
        follower_app.current_run = bob
        async with follower_app.run_test(size=(160, 48)) as fp:
            pilots = [dp, fp]
            await until(pilots, lambda: "bob@jump" in alice.state.followers.values(),
                        "alice sees bob watching")
            assert not bob.driving

            # what the driver does appears in the follower
            await dp.press("c")  # confirm "look", the first item
            # (how fast: bench/pairing.py measures it; the target is 250 ms)
            await until(pilots, lambda: bob.state.items["look"].status is Status.CONFIRMED,
                        "bob sees the confirmation")

            # bob is read-only
            with pytest.raises(Refused, match="alice@jump is driving: you are following"):
                bob.confirm("note")

            # the two-person rule: alice waits for bob's co-sign, cannot give her own
            screen(driver_app).select_item("migrate")
            with pytest.raises(Refused, match="two-person rule"):
                alice.execute("migrate")
            await dp.press("g")
            await until(pilots, lambda: isinstance(driver_app.screen, ConfirmModal), "modal")
            await dp.press("y")
            await dp.pause()
            assert alice.state.items["migrate"].cosigned_by == ""  # self-approval refused
            screen(follower_app).select_item("migrate")
            await fp.press("g")
            await until(pilots, lambda: isinstance(follower_app.screen, ConfirmModal), "modal")
            await fp.press("y")
            await until(pilots, lambda: alice.state.items["migrate"].cosigned_by == "bob@jump",
                        "alice sees bob's co-sign")
            await dp.press("r")
            await until(pilots, lambda: bob.state.items["migrate"].status is Status.PASSED,
                        "the co-signed item ran")

            # handover: bob asks, alice hands over
            await fp.press("w")
            await until(pilots, lambda: alice.state.wheel_asked is not None, "bob's request")
            await dp.press("w")
            await until(pilots, lambda: isinstance(driver_app.screen, ConfirmModal), "modal")
            await dp.press("y")
            await until(pilots, lambda: bob.driving and not alice.driving, "the handover")
            with pytest.raises(Refused, match="bob@jump is driving"):
                alice.confirm("after")
            bob.confirm("after")

            # bob's terminal dies (its lease is not renewed): alice takes the wheel back
            bob.wheel._stop.set()
            with pytest.raises(Refused, match="holds the wheel"):
                alice.take_over("too early")  # the lease is still live
            await asyncio.sleep(1.1)
            screen(driver_app).select_item("later")
            await dp.press("T")
            await until(pilots, lambda: isinstance(driver_app.screen, ReasonModal), "modal")
            await dp.press(*"bob dropped off the call", "enter")
            await until(pilots, lambda: alice.driving, "the takeover")
            alice.confirm("later")

            # both write at once: one order, the same state everywhere
            def flood(run: Run, n: int, errors: list[str]) -> None:
                for _ in range(n):
                    try:
                        run.emit(Ev.WHEEL_REQUESTED, data={"token": run.wheel.token})
                    except Refused as e:
                        errors.append(str(e))

            errors: list[str] = []
            threads = [threading.Thread(target=flood, args=(r, 40, errors)) for r in (alice, bob)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert errors == []
            await until(pilots, lambda: bob.state.last_seq == alice.state.last_seq,
                        "both terminals caught up")
    seqs = [e.seq for e in j1.events(alice.meta.id)]
    assert seqs == list(range(1, len(seqs) + 1))
    kinds = [(e.kind, e.actor, e.get("how")) for e in j1.events(alice.meta.id)
             if e.kind is Ev.WHEEL_PASSED]
    assert kinds == [(Ev.WHEEL_PASSED, "alice@jump", "handover"),
                     (Ev.WHEEL_PASSED, "alice@jump", "takeover")]
    takeover = next(e for e in j1.events(alice.meta.id) if e.get("how") == "takeover")
    assert takeover.get("reason") == "bob dropped off the call" and takeover.get("from") == \
        "bob@jump"
    md = to_markdown(build(j1.session(alice.meta.id), j1.events(alice.meta.id), rb))
    section = md.split("## Guards and pairing", 1)[1]
    assert "**item.cosigned `migrate`** by bob@jump" in section
    assert "handover from alice@jump to bob@jump" in section
    assert "takeover from bob@jump to alice@jump: bob dropped off the call" in section
    assert "**follower.joined** by bob@jump" in section
    final = fold(rb, "shared", j2.iter_events(alice.meta.id))
    assert final.items == alice.state.items == bob.state.items
    assert final.driver == "alice@jump"
    for j in (j1, j2):
        j.close()

