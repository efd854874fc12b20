"""The deployment lock: a Lease in the target namespace on the emulator.

Two concurrent runs: exactly one proceeds and the other names the holder; the lock expires
after its holder dies (stops renewing); a break is journaled with its reason; dry runs take
no lock.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from runbook.format.loader import load_text
from runbook.journal.sqlite import Journal
from runbook.rules.events import Ev
from runbook.session.operator import Operator
from runbook.session.run import Run
from steps import default_registry
from steps.kube import deployment_lock as lease
from steps.kube.client import forget_clients
from steps.kube.deployment_lock import LockError, journal_lock, take_lock
from tests.integration.conftest import KubeSandbox

RB = """
runbook: 1
title: Lock test
environments:
  prod: {{namespace: {ns}, context: sandbox, policy: {{lock: true}}}}
phases:
  - id: p
    title: P
    sections:
      - id: s
        title: S
        items:
          - {{id: wait, kind: check, title: Work, uses: shell, with: {{argv: [sleep, "0.5"]}}}}
"""


@pytest.fixture
def cluster(kube_emulator: KubeSandbox, monkeypatch: pytest.MonkeyPatch) -> KubeSandbox:
    monkeypatch.setenv("KUBECONFIG", str(kube_emulator.kubeconfig))
    monkeypatch.setattr(lease, "DURATION", 2)
    monkeypatch.setattr(lease, "RENEW", 0.3)
    forget_clients()
    yield kube_emulator
    forget_clients()


def env_of(cluster: KubeSandbox, tmp_path: Path):  # type: ignore[no-untyped-def]
    rb = load_text(RB.format(ns=cluster.namespace), str(tmp_path / "lock-test.yaml"),
                   default_registry())
    return rb, rb.environment("prod")


def test_two_concurrent_runs_exactly_one_proceeds(cluster: KubeSandbox, tmp_path: Path) -> None:
    rb, env = env_of(cluster, tmp_path)
    results: dict[str, object] = {}

    def attempt(who: str) -> None:
        try:
            results[who] = take_lock(rb.path, env, who, "sandbox", dry_run=False)
        except LockError as e:
            results[who] = e

    threads = [threading.Thread(target=attempt, args=(w,)) for w in ("ann@a", "bob@b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [w for w, r in results.items() if not isinstance(r, LockError)]
    losers = [r for r in results.values() if isinstance(r, LockError)]
    assert len(winners) == 1 and len(losers) == 1
    assert f"held by {winners[0]}" in str(losers[0]) or winners[0] in str(losers[0])
    assert "--break-lock" in str(losers[0])
    held = results[winners[0]]
    time.sleep(1.0)  # renewed while the session lives: still held past a renew period
    with pytest.raises(LockError, match=winners[0]):
        take_lock(rb.path, env, "carol@c", "sandbox", dry_run=False)
    held.release()  # type: ignore[union-attr]
    take_lock(rb.path, env, "carol@c", "sandbox", dry_run=False).release()  # type: ignore[union-attr]


def test_lock_expires_after_holder_is_killed(cluster: KubeSandbox, tmp_path: Path) -> None:
    rb, env = env_of(cluster, tmp_path)
    script = (
        "import os, time\n"
        "from steps.kube import deployment_lock as lease\n"
        "lease.DURATION = 2; lease.RENEW = 0.3\n"
        "from runbook.format.loader import load\n"
        "from steps import default_registry\n"
        f"rb = load({rb.path!r}, default_registry())\n"
        "lease.take_lock(rb.path, rb.environment('prod'), 'dan@d', 'sandbox', False)\n"
        "print('locked', flush=True)\n"
        "time.sleep(60)\n")
    Path(rb.path).write_text(RB.format(ns=cluster.namespace))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            env=cluster.env, cwd=str(Path(__file__).resolve().parents[2]))
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        with pytest.raises(LockError, match="dan@d"):
            take_lock(rb.path, env, "eve@e", "sandbox", dry_run=False)
        proc.kill()  # the holder dies: nothing renews its lease
        proc.wait()
        deadline = time.monotonic() + 10
        while True:
            try:
                mine = take_lock(rb.path, env, "eve@e", "sandbox", dry_run=False)
                break
            except LockError:
                assert time.monotonic() < deadline, "the lease never expired"
                time.sleep(0.3)
        assert mine is not None and "dan@d" in mine.previous
        mine.release()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_break_is_journaled_and_dry_runs_take_no_lock(cluster: KubeSandbox,
                                                      tmp_path: Path) -> None:
    rb, env = env_of(cluster, tmp_path)
    first = take_lock(rb.path, env, "ann@a", "sandbox", dry_run=False)
    assert take_lock(rb.path, env, "ann@a", "sandbox", dry_run=True) is None
    reason = "ann's laptop died mid-window; confirmed with her on the phone"
    mine = take_lock(rb.path, env, "bob@b", "sandbox", dry_run=False, break_reason=reason)
    assert mine is not None and mine.previous.startswith("ann@a")
    run = Run.start(Journal(tmp_path / "j.db"), rb, "prod", {}, default_registry(),
                    Operator("bob", "b", ""), dry_run=False)
    journal_lock(run, mine, reason)
    events = [e for e in run.journal.events(run.meta.id)
              if e.kind in (Ev.GUARD_CONFIRMED, Ev.GUARD_OVERRIDE)]
    assert [e.get("guard") for e in events] == ["lock", "lock-break"]
    assert reason in events[1].get("reason") and "ann@a" in events[1].get("reason")
    mine.release()
    first.release()  # not the holder any more: leaves the new state alone
