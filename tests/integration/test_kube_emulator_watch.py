"""The Kubernetes API emulator's watches and paged lists, through kubectl and the client.

Shared helpers are in kube_emulator_helpers.py; the `kube` fixture is in conftest.py."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time

import pytest
from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from tests.integration.conftest import KubeSandbox, requires_kubectl
from tests.integration.kube_emulator_helpers import apps, core

# -- watches and paged lists ------------------------------------------------------------


@requires_kubectl
def test_kubectl_watch_prints_new_pods(kube: KubeSandbox) -> None:
    cmd = ["kubectl", "--kubeconfig", str(kube.kubeconfig), "--cache-dir", str(kube.cache_dir),
           "-n", kube.namespace, "get", "pods", "-l", "app=rights-service", "--watch"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        lines.extend(iter(proc.stdout.readline, ""))
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert kube.emulator.wait_for(lambda: len(lines) >= 3 and kube.emulator.store
                                      .watcher_count >= 1)  # the table, then the watch
        apps(kube).patch_namespaced_deployment_scale("rights-service", kube.namespace,
                                                     {"spec": {"replicas": 3}})

        def new_pod_running() -> bool:
            rows = [line.split() for line in lines[3:]]
            return any(row[2] == "Running" for row in rows if len(row) > 2)
        assert kube.emulator.wait_for(new_pod_running)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
    assert lines[0].split()[:3] == ["NAME", "READY", "STATUS"]
    assert len({line.split()[0] for line in lines[1:]}) == 3



def test_watch_from_a_list_sees_later_changes_in_order(kube: KubeSandbox) -> None:
    api = core(kube)
    listed = api.list_namespaced_config_map(kube.namespace)
    rv = listed.metadata.resource_version
    api.create_namespaced_config_map(kube.namespace, {"metadata": {"name": "w"}, "data": {"n": "1"}})
    api.patch_namespaced_config_map("w", kube.namespace, {"data": {"n": "2"}})
    api.delete_namespaced_config_map("w", kube.namespace)
    seen = [(ev["type"], ev["object"].metadata.name, int(ev["object"].metadata.resource_version))
            for ev in watch.Watch().stream(api.list_namespaced_config_map, kube.namespace,
                                           resource_version=rv, timeout_seconds=1)]
    assert [(t, n) for t, n, _ in seen] == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]
    versions = [v for _, _, v in seen]
    assert versions == sorted(versions) and versions[0] > int(rv)



def test_watch_selector_transitions_and_timeout(kube: KubeSandbox) -> None:
    api = core(kube)
    rv = api.list_namespaced_config_map(kube.namespace).metadata.resource_version
    api.create_namespaced_config_map(kube.namespace, {"metadata": {"name": "s", "labels": {
        "tier": "a"}}})
    api.patch_namespaced_config_map("s", kube.namespace, {"metadata": {"labels": {"tier": "b"}}})
    started = time.monotonic()
    seen = [ev["type"] for ev in watch.Watch().stream(
        api.list_namespaced_config_map, kube.namespace, label_selector="tier=a",
        resource_version=rv, timeout_seconds=1)]
    assert seen == ["ADDED", "DELETED"]  # leaving the selector reads as a deletion
    assert 0.9 <= time.monotonic() - started < 5



def test_an_expired_resource_version_gives_410(kube: KubeSandbox) -> None:
    api = core(kube)
    rv = api.list_namespaced_pod(kube.namespace).metadata.resource_version
    api.create_namespaced_config_map(kube.namespace, {"metadata": {"name": "later"}})
    kube.emulator.faults.expire_resource_versions()
    with pytest.raises(ApiException) as caught:
        for _ in watch.Watch().stream(api.list_namespaced_pod, kube.namespace,
                                      resource_version=rv, timeout_seconds=2):
            pass
    assert caught.value.status == 410
    first = api.list_namespaced_pod(kube.namespace, limit=5)
    assert first.metadata._continue and len(first.items) == 5
    api.create_namespaced_config_map(kube.namespace, {"metadata": {"name": "later2"}})
    kube.emulator.faults.expire_resource_versions()
    with pytest.raises(ApiException) as expired:
        api.list_namespaced_pod(kube.namespace, limit=5, _continue=first.metadata._continue)
    assert expired.value.status == 410 and json.loads(expired.value.body)["reason"] == "Expired"



def test_paging_with_limit_and_continue(kube: KubeSandbox) -> None:
    api = core(kube)
    names, token = [], None
    while True:
        page = api.list_namespaced_pod(kube.namespace, limit=7, _continue=token)
        names += [p.metadata.name for p in page.items]
        token = page.metadata._continue
        if not token:
            break
    assert len(names) == 24 == len(set(names))
