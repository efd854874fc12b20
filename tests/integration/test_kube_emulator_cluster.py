"""The Kubernetes API emulator's cluster: start-up, the seeded world, its command line,
objects that fit the official client's models, and the life cycle of bare pods and namespaces.

Shared helpers are in kube_emulator_helpers.py; the `kube` fixture is in conftest.py."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from runbook.sandbox.kube import CREATORBRIDGE_SERVICES, KubeEmulator
from tests.integration.conftest import NAMESPACE, KubeSandbox, fast_timing, requires_kubectl
from tests.integration.kube_emulator_helpers import REGISTRY, apps, core, raw

# -- start-up and discovery -------------------------------------------------------------


def test_starts_well_under_a_second(tmp_path: Path) -> None:
    started = time.perf_counter()
    emulator = KubeEmulator(timing=fast_timing(), seed_namespace=NAMESPACE).start()
    elapsed = time.perf_counter() - started
    try:
        assert elapsed < 1.0, f"start-up took {elapsed:.3f}s"
        assert emulator.url.startswith("http://127.0.0.1:")
        assert emulator.rolled_out(NAMESPACE)  # seeded steady: 12 deployments, 24 pods Ready
    finally:
        emulator.stop()



def test_seeded_world_through_the_client(kube: KubeSandbox) -> None:
    api = kube.api_client()
    assert client.VersionApi(api).get_code().git_version.startswith("v1.")
    deps = apps(kube).list_namespaced_deployment(kube.namespace).items
    assert sorted(d.metadata.name for d in deps) == sorted(CREATORBRIDGE_SERVICES)
    for d in deps:
        assert d.spec.template.spec.containers[0].image == f"{REGISTRY}/{d.metadata.name}:v1.0.0"
        assert d.spec.replicas == 2 and d.status.ready_replicas == 2
    pods = core(kube).list_namespaced_pod(kube.namespace).items
    assert len(pods) == 24 and {p.status.phase for p in pods} == {"Running"}
    nodes = core(kube).list_node().items
    assert nodes and all(n.status.allocatable["cpu"] for n in nodes)
    secret = core(kube).read_namespaced_secret("creatorbridge-secrets", kube.namespace)
    assert "DATABASE_URL" in secret.data
    pvcs = core(kube).list_namespaced_persistent_volume_claim(kube.namespace).items
    assert pvcs and {p.status.phase for p in pvcs} == {"Bound"}
    leases = client.CoordinationV1Api(api).list_namespaced_lease(kube.namespace).items
    assert leases and leases[0].spec.holder_identity



@requires_kubectl
def test_kubectl_get_pods_and_deployments_match_the_client(kube: KubeSandbox) -> None:
    table = kube.kubectl("get", "pods")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    listed = {line.split()[0] for line in lines[1:]}
    assert all(line.split()[1:3] == ["1/1", "Running"] for line in lines[1:])
    pods = raw(core(kube).list_namespaced_pod, kube.namespace)["items"]
    assert listed == {p["metadata"]["name"] for p in pods}

    as_json = kube.kubectl("get", "deploy", "-o", "json")
    assert as_json.returncode == 0, as_json.stderr
    by_kubectl = {d["metadata"]["name"]: d for d in json.loads(as_json.stdout)["items"]}
    by_client = {d["metadata"]["name"]: d
                 for d in raw(apps(kube).list_namespaced_deployment, kube.namespace)["items"]}
    assert by_kubectl.keys() == by_client.keys()
    for name, dep in by_client.items():
        assert by_kubectl[name]["metadata"]["uid"] == dep["metadata"]["uid"]
        assert by_kubectl[name]["spec"] == dep["spec"]
        assert by_kubectl[name]["status"] == dep["status"]

    wide = kube.kubectl("get", "deployments", "-o", "wide")
    assert "IMAGES" in wide.stdout and f"{REGISTRY}/api-gateway:v1.0.0" in wide.stdout
    for kind in ("nodes", "namespaces"):
        assert kube.kubectl("get", kind, namespaced=False).returncode == 0
    top = kube.kubectl("top", "pods", "-l", "app=api-gateway")
    assert top.returncode == 0 and top.stdout.count("api-gateway-") == 2, top.stderr
    others = kube.kubectl("get", "rs,svc,cm,secrets,pvc,leases,events")
    assert others.returncode == 0, others.stderr
    for shown in ("replicaset.apps/api-gateway-", "configmap/creatorbridge-config",
                  "secret/creatorbridge-secrets", "persistentvolumeclaim/asset-service-uploads",
                  "Bound", "lease.coordination.k8s.io/"):
        assert shown in others.stdout


# -- the command line -------------------------------------------------------------------


@requires_kubectl
def test_command_line_serves_until_sigterm(tmp_path: Path) -> None:
    config = tmp_path / "kc"
    proc = subprocess.Popen([sys.executable, "-m", "runbook.sandbox.kube", "--port", "0",
                             "--seed", "cli-ns", "--kubeconfig", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url_line, config_line = proc.stdout.readline(), proc.stdout.readline()
        assert url_line.startswith("serving http://127.0.0.1:")
        assert config_line.strip() == f"kubeconfig {config}"
        out = subprocess.run(["kubectl", "--kubeconfig", str(config), "--cache-dir",
                              str(tmp_path / "cache"), "get", "deploy", "api-gateway"],
                             capture_output=True, text=True, timeout=30, check=False)
        assert out.returncode == 0 and "2/2" in out.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


# -- objects and their life cycle -------------------------------------------------------


MODEL_TYPES = {"Namespace": "V1Namespace", "Node": "V1Node", "Pod": "V1Pod",
               "Service": "V1Service", "ConfigMap": "V1ConfigMap", "Secret": "V1Secret",
               "PersistentVolumeClaim": "V1PersistentVolumeClaim", "Event": "CoreV1Event",
               "Deployment": "V1Deployment", "ReplicaSet": "V1ReplicaSet", "Lease": "V1Lease",
               "StorageClass": "V1StorageClass"}



def test_every_served_object_fits_the_client_models(kube: KubeSandbox) -> None:
    """The official client validates required fields: mid-rollout, broken and settled
    objects of every kind must all deserialize."""
    from runbook.sandbox.kube.resources import RESOURCES
    dapi = apps(kube)
    for name, tag in (("api-gateway", "v2"), ("auth-service", "bad-1")):
        dapi.patch_namespaced_deployment(name, kube.namespace, {"spec": {"template": {"spec": {
            "containers": [{"name": name, "image": f"{REGISTRY}/{name}:{tag}"}]}}}})
    time.sleep(0.15)
    snapshots = [{r.kind: kube.emulator.store.list(r)[0] for r in RESOURCES}]
    assert kube.emulator.wait_for(lambda: any(
        c.reason == "ProgressDeadlineExceeded" for c in dapi.read_namespaced_deployment(
            "auth-service", kube.namespace).status.conditions), timeout=10)
    snapshots.append({r.kind: kube.emulator.store.list(r)[0] for r in RESOURCES})
    api = kube.api_client()
    for snapshot in snapshots:
        for kind, objs in snapshot.items():
            assert objs or kind in ("Namespace",), kind
            for obj in objs:
                api.deserialize(json.dumps(obj), MODEL_TYPES[kind], "application/json")
    scale = dapi.read_namespaced_deployment_scale("api-gateway", kube.namespace)
    assert scale.spec.replicas == 2



def test_bare_pods_and_namespaces_have_a_life_cycle(kube: KubeSandbox) -> None:
    api = core(kube)
    api.create_namespace({"metadata": {"name": "scratch"}})
    api.create_namespaced_pod("scratch", {"metadata": {"name": "one", "labels": {"a": "b"}},
                                          "spec": {"containers": [{"name": "c", "image": "i:1"}]}})
    assert kube.emulator.wait_for(
        lambda: api.read_namespaced_pod("one", "scratch").status.phase == "Running")
    pod = api.read_namespaced_pod("one", "scratch")
    assert pod.spec.node_name.startswith("sandbox-node-") and pod.status.pod_ip
    assert {c.type for c in pod.status.conditions if c.status == "True"} >= {"Ready",
                                                                             "PodScheduled"}
    deleting = api.delete_namespaced_pod("one", "scratch")
    assert deleting.metadata.deletion_timestamp is not None  # graceful: Terminating first
    assert kube.emulator.wait_for(lambda: not api.list_namespaced_pod("scratch").items)
    api.create_namespaced_config_map("scratch", {"metadata": {"name": "cm"}})
    api.delete_namespace("scratch")
    assert kube.emulator.wait_for(lambda: "scratch" not in {
        n.metadata.name for n in api.list_namespace().items})
    with pytest.raises(ApiException) as gone:
        api.read_namespaced_config_map("cm", "scratch")
    assert gone.value.status == 404
