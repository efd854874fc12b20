"""Issue 14, defects 11, 12 and 14: the deployment lock on a strict emulator (Lease times must
have six fractional digits). Expiry is judged by when we saw the lease change, not by the
holder's clock; a run whose lock was broken refuses mutating items until it re-takes it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from runbook.execute.stepkind import Outcome
from runbook.format.loader import load_text
from runbook.journal.sqlite import Journal
from runbook.rules.events import Ev
from runbook.session.operator import Operator
from runbook.session.run import Refused, Run
from steps import default_registry
from steps.kube import deployment_lock as lease
from steps.kube.client import api_client, coordination, forget_clients
from steps.kube.deployment_lock import DeploymentLock, LockError, journal_lock, take_lock
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
          - {{id: look, kind: check, title: Look, uses: shell, with: {{argv: ["true"]}}}}
          - {{id: change, kind: action, title: Change, uses: shell, with: {{argv: ["true"]}}}}
"""


@pytest.fixture
def cluster(kube: KubeSandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[KubeSandbox]:
    monkeypatch.setattr(lease, "DURATION", 2)
    monkeypatch.setattr(lease, "RENEW", 0.3)
    monkeypatch.setenv("RUNBOOK_DETACH", "0")
    assert kube.emulator.faults.strict_micro_time
    yield kube


def runbook_of(cluster: KubeSandbox, tmp_path: Path) -> Any:
    return load_text(RB.format(ns=cluster.namespace), str(tmp_path / "lock-test.yaml"),
                     default_registry())


def micro(at: float) -> str:
    moment = datetime.fromtimestamp(at, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class SkewedHolder:
    """A live holder renewing every 0.3 s with its clock `behind` seconds slow."""

    def __init__(self, cluster: KubeSandbox, name: str, behind: float) -> None:
        self.api = coordination(api_client("sandbox", str(cluster.kubeconfig)))
        self.ns, self.name, self.behind = cluster.namespace, name, behind
        self.stop = threading.Event()
        now = micro(time.time() - behind)
        self.api.create_namespaced_lease(self.ns, {"metadata": {"name": name}, "spec": {
            "holderIdentity": "far@away", "leaseDurationSeconds": 2, "acquireTime": now,
            "renewTime": now, "leaseTransitions": 0}})
        self.thread = threading.Thread(target=self.renew, daemon=True)
        self.thread.start()

    def renew(self) -> None:
        while not self.stop.wait(0.3):
            self.api.patch_namespaced_lease(self.name, self.ns, {"spec": {
                "renewTime": micro(time.time() - self.behind)}})


def test_a_live_holder_with_a_slow_clock_keeps_the_lock(cluster: KubeSandbox,
                                                         tmp_path: Path) -> None:
    rb = runbook_of(cluster, tmp_path)
    name = lease.lease_name(rb.path, "prod")
    holder = SkewedHolder(cluster, name, behind=45)
    try:
        started = time.monotonic()
        with pytest.raises(LockError, match="far@away"):
            take_lock(rb.path, rb.environment("prod"), "eve@e", "sandbox", dry_run=False)
        assert time.monotonic() - started < 10
    finally:
        holder.stop.set()
        holder.thread.join(5)
    # once it stops renewing, it is seen unchanged for its duration and taken over
    mine = take_lock(rb.path, rb.environment("prod"), "eve@e", "sandbox", dry_run=False)
    assert mine is not None and mine.previous == "far@away"
    got = coordination(api_client("sandbox", str(cluster.kubeconfig))).read_namespaced_lease(
        name, cluster.namespace)
    assert got.spec.holder_identity.startswith("eve@e") and got.spec.lease_transitions == 1
    mine.release()


def test_a_broken_lock_refuses_mutating_items_until_re_taken(cluster: KubeSandbox,
                                                             tmp_path: Path) -> None:
    rb = runbook_of(cluster, tmp_path)
    env = rb.environment("prod")
    first = take_lock(rb.path, env, "ann@a", "sandbox", dry_run=False)
    assert first is not None
    run = Run.start(Journal(tmp_path / "j.db"), rb, "prod", {}, default_registry(),
                    Operator("ann", "a", ""), dry_run=False)
    journal_lock(run, first, "")
    second = take_lock(rb.path, env, "bob@b", "sandbox", dry_run=False,
                       break_reason="ann is unreachable")
    assert second is not None
    # the renewer notices at its next renewal
    cluster.emulator.wait_for(lambda: bool(getattr(first, "lost", "")), timeout=10)
    with pytest.raises(Refused, match="was lost"):
        run.execute("change")
    lost = [e for e in run.journal.events(run.meta.id)
            if e.kind is Ev.GUARD_WARNING and e.get("guard") == "lock.lost"]
    assert len(lost) == 1 and lost[0].get("item") == "change"
    assert "bob@b" in lost[0].get("reason")
    assert run.execute("look").outcome is Outcome.PASSED  # reading is still allowed
    with pytest.raises(lease.LockHeld):
        first.retake()  # bob holds it, live
    second.release()
    first.retake()
    assert first.guard() is None
    assert run.execute("change").outcome is Outcome.PASSED
    first.release()


def test_lease_times_always_have_six_fractional_digits(cluster: KubeSandbox,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A real server rejects a MicroTime without them (the strict emulator does too); the
    client's models drop them when the microseconds are 0, so the lock must not use them."""
    class WholeSeconds(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return datetime.now(tz).replace(microsecond=0)

        @classmethod
        def fromtimestamp(cls, t: float, tz: Any = None) -> Any:
            return datetime.fromtimestamp(int(t), tz)
    monkeypatch.setattr(lease, "datetime", WholeSeconds)
    api = api_client("sandbox", str(cluster.kubeconfig))
    lock = DeploymentLock(api, cluster.namespace, "whole-seconds", "ann@a")
    lock.acquire()
    store = cluster.emulator.store
    first = store.find(lease_resource(), cluster.namespace, "whole-seconds")
    assert first is not None

    def renewed_twice() -> bool:
        now = store.find(lease_resource(), cluster.namespace, "whole-seconds") or {}
        return int(now["metadata"]["resourceVersion"]) >= int(
            first["metadata"]["resourceVersion"]) + 2
    # each renewal is a PUT the strict server refuses without the six digits
    assert cluster.emulator.wait_for(renewed_twice, timeout=10)
    assert not getattr(lock, "lost", "")
    got = store.find(lease_resource(), cluster.namespace, "whole-seconds")
    assert got is not None and got["spec"]["renewTime"].endswith(".000000Z")
    lock.release()
    assert lease.micro_time(1767225600.0) == "2026-01-01T00:00:00.000000Z"


def test_the_renewer_notices_a_deleted_lease(cluster: KubeSandbox, tmp_path: Path) -> None:
    api = api_client("sandbox", str(cluster.kubeconfig))
    lock = DeploymentLock(api, cluster.namespace, "deleted", "ann@a")
    seen: list[str] = []
    lock.on_lost.append(seen.append)
    lock.acquire()
    coordination(api).delete_namespaced_lease("deleted", cluster.namespace)
    assert cluster.emulator.wait_for(lambda: bool(seen), timeout=10)
    assert seen == ["the lease was deleted"] and lock.guard() is not None
    forget_clients()


def lease_resource() -> Any:
    from runbook.sandbox.kube.resources import by_kind
    return by_kind("Lease")
