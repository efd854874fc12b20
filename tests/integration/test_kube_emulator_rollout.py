"""The Kubernetes API emulator's deployment controller, judged by kubectl rollout, scale,
events and delete.

Shared helpers are in kube_emulator_helpers.py; the `kube` fixture is in conftest.py."""

from __future__ import annotations

import json
import time

from runbook.sandbox.kube import CREATORBRIDGE_SERVICES
from tests.integration.conftest import KubeSandbox, requires_kubectl
from tests.integration.kube_emulator_helpers import REGISTRY, apps, core, image_of

# -- the deployment controller, judged by kubectl rollout -------------------------------


@requires_kubectl
def test_set_image_rollout_status_and_undo(kube: KubeSandbox) -> None:
    name = "billing-service"
    changed = kube.kubectl("set", "image", f"deployment/{name}", f"{name}={REGISTRY}/{name}:v2.0.0")
    assert changed.returncode == 0 and "image updated" in changed.stdout
    status = kube.kubectl("rollout", "status", f"deployment/{name}", "--timeout=30s")
    assert status.returncode == 0, status.stderr
    assert f'deployment "{name}" successfully rolled out' in status.stdout
    assert image_of(kube, name) == f"{REGISTRY}/{name}:v2.0.0"

    def images() -> list[str]:  # old pods may still be terminating when the rollout is done
        return sorted(p.spec.containers[0].image for p in core(kube).list_namespaced_pod(
            kube.namespace, label_selector=f"app={name}").items)
    assert kube.emulator.wait_for(lambda: images() == [f"{REGISTRY}/{name}:v2.0.0"] * 2)
    sets = apps(kube).list_namespaced_replica_set(kube.namespace, label_selector=f"app={name}")
    revisions = sorted(int(rs.metadata.annotations["deployment.kubernetes.io/revision"])
                       for rs in sets.items)
    assert revisions == [1, 2]
    assert all(rs.metadata.owner_references[0].kind == "Deployment" for rs in sets.items)
    assert all("pod-template-hash" in rs.metadata.labels for rs in sets.items)

    undo = kube.kubectl("rollout", "undo", f"deployment/{name}")
    assert undo.returncode == 0 and "rolled back" in undo.stdout, undo.stderr
    again = kube.kubectl("rollout", "status", f"deployment/{name}", "--timeout=30s")
    assert again.returncode == 0 and "successfully rolled out" in again.stdout
    assert image_of(kube, name) == f"{REGISTRY}/{name}:v1.0.0"
    dep = apps(kube).read_namespaced_deployment(name, kube.namespace)
    assert dep.metadata.annotations["deployment.kubernetes.io/revision"] == "3"
    history = kube.kubectl("rollout", "history", f"deployment/{name}")
    assert history.returncode == 0 and "2 " in history.stdout and "3 " in history.stdout



@requires_kubectl
def test_bad_image_exceeds_the_progress_deadline(kube: KubeSandbox) -> None:
    name = "payout-service"
    deadline = 300  # seconds in the spec; 1.5 s of wall time at the fixture's 0.005 scale
    kube.kubectl("patch", "deployment", name, "-p",
                 json.dumps({"spec": {"progressDeadlineSeconds": deadline}}))
    started = time.monotonic()
    kube.kubectl("set", "image", f"deployment/{name}", f"{name}={REGISTRY}/{name}:bad-tag")
    status = kube.kubectl("rollout", "status", f"deployment/{name}", "--timeout=30s")
    elapsed = time.monotonic() - started
    assert status.returncode == 1
    assert f'deployment "{name}" exceeded its progress deadline' in status.stderr
    assert elapsed >= deadline * kube.emulator.timing.deadline_scale
    pods = kube.kubectl("get", "pods", "-l", f"app={name}")
    assert "ImagePullBackOff" in pods.stdout and pods.stdout.count("Running") == 2
    dep = apps(kube).read_namespaced_deployment(name, kube.namespace)
    progressing = next(c for c in dep.status.conditions if c.type == "Progressing")
    assert (progressing.status, progressing.reason) == ("False", "ProgressDeadlineExceeded")
    assert dep.status.available_replicas == 2 and dep.status.unavailable_replicas == 1
    warnings = kube.kubectl("get", "events", "--field-selector", "type=Warning")
    assert "ErrImagePull" in warnings.stdout or "ImagePullBackOff" in warnings.stdout
    # Undo rescues it: the old ReplicaSet comes back and the broken pod goes.
    assert kube.kubectl("rollout", "undo", f"deployment/{name}").returncode == 0
    assert kube.kubectl("rollout", "status", f"deployment/{name}", "--timeout=30s").returncode == 0
    assert kube.emulator.wait_for(lambda: len(core(kube).list_namespaced_pod(
        kube.namespace, label_selector=f"app={name}").items) == 2)



