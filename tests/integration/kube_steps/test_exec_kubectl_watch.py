"""k8s step kinds through Run.execute on the emulator:
exec and logs; agreement with the real kubectl; one watch for many rollouts."""

from __future__ import annotations

import threading
import time

from runbook.execute.stepkind import Outcome
from runbook.sandbox.kube.resources import DEPLOYMENT, by_kind
from steps.kube.rollout import LINGER, DeploymentWatch
from tests.integration.conftest import KubeSandbox, requires_kubectl
from tests.integration.kube_steps.conftest import (
    REGISTRY,
    Harness,
    Ran,
    image_of,
)

# -- exec and logs ------------------------------------------------------------------------


def test_exec_exit_zero_and_non_zero(h: Harness) -> None:
    ok = h.run("k8s.exec", {"deployment": "asset-service",
                            "command": ["npx", "prisma", "migrate", "deploy"], "timeout": "20s"})
    assert ok.outcome is Outcome.PASSED and ok.message == "exit status 0", ok.message
    assert ok.result.exit_code == 0
    assert any("No pending migrations to apply." in line for line in ok.lines)
    h.kube.emulator.faults.fail_exec("npx prisma", 2, "Error: P1001: Can't reach database")
    bad = h.run("k8s.exec", {"deployment": "asset-service",
                             "command": ["npx", "prisma", "migrate", "deploy"],
                             "timeout": "20s"})
    assert bad.outcome is Outcome.FAILED and bad.message == "exit status 2"
    assert bad.result.exit_code == 2
    assert any("P1001" in line for line in bad.lines)
    assert bad.seconds < 5
    gone = h.run("k8s.exec", {"deployment": "no-such", "command": ["true"]})
    assert gone.outcome is Outcome.FAILED and "404" in gone.message


def test_logs_with_fail_on(h: Harness) -> None:
    ok = h.run("k8s.logs", {"selector": "app=api-gateway", "fail_on": "ERROR"}, kind="check")
    assert ok.outcome is Outcome.PASSED, ok.message
    assert ok.message == "read logs of 2 pod(s)"
    assert any("listening on :8080" in line for line in ok.lines)
    pod = next(p["metadata"]["name"] for p in h.kube.emulator.store.list(
        by_kind("Pod"),
        h.namespace)[0] if p["metadata"]["labels"].get("app") == "api-gateway")
    h.kube.emulator.logs.append(h.namespace, pod, "api-gateway",
                                "2025-01-01T00:00:00Z ERROR payment provider timeout")
    bad = h.run("k8s.logs", {"selector": "app=api-gateway", "fail_on": "ERROR"}, kind="check")
    assert bad.outcome is Outcome.FAILED and bad.message == "1 line(s) match 'ERROR'"
    none = h.run("k8s.logs", {"selector": "app=nothing"}, kind="check")
    assert none.outcome is Outcome.FAILED and "no pods match" in none.message


# -- against the real kubectl -------------------------------------------------------------


@requires_kubectl
def test_set_image_agrees_with_kubectl(h: Harness) -> None:
    image = f"{REGISTRY}/creator-service:v2.0.0"
    ran = h.run("k8s.set-image", {"deployment": "creator-service", "image": image})
    assert ran.outcome is Outcome.PASSED
    started = time.monotonic()
    status = h.kube.kubectl("rollout", "status", "deployment/creator-service", "--timeout=30s")
    assert status.returncode == 0, status.stderr
    assert time.monotonic() - started < 3
    assert "successfully rolled out" in status.stdout
    got = h.kube.kubectl("get", "deploy", "creator-service", "-o",
                         "jsonpath={.spec.template.spec.containers[0].image}")
    assert got.stdout == image
    undo = h.kube.kubectl("rollout", "undo", "deployment/creator-service")
    assert undo.returncode == 0, undo.stderr
    ours = h.run("k8s.rollout-status", {"deployment": "creator-service"}, kind="check")
    theirs = h.kube.kubectl("rollout", "status", "deployment/creator-service", "--timeout=30s")
    assert ours.outcome is Outcome.PASSED and theirs.returncode == 0
    assert ours.message in theirs.stdout
    assert image_of(h.kube, "creator-service").endswith(":v1.0.0")


@requires_kubectl
def test_bad_image_fails_in_both(h: Harness) -> None:
    ran = h.run("k8s.set-image", {"deployment": "rights-service",
                                  "image": f"{REGISTRY}/rights-service:bad-2"})
    theirs = h.kube.kubectl("rollout", "status", "deployment/rights-service", "--timeout=30s")
    assert ran.outcome is Outcome.FAILED and theirs.returncode != 0
    assert "exceeded its progress deadline" in ran.message
    assert "exceeded its progress deadline" in theirs.stderr


# -- one watch for many rollouts ----------------------------------------------------------


def deployment_watches(kube: KubeSandbox) -> int:
    store = kube.emulator.store
    with store.lock:
        return sum(1 for w in store._watchers if w.res is DEPLOYMENT and not w.closed)


def test_one_deployment_watch_for_twelve_rollouts(h: Harness) -> None:
    from runbook.sandbox.kube import CREATORBRIDGE_SERVICES
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], deployment_watches(h.kube))
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        for name in CREATORBRIDGE_SERVICES:  # one after another
            ran = h.run("k8s.set-image", {"deployment": name, "image": f"{REGISTRY}/{name}:v2"})
            assert ran.outcome is Outcome.PASSED, ran.message
        assert peak[0] == 1, f"{peak[0]} deployment watches at once (sequential)"
        peak[0] = 0
        started = time.monotonic()
        results: list[Ran] = []
        lock = threading.Lock()

        def one(name: str) -> None:
            harness = Harness(h.root / f"c-{name}", h.kube)
            try:
                r = harness.run("k8s.set-image", {"deployment": name,
                                                  "image": f"{REGISTRY}/{name}:v3"})
            finally:
                harness.close()
            with lock:
                results.append(r)

        for name in CREATORBRIDGE_SERVICES:
            (h.root / f"c-{name}").mkdir()
        threads = [threading.Thread(target=one, args=(n,)) for n in CREATORBRIDGE_SERVICES]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert all(not t.is_alive() for t in threads)
        assert len(results) == 12 and all(r.outcome is Outcome.PASSED for r in results), \
            [r.message for r in results]
        assert time.monotonic() - started < 15
        assert peak[0] == 1, f"{peak[0]} deployment watches at once (concurrent)"
    finally:
        stop.set()
        sampler.join(1)
    watches = [p for m, p in h.kube.emulator.requests
               if "/deployments" in p and "watch=" in p and m == "GET"]
    assert watches  # the followers did watch
    # closed LINGER seconds after the last follower left, connection and all
    shared = list(DeploymentWatch._shared.values())
    assert len(shared) == 1
    assert h.kube.emulator.wait_for(lambda: not DeploymentWatch._shared, timeout=LINGER + 2)
    shared[0]._thread.join(2)
    assert not shared[0]._thread.is_alive()  # the connection was cut, not left to time out
