"""Issue 14, defects 1 and 2, on the strict emulator (watch events 50 ms after the write,
the sticky deadline condition): a rollout is judged only on a copy that shows the PATCH.

1. With the deployment watch already open (the previous item of a foreach), the cached copy
   of the next deployment is the one from before its PATCH, and it reads "rolled out".
2. After a deadline failure, the undo's first status for the new generation still carries
   Progressing=False/ProgressDeadlineExceeded (the controller re-adopts the old ReplicaSet):
   that condition belongs to the replaced rollout and must not fail the undo.
"""

from __future__ import annotations

from typing import Any

from runbook.execute.stepkind import Outcome
from runbook.sandbox.kube.resources import DEPLOYMENT
from tests.integration.conftest import requires_kubectl
from tests.integration.kube_steps.conftest import REGISTRY, Harness, image_of


def up_to_date(h: Harness, name: str) -> tuple[int, int]:
    """kubectl's UP-TO-DATE and AVAILABLE columns (updated and available replicas)."""
    got = h.kube.kubectl("get", "deploy", name, "-o",
                         "jsonpath={.status.updatedReplicas} {.status.availableReplicas} "
                         "{.metadata.generation} {.status.observedGeneration}")
    updated, available, generation, observed = (got.stdout.split() + ["0"] * 4)[:4]
    assert int(observed) >= int(generation), got.stdout
    return int(updated or 0), int(available or 0)


@requires_kubectl
def test_items_of_a_foreach_set_image_are_not_rolled_out_before_they_are(h: Harness) -> None:
    names = ["api-gateway", "auth-service", "user-service"]
    for name in names:  # back to back: the watch of the first item is shared by the next
        ran = h.run("k8s.set-image", {"deployment": name, "image": f"{REGISTRY}/{name}:v1.1.0"})
        assert ran.outcome is Outcome.PASSED, ran.message
        assert ran.message == f'deployment "{name}" successfully rolled out'
        # kubectl agrees at once: every replica is of the new template and available
        assert up_to_date(h, name) == (2, 2), name
        assert h.kube.emulator.rolled_out(h.namespace, name), name
        assert image_of(h.kube, name) == f"{REGISTRY}/{name}:v1.1.0"
        status = h.kube.kubectl("rollout", "status", f"deployment/{name}", "--timeout=1s")
        assert status.returncode == 0 and "successfully rolled out" in status.stdout


def statuses_during(h: Harness, name: str, run: Any) -> tuple[Any, list[dict[str, Any]]]:
    store = h.kube.emulator.store
    watcher = store.watch(DEPLOYMENT, h.namespace, str(store.resource_version))
    try:
        result = run()
        seen = []
        while (event := watcher.next(0.3)) is not None:
            if event["object"]["metadata"]["name"] == name:
                seen.append(event["object"])
        return result, seen
    finally:
        store.unwatch(watcher)


@requires_kubectl
def test_an_undo_after_a_deadline_failure_is_not_reported_failed(h: Harness) -> None:
    name = "payout-service"
    assert h.run("k8s.versions", kind="check").outcome is Outcome.PASSED
    bad = h.run("k8s.set-image", {"deployment": name, "image": f"{REGISTRY}/{name}:bad-7",
                                  "timeout": "60s"})
    assert bad.outcome is Outcome.FAILED
    assert bad.message == f'deployment "{name}" exceeded its progress deadline'
    undo, seen = statuses_during(h, name, lambda: h.run("k8s.rollout-undo", {"deployment": name}))
    assert undo.outcome is Outcome.PASSED, (undo.message, undo.lines)
    assert undo.message == f'deployment "{name}" successfully rolled out'
    # the case was there: the first status of the undo's generation kept the old condition
    generation = max(int(d["metadata"]["generation"]) for d in seen)
    first = next(d for d in seen if d["status"].get("observedGeneration") == generation)
    assert any(c.get("reason") == "ProgressDeadlineExceeded"
               for c in first["status"]["conditions"]), first["status"]
    # and kubectl agrees the rollback succeeded, on the recorded image
    status = h.kube.kubectl("rollout", "status", f"deployment/{name}", "--timeout=10s")
    assert status.returncode == 0 and "successfully rolled out" in status.stdout, status.stderr
    assert image_of(h.kube, name) == f"{REGISTRY}/{name}:v1.0.0"
    assert up_to_date(h, name) == (2, 2)


@requires_kubectl
def test_rollout_status_is_not_done_on_the_copy_from_before_a_change_made_elsewhere(
        h: Harness) -> None:
    """k8s.rollout-status has no PATCH of its own: it reads the deployment first and judges
    only a copy at least that new (the shared watch still holds the older one)."""
    assert h.run("k8s.set-image", {"deployment": "api-gateway",
                                   "image": f"{REGISTRY}/api-gateway:v1.1.0"}).outcome \
        is Outcome.PASSED  # its watch lingers, shared by the next step
    h.kube.emulator.faults.watch_latency = 0.5
    changed = h.kube.kubectl("set", "image", "deploy/auth-service",
                             f"auth-service={REGISTRY}/auth-service:v1.1.0")
    assert changed.returncode == 0, changed.stderr
    ran = h.run("k8s.rollout-status", {"deployment": "auth-service"}, kind="check")
    assert ran.outcome is Outcome.PASSED, ran.message
    assert up_to_date(h, "auth-service") == (2, 2)
    assert image_of(h.kube, "auth-service") == f"{REGISTRY}/auth-service:v1.1.0"
