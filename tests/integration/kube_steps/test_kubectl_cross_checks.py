"""kubectl agrees after every mutation of every mutating Kubernetes kind, on the strict
emulator with the variety of a real namespace: set-image, rollout-undo (to previous, to
recorded), scale (to a count, to recorded), exec (the pod it ran in), the lock's Lease.

After each: the image, the deployment's template equal to its current ReplicaSet's (the
restored revision's after an undo), the revision, the replicas, the rollout status."""

from __future__ import annotations

import json
from typing import Any

from runbook.execute.stepkind import Outcome
from steps.kube.deployment_lock import take_lock
from tests.integration.conftest import KubeSandbox, requires_kubectl
from tests.integration.kube_steps.conftest import REGISTRY, Harness

REVISION = "deployment.kubernetes.io/revision"
HASH = "pod-template-hash"


def get(kube: KubeSandbox, *args: str) -> Any:
    ran = kube.kubectl("get", *args, "-o", "json")
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout)


def bare(template: dict[str, Any]) -> dict[str, Any]:
    labels = {k: v for k, v in template["metadata"].get("labels", {}).items() if k != HASH}
    return {**template, "metadata": {**template["metadata"], "labels": labels}}


def kubectl_agrees(kube: KubeSandbox, name: str, image: str, revision: str,
                   replicas: int) -> dict[str, Any]:
    """What kubectl says of the deployment matches; its current ReplicaSet (returned)."""
    status = kube.kubectl("rollout", "status", f"deploy/{name}", "--timeout=20s")
    assert status.returncode == 0 and "successfully rolled out" in status.stdout, status.stderr
    dep = get(kube, "deploy", name)
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == image
    assert dep["metadata"]["annotations"][REVISION] == revision
    assert dep["spec"]["replicas"] == replicas
    st = dep["status"]
    assert st["observedGeneration"] >= dep["metadata"]["generation"]
    assert (st.get("updatedReplicas", 0), st.get("readyReplicas", 0),
            st.get("availableReplicas", 0)) == (replicas, replicas, replicas)
    sets = [rs for rs in get(kube, "rs")["items"]
            if rs["metadata"]["ownerReferences"][0]["uid"] == dep["metadata"]["uid"]]
    current = [rs for rs in sets if rs["metadata"]["annotations"][REVISION] == revision]
    assert len(current) == 1, [rs["metadata"]["name"] for rs in sets]
    assert bare(current[0]["spec"]["template"]) == dep["spec"]["template"]
    assert current[0]["status"].get("readyReplicas", 0) == replicas
    return current[0]


@requires_kubectl
def test_kubectl_agrees_after_every_deployment_mutation(vh: Harness) -> None:
    kube, name = vh.kube, "auth-service"
    v1, v2, v3 = (f"{REGISTRY}/{name}:{t}" for t in ("v1.0.0", "v2", "v3"))
    assert vh.run("k8s.versions", kind="check").outcome is Outcome.PASSED
    first = kubectl_agrees(kube, name, v1, "1", 2)

    for image, revision in ((v2, "2"), (v3, "3")):
        ran = vh.run("k8s.set-image", {"deployment": name, "image": image})
        assert ran.outcome is Outcome.PASSED, ran.message
        kubectl_agrees(kube, name, image, revision, 2)
    history = kube.kubectl("rollout", "history", f"deploy/{name}")
    assert f"runbook: set image {name}={v3}" in history.stdout

    ran = vh.run("k8s.rollout-undo", {"deployment": name, "to": "previous"})
    assert ran.outcome is Outcome.PASSED, ran.message
    second = kubectl_agrees(kube, name, v2, "4", 2)  # revision 2's set, re-adopted
    assert second["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "2"

    ran = vh.run("k8s.rollout-undo", {"deployment": name})  # to: recorded
    assert ran.outcome is Outcome.PASSED, ran.message
    again = kubectl_agrees(kube, name, v1, "5", 2)
    assert again["metadata"]["uid"] == first["metadata"]["uid"]  # the recorded revision's set

    ran = vh.run("k8s.scale", {"deployment": name, "replicas": "3"})
    assert ran.outcome is Outcome.PASSED, ran.message
    kubectl_agrees(kube, name, v1, "5", 3)
    ran = vh.run("k8s.scale", {"deployment": name, "replicas": "recorded"})
    assert ran.outcome is Outcome.PASSED, ran.message
    kubectl_agrees(kube, name, v1, "5", 2)


@requires_kubectl
def test_kubectl_agrees_on_the_exec_pod_and_the_lock(vh: Harness) -> None:
    kube = vh.kube
    ran = vh.run("k8s.exec", {"deployment": "asset-service", "command": ["hostname"]})
    assert ran.outcome is Outcome.PASSED, ran.message
    pod = get(kube, "pod", ran.result.facts["pod"])
    rs = get(kube, "rs", pod["metadata"]["ownerReferences"][0]["name"])
    dep = get(kube, "deploy", "asset-service")
    assert rs["metadata"]["ownerReferences"][0]["uid"] == dep["metadata"]["uid"]
    assert bare(rs["spec"]["template"]) == dep["spec"]["template"]  # the current set
    theirs = kube.kubectl("exec", "deploy/asset-service", "--", "hostname")
    assert theirs.returncode == 0 and theirs.stdout.strip().startswith("asset-service-")

    from runbook.format.loader import load_text
    from steps import default_registry
    rb = load_text("runbook: 1\ntitle: L\nenvironments:\n  prod: {namespace: "
                   f"{kube.namespace}, context: sandbox, policy: {{lock: true}}}}\nphases:\n"
                   "  - id: p\n    title: P\n    sections:\n      - id: s\n        title: S\n"
                   "        items:\n          - {id: a, kind: check, title: A, uses: shell, "
                   "with: {argv: ['true']}}\n", str(vh.root / "l.yaml"), default_registry())
    lock = take_lock(rb.path, rb.environment("prod"), "ann@a", "sandbox", dry_run=False)
    assert lock is not None
    try:
        lease = get(kube, "lease", lock.name)
        assert lease["spec"]["holderIdentity"].startswith("ann@a")
        assert lease["spec"]["renewTime"].endswith("Z") and "." in lease["spec"]["renewTime"]
    finally:
        lock.release()
    gone = kube.kubectl("get", "lease", lock.name)
    assert gone.returncode != 0 and "NotFound" in gone.stderr
