"""Issue 14, defects 3 and 8: k8s.exec runs in a pod the deployment controls, of its current
ReplicaSet, in the container named like it; and its timeout (or a cancel) holds after the
command has printed."""

from __future__ import annotations

import threading

from runbook.execute.stepkind import CancelToken, Outcome
from runbook.sandbox.kube import seed
from runbook.sandbox.kube.resources import DEPLOYMENT, POD, REPLICASET
from tests.integration.kube_steps.conftest import REGISTRY, Harness, Ran, in_thread


def in_pod(ran: Ran) -> tuple[str, str]:
    """The (pod, container) the step said it ran in."""
    line = next(x for x in ran.lines if x.startswith("# in pod "))
    pod, _, container = line.removeprefix("# in pod ").partition(", container ")
    return pod, container


def pods_of(h: Harness, app: str) -> list[dict[str, object]]:
    return [p for p in h.kube.emulator.store.list(POD, h.namespace)[0]
            if p["metadata"].get("labels", {}).get("app") == app]


def test_a_match_expressions_deployment_execs_in_its_own_pod(vh: Harness) -> None:
    ran = vh.run("k8s.exec", {"deployment": "asset-service", "command": ["hostname"]})
    assert ran.outcome is Outcome.PASSED, ran.message
    pod, container = in_pod(ran)
    assert pod.startswith("asset-service-") and container == "asset-service"
    assert pod in ran.lines  # hostname printed the pod's name: it ran there


def test_a_pod_with_the_labels_but_not_owned_is_not_used(h: Harness) -> None:
    stray = {"apiVersion": "v1", "kind": "Pod",
             "metadata": {"name": "api-gateway-0debug", "namespace": h.namespace,
                          "labels": {"app": "api-gateway"}},
             "spec": {"containers": [{"name": "api-gateway", "image": "busybox:1.36"}]}}
    h.kube.emulator.seed([stray], settle=False)
    store = h.kube.emulator.store
    assert h.kube.emulator.wait_for(lambda: (store.get(POD, h.namespace, "api-gateway-0debug")
                                             .get("status") or {}).get("phase") == "Running")
    ran = h.run("k8s.exec", {"deployment": "api-gateway", "command": ["hostname"]})
    assert ran.outcome is Outcome.PASSED, ran.message
    pod, _container = in_pod(ran)
    assert pod != "api-gateway-0debug" and pod.startswith("api-gateway-")


def test_pods_of_the_current_replicaset_come_first(h: Harness) -> None:
    store = h.kube.emulator.store
    dep = store.get(DEPLOYMENT, h.namespace, "api-gateway")

    def pause(d: dict[str, object]) -> None:
        d["spec"]["paused"] = True  # type: ignore[index]
    store.modify(DEPLOYMENT, h.namespace, "api-gateway", pause)  # two live sets stay so
    template = dep["spec"]["template"]
    template["metadata"]["labels"]["pod-template-hash"] = "0old"
    template["spec"]["containers"][0]["image"] = f"{REGISTRY}/api-gateway:v0.9.0"
    old = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
           "metadata": {"name": "api-gateway-0old", "namespace": h.namespace,
                        "labels": dict(template["metadata"]["labels"]),
                        "annotations": {"deployment.kubernetes.io/revision": "0"},
                        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": "api-gateway",
                                             "uid": dep["metadata"]["uid"],
                                             "controller": True, "blockOwnerDeletion": True}]},
           "spec": {"replicas": 1, "selector": {"matchLabels": {
               "app": "api-gateway", "pod-template-hash": "0old"}}, "template": template}}
    h.kube.emulator.seed([old], settle=False)
    assert store.find(REPLICASET, h.namespace, "api-gateway-0old") is not None
    assert h.kube.emulator.wait_for(lambda: any(
        str(p["metadata"]["name"]).startswith("api-gateway-0old-")
        and (p.get("status") or {}).get("phase") == "Running"  # type: ignore[union-attr]
        for p in pods_of(h, "api-gateway")))
    ran = h.run("k8s.exec", {"deployment": "api-gateway", "command": ["hostname"]})
    assert ran.outcome is Outcome.PASSED, ran.message
    pod, _container = in_pod(ran)
    assert pod.startswith("api-gateway-") and not pod.startswith("api-gateway-0old-")


def test_the_container_is_chosen_by_name_beside_a_sidecar(h: Harness) -> None:
    mailer = seed.deployment("mailer", h.namespace, f"{REGISTRY}/mailer:v1", 1)
    containers = mailer["spec"]["template"]["spec"]["containers"]
    containers.insert(0, {"name": "istio-proxy", "image": "istio/proxyv2:1.24.2"})
    h.kube.emulator.seed([mailer], settle=False)
    assert h.kube.emulator.wait_rolled_out(h.namespace, "mailer")
    ran = h.run("k8s.exec", {"deployment": "mailer", "command": ["env"]})
    assert ran.outcome is Outcome.PASSED, ran.message
    assert in_pod(ran)[1] == "mailer"
    assert "SERVICE_NAME=mailer" in ran.lines  # the env of the mailer container
    side = h.run("k8s.exec", {"deployment": "mailer", "container": "istio-proxy",
                              "command": ["env"]})
    assert side.outcome is Outcome.PASSED and in_pod(side)[1] == "istio-proxy"
    assert "SERVICE_NAME=mailer" not in side.lines
    unknown = h.run("k8s.exec", {"deployment": "mailer", "container": "nope",
                                 "command": ["env"]})
    assert unknown.outcome is Outcome.FAILED and "no container 'nope'" in unknown.message


def test_the_timeout_holds_after_the_command_printed(h: Harness) -> None:
    h.kube.emulator.faults.hang_exec("npx prisma migrate deploy",
                                     ("Applying migration `20260101_payouts`",))
    t, box = in_thread(lambda: h.run("k8s.exec", {
        "deployment": "payout-service", "command": ["npx", "prisma", "migrate", "deploy"],
        "timeout": "2s"}))
    t.join(30)
    assert not t.is_alive(), "k8s.exec blocked past its timeout after the command printed"
    ran: Ran = box[0]
    assert ran.outcome is Outcome.TIMED_OUT, ran.message
    assert "Applying migration `20260101_payouts`" in ran.lines
    assert ran.seconds < 15


def test_a_cancel_holds_after_the_command_printed(h: Harness) -> None:
    h.kube.emulator.faults.hang_exec("npx prisma migrate deploy", ("Applying migration `x`",))
    cancel = CancelToken()
    printed = threading.Event()

    def seen(batch: list[str]) -> None:
        if any("Applying" in line for line in batch):
            printed.set()
    t, box = in_thread(lambda: h.run("k8s.exec", {
        "deployment": "payout-service", "command": ["npx", "prisma", "migrate", "deploy"],
        "timeout": "10m"}, cancel=cancel, on_lines=seen))
    assert printed.wait(20)
    cancel.cancel("operator stop")
    t.join(20)
    assert not t.is_alive(), "k8s.exec ignored the cancel after the command printed"
    ran: Ran = box[0]
    assert ran.outcome is Outcome.CANCELLED, ran.message
