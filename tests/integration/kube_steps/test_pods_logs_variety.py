"""Issue 14, defects 6 and 7, in a namespace with the variety of a real one: k8s.pods judges
the pods of workloads and reports the Completed and Evicted ones apart; k8s.logs reads every
pod's log (the container named or defaulted as kubectl does) or fails saying which not."""

from __future__ import annotations

from runbook.execute.stepkind import Outcome
from runbook.sandbox.kube.resources import POD
from tests.integration.kube_steps.conftest import REGISTRY, Harness


def test_pods_reports_completed_and_evicted_pods_apart(vh: Harness) -> None:
    ran = vh.run("k8s.pods", kind="check")
    assert ran.outcome is Outcome.PASSED, ran.message
    assert ran.message.startswith("25 pods running and ready; 2 other pod(s) not judged: ")
    assert "db-backup-29012345-x7k2p Completed" in ran.message
    assert "Evicted" in ran.message
    assert any("(Job db-backup-29012345; not judged)" in line for line in ran.lines)
    # a workload pod that is not ready still fails, and the others are still said apart
    vh.run("k8s.set-image", {"deployment": "billing-service", "wait": False,
                             "image": f"{REGISTRY}/billing-service:bad-1"})
    assert vh.kube.emulator.wait_for(lambda: "ImagePull" in vh.run(
        "k8s.pods", {"selector": "app=billing-service"}, kind="check").message, timeout=10)
    bad = vh.run("k8s.pods", {"selector": "app=billing-service"}, kind="check")
    assert bad.outcome is Outcome.FAILED and "not running and ready" in bad.message
    assert "1 other pod(s) not judged" in bad.message and "Evicted" in bad.message
    job = vh.run("k8s.pods", {"selector": "job-name=db-backup-29012345"}, kind="check")
    assert job.outcome is Outcome.FAILED
    assert job.message.startswith("no pods of deployments found; 1 other pod(s) not judged")


def test_logs_of_pods_with_a_sidecar_are_read(vh: Harness) -> None:
    ran = vh.run("k8s.logs", {"selector": "app=notification-service", "fail_on": "ERROR"},
                 kind="check")
    assert ran.outcome is Outcome.PASSED, (ran.message, ran.lines)
    assert ran.message == "read logs of 2 pod(s)"
    assert sum("INFO starting notification-service" in line for line in ran.lines) == 2
    assert any("Defaulted container 'notification-service' out of: notification-service, "
               "log-shipper" in line for line in ran.lines)
    side = vh.run("k8s.logs", {"selector": "app=notification-service",
                               "container": "log-shipper"}, kind="check")
    assert side.outcome is Outcome.PASSED, side.message
    assert sum("INFO starting log-shipper" in line for line in side.lines) == 2
    none = vh.run("k8s.logs", {"selector": "app=notification-service", "container": "nope"},
                  kind="check")
    assert none.outcome is Outcome.FAILED and "no container 'nope'" in none.message


def test_an_unreadable_pod_fails_the_logs_check(vh: Harness) -> None:
    vh.run("k8s.set-image", {"deployment": "billing-service", "wait": False,
                             "image": f"{REGISTRY}/billing-service:bad-2"})
    store = vh.kube.emulator.store

    def waiting() -> bool:
        return any(cs.get("state", {}).get("waiting", {}).get("reason") in (
            "ErrImagePull", "ImagePullBackOff")
            for p in store.list(POD, vh.namespace)[0]
            if p["metadata"]["labels"].get("app") == "billing-service"
            for cs in (p.get("status") or {}).get("containerStatuses") or [])
    assert vh.kube.emulator.wait_for(waiting, timeout=10)
    ran = vh.run("k8s.logs", {"selector": "app=billing-service", "fail_on": "ERROR"},
                 kind="check")
    assert ran.outcome is Outcome.FAILED, ran.message
    assert ran.message.startswith("could not read the logs of 1 of 3 pod(s): billing-service-")
    assert "is waiting to start" in ran.message
    assert any("Evicted: its containers are gone, not read" in line for line in ran.lines)
    assert ran.result.facts["read"] == 2 and ran.result.facts["unreadable"] == 1
    # fail_on still counts what was read
    pod = next(p["metadata"]["name"] for p in store.list(POD, vh.namespace)[0]
               if p["metadata"]["labels"].get("app") == "billing-service"
               and (p.get("status") or {}).get("phase") == "Running")
    vh.kube.emulator.logs.append(vh.namespace, pod, "billing-service",
                                 "2026-01-01T00:00:00Z ERROR stripe webhook signature")
    both = vh.run("k8s.logs", {"selector": "app=billing-service", "fail_on": "ERROR"},
                  kind="check")
    assert both.outcome is Outcome.FAILED and both.message.endswith("1 line(s) match 'ERROR'")