@requires_kubectl
def test_twelve_deployments_roll_in_a_few_seconds(kube: KubeSandbox) -> None:
    started = time.monotonic()
    for name in CREATORBRIDGE_SERVICES:
        kube.kubectl("set", "image", f"deployment/{name}", f"{name}={REGISTRY}/{name}:v1.1.0")
    assert kube.emulator.wait_rolled_out(kube.namespace, timeout=20)
    assert time.monotonic() - started < 10
    wanted = {f"{REGISTRY}/{n}:v1.1.0" for n in CREATORBRIDGE_SERVICES}
    assert kube.emulator.wait_for(lambda: {p.spec.containers[0].image for p in core(
        kube).list_namespaced_pod(kube.namespace).items} == wanted)



@requires_kubectl
def test_scale_with_kubectl_and_the_client(kube: KubeSandbox) -> None:
    out = kube.kubectl("scale", "deployment/auth-service", "--replicas=3")
    assert out.returncode == 0 and "scaled" in out.stdout
    assert kube.emulator.wait_for(lambda: len(core(kube).list_namespaced_pod(
        kube.namespace, label_selector="app=auth-service",
        field_selector="status.phase=Running").items) == 3)
    scale = apps(kube).read_namespaced_deployment_scale("auth-service", kube.namespace)
    assert scale.spec.replicas == 3 and scale.status.selector == "app=auth-service"
    apps(kube).patch_namespaced_deployment_scale("auth-service", kube.namespace,
                                                 {"spec": {"replicas": 1}})
    assert kube.emulator.wait_rolled_out(kube.namespace, "auth-service")
    everything = kube.kubectl("scale", "deployment", "--all", "--replicas=0")
    assert everything.returncode == 0 and everything.stdout.count("scaled") == 12
    assert kube.emulator.wait_for(lambda: not core(kube).list_namespaced_pod(kube.namespace).items)


# -- events and deletion ----------------------------------------------------------------


@requires_kubectl
def test_events_after_a_rollout(kube: KubeSandbox) -> None:
    kube.kubectl("set", "image", "deployment/user-service", f"user-service={REGISTRY}/user-service:v2")
    assert kube.emulator.wait_rolled_out(kube.namespace, "user-service")
    events = kube.kubectl("get", "events")
    assert events.returncode == 0
    assert events.stdout.splitlines()[0].split()[:4] == ["LAST", "SEEN", "TYPE", "REASON"]
    assert "ScalingReplicaSet" in events.stdout and "deployment/user-service" in events.stdout
    listed = core(kube).list_namespaced_event(
        kube.namespace, field_selector="involvedObject.kind=Deployment,reason=ScalingReplicaSet")
    assert any("Scaled up replica set user-service-" in e.message for e in listed.items)



@requires_kubectl
def test_deleting_a_deployment_removes_its_pods(kube: KubeSandbox) -> None:
    out = kube.kubectl("delete", "deployment", "notification-service")
    assert out.returncode == 0
    assert kube.emulator.wait_for(lambda: not core(kube).list_namespaced_pod(
        kube.namespace, label_selector="app=notification-service").items)
    assert not apps(kube).list_namespaced_replica_set(
        kube.namespace, label_selector="app=notification-service").items
