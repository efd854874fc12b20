"""The Kubernetes API emulator's API semantics through the client (and kubectl): errors,
selectors, patches, generations, apply, injected faults.

Shared helpers are in kube_emulator_helpers.py; the `kube` fixture is in conftest.py."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from tests.integration.conftest import KubeSandbox, requires_kubectl
from tests.integration.kube_emulator_helpers import apps, core

# -- API semantics through the client ---------------------------------------------------


def test_errors_are_status_objects(kube: KubeSandbox) -> None:
    api, dapi = core(kube), apps(kube)
    with pytest.raises(ApiException) as missing:
        api.read_namespaced_pod("no-such-pod", kube.namespace)
    body = json.loads(missing.value.body)
    assert missing.value.status == 404
    assert (body["kind"], body["reason"], body["code"]) == ("Status", "NotFound", 404)
    assert body["message"] == 'pods "no-such-pod" not found'
    with pytest.raises(ApiException) as exists:
        api.create_namespaced_config_map(kube.namespace, {"metadata": {
            "name": "creatorbridge-config"}})
    assert exists.value.status == 409 and json.loads(exists.value.body)["reason"] == "AlreadyExists"
    dep = dapi.read_namespaced_deployment("user-service", kube.namespace)
    dep.spec.replicas = 3
    dapi.replace_namespaced_deployment("user-service", kube.namespace, dep)
    with pytest.raises(ApiException) as stale:
        dapi.replace_namespaced_deployment("user-service", kube.namespace, dep)  # old version
    assert stale.value.status == 409 and json.loads(stale.value.body)["reason"] == "Conflict"
    bad = {"metadata": {"name": "broken"}, "spec": {
        "selector": {"matchLabels": {"app": "x"}},
        "template": {"metadata": {"labels": {"app": "y"}}, "spec": {"containers": [
            {"name": "c", "image": "i"}]}}}}
    with pytest.raises(ApiException) as invalid:
        dapi.create_namespaced_deployment(kube.namespace, bad)
    assert invalid.value.status == 422
    assert json.loads(invalid.value.body)["details"]["causes"][0]["field"] == \
        "spec.template.metadata.labels"
    with pytest.raises(ApiException) as no_ns:
        api.create_namespaced_config_map("nowhere", {"metadata": {"name": "x"}})
    assert no_ns.value.status == 404



@requires_kubectl
def test_kubectl_reports_server_errors(kube: KubeSandbox) -> None:
    out = kube.kubectl("get", "pod", "no-such-pod")
    assert out.returncode == 1
    assert 'Error from server (NotFound): pods "no-such-pod" not found' in out.stderr



def test_label_and_field_selectors(kube: KubeSandbox) -> None:
    api = core(kube)

    def names(**kw: Any) -> set[str]:
        return {p.metadata.labels["app"] for p in api.list_namespaced_pod(kube.namespace,
                                                                           **kw).items}
    assert names(label_selector="app=api-gateway") == {"api-gateway"}
    assert names(label_selector="app==api-gateway") == {"api-gateway"}
    assert names(label_selector="app in (api-gateway, auth-service)") == {"api-gateway",
                                                                          "auth-service"}
    assert "api-gateway" not in names(label_selector="app notin (api-gateway)")
    assert "api-gateway" not in names(label_selector="app!=api-gateway")
    assert len(names(label_selector="app,pod-template-hash")) == 12
    assert names(label_selector="!app") == set()
    one = api.list_namespaced_pod(kube.namespace).items[0]
    by_name = api.list_namespaced_pod(kube.namespace,
                                      field_selector=f"metadata.name={one.metadata.name}")
    assert [p.metadata.name for p in by_name.items] == [one.metadata.name]
    on_node = api.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={one.spec.node_name}")
    assert one.metadata.name in {p.metadata.name for p in on_node.items}
    assert len(api.list_namespaced_pod(kube.namespace,
                                       field_selector="status.phase!=Running").items) == 0
    with pytest.raises(ApiException) as unknown:
        api.list_namespaced_pod(kube.namespace, field_selector="spec.bogus=1")
    assert unknown.value.status == 400



def test_the_three_patch_types(kube: KubeSandbox) -> None:
    dapi, name = apps(kube), "content-service"
    # Strategic merge: containers and env merge by name; the rest of the container stays.
    patched = dapi.patch_namespaced_deployment(name, kube.namespace, {"spec": {"template": {
        "spec": {"containers": [{"name": name, "env": [{"name": "LOG_LEVEL", "value": "debug"}]}]}}}})
    container = patched.spec.template.spec.containers[0]
    assert container.image.endswith(":v1.0.0")
    assert {e.name for e in container.env} >= {"SERVICE_NAME", "LOG_LEVEL"}
    deleted = dapi.patch_namespaced_deployment(name, kube.namespace, {"spec": {"template": {
        "spec": {"containers": [{"name": name, "env": [{"name": "LOG_LEVEL",
                                                        "$patch": "delete"}]}]}}}})
    assert "LOG_LEVEL" not in {e.name for e in deleted.spec.template.spec.containers[0].env}
    # Merge patch: maps merge, null deletes.
    merged = dapi.patch_namespaced_deployment(
        name, kube.namespace, {"metadata": {"labels": {"team": "media"}}},
        _content_type="application/merge-patch+json")
    assert merged.metadata.labels["team"] == "media"
    unlabeled = dapi.patch_namespaced_deployment(
        name, kube.namespace, {"metadata": {"labels": {"team": None}}},
        _content_type="application/merge-patch+json")
    assert "team" not in unlabeled.metadata.labels
    # JSON patch: operations on paths; a failed test operation is 422.
    replaced = dapi.patch_namespaced_deployment(name, kube.namespace, [
        {"op": "replace", "path": "/spec/replicas", "value": 4},
        {"op": "add", "path": "/metadata/annotations", "value": {"owner": "media"}}])
    assert replaced.spec.replicas == 4 and replaced.metadata.annotations["owner"] == "media"
    assert replaced.metadata.generation == patched.metadata.generation + 2
    with pytest.raises(ApiException) as failed:
        dapi.patch_namespaced_deployment(name, kube.namespace, [
            {"op": "test", "path": "/spec/replicas", "value": 9}])
    assert failed.value.status == 422



def test_generation_follows_spec_not_metadata(kube: KubeSandbox) -> None:
    dapi = apps(kube)
    before = dapi.read_namespaced_deployment("asset-service", kube.namespace)
    labeled = dapi.patch_namespaced_deployment("asset-service", kube.namespace,
                                               {"metadata": {"labels": {"x": "y"}}})
    assert labeled.metadata.generation == before.metadata.generation
    assert int(labeled.metadata.resource_version) > int(before.metadata.resource_version)
    scaled = dapi.patch_namespaced_deployment("asset-service", kube.namespace,
                                              {"spec": {"replicas": 3}})
    assert scaled.metadata.generation == before.metadata.generation + 1
    assert kube.emulator.wait_for(lambda: dapi.read_namespaced_deployment(
        "asset-service", kube.namespace).status.observed_generation == scaled.metadata.generation)



@requires_kubectl
def test_kubectl_apply_creates_then_patches(kube: KubeSandbox, tmp_path: Path) -> None:
    manifest = tmp_path / "cm.json"
    manifest.write_text(json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                                    "metadata": {"name": "applied"}, "data": {"k": "1"}}))
    assert "created" in kube.kubectl("apply", "-f", str(manifest)).stdout
    manifest.write_text(json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                                    "metadata": {"name": "applied"}, "data": {"k": "2"}}))
    assert "configured" in kube.kubectl("apply", "-f", str(manifest)).stdout
    assert core(kube).read_namespaced_config_map("applied", kube.namespace).data == {"k": "2"}


# -- faults -----------------------------------------------------------------------------


def test_injected_failures_and_outages(kube: KubeSandbox) -> None:
    api = core(kube)
    kube.emulator.faults.fail_next(f"/api/v1/namespaces/{kube.namespace}/pods", count=2)
    for _ in range(2):
        with pytest.raises(ApiException) as failed:
            api.list_namespaced_pod(kube.namespace)
        assert failed.value.status == 500
    assert len(api.list_namespaced_pod(kube.namespace).items) == 24

    cut: list[str] = []

    def watch_pods() -> None:
        try:
            for _ in watch.Watch().stream(api.list_namespaced_pod, kube.namespace,
                                          timeout_seconds=20):
                pass
            cut.append("ended")
        except Exception as e:  # the cut surfaces as a protocol error
            cut.append(type(e).__name__)
    watcher = threading.Thread(target=watch_pods, daemon=True)
    watcher.start()
    assert kube.emulator.wait_for(lambda: kube.emulator.store.watcher_count == 1)
    assert kube.emulator.faults.drop_watches() == 1
    watcher.join(timeout=5)
    assert cut and not watcher.is_alive()

    kube.emulator.faults.unreachable()
    with pytest.raises(Exception):  # noqa: B017 - urllib3 raises MaxRetryError subclasses
        api.list_namespaced_pod(kube.namespace, _request_timeout=2)
    kube.emulator.faults.reachable()
    assert len(api.list_namespaced_pod(kube.namespace).items) == 24
