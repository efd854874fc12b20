"""The Kubernetes API emulator, judged by the real kubectl and the official Python client."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream

from runbook.sandbox.kube import CREATORBRIDGE_SERVICES, KubeEmulator
from tests.integration.conftest import NAMESPACE, KubeSandbox, fast_timing, requires_kubectl

REGISTRY = "creatorbridge.azurecr.io"


@pytest.fixture
def kube(kube_emulator: KubeSandbox) -> Iterator[KubeSandbox]:
    yield kube_emulator
    assert kube_emulator.emulator.cluster.errors == []  # no controller crashed meanwhile


def core(kube: KubeSandbox) -> Any:
    return client.CoreV1Api(kube.api_client())


def apps(kube: KubeSandbox) -> Any:
    return client.AppsV1Api(kube.api_client())


def raw(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """An API call's JSON body, without the client's model conversion."""
    return json.loads(fn(*args, _preload_content=False, **kwargs).data)


def image_of(kube: KubeSandbox, name: str) -> str:
    dep = apps(kube).read_namespaced_deployment(name, kube.namespace)
    return str(dep.spec.template.spec.containers[0].image)


# -- start-up and discovery -----------------------------------------------------------------


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


# -- the deployment controller, judged by kubectl rollout ---------------------------------


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


# -- API semantics through the client ------------------------------------------------------


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


# -- logs and exec -------------------------------------------------------------------------


def test_logs_tail_and_follow(kube: KubeSandbox) -> None:
    api = core(kube)
    pod = api.list_namespaced_pod(kube.namespace, label_selector="app=api-gateway").items[0]
    name = pod.metadata.name
    kube.emulator.logs.append(kube.namespace, name, "api-gateway", "one", "two", "three")
    tail = api.read_namespaced_pod_log(name, kube.namespace, tail_lines=2)
    assert tail == "two\nthree\n"
    followed: list[str] = []

    def follow() -> None:
        resp = api.read_namespaced_pod_log(name, kube.namespace, follow=True, tail_lines=0,
                                           _preload_content=False)
        for line in resp.stream(decode_content=False):
            followed.extend(line.decode().splitlines())
    reader = threading.Thread(target=follow, daemon=True)
    reader.start()

    def arrived() -> bool:  # keep writing until the follower is attached and reads it
        kube.emulator.logs.append(kube.namespace, name, "api-gateway", "after follow")
        return "after follow" in followed
    assert kube.emulator.wait_for(arrived, interval=0.1)
    api.delete_namespaced_pod(name, kube.namespace)  # the stream ends with the pod
    reader.join(timeout=10)
    assert not reader.is_alive()
    assert "after follow" in followed and "one" not in followed
    with pytest.raises(ApiException) as bad_container:
        api.read_namespaced_pod_log(
            api.list_namespaced_pod(kube.namespace).items[0].metadata.name, kube.namespace,
            container="nope")
    assert bad_container.value.status == 400


@requires_kubectl
def test_kubectl_logs_by_label(kube: KubeSandbox) -> None:
    out = kube.kubectl("logs", "-l", "app=api-gateway", "--tail=100")
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("listening on :8080") == 2


def _exec(kube: KubeSandbox, pod: str, command: list[str]) -> tuple[int, str, str]:
    resp = stream(core(kube).connect_get_namespaced_pod_exec, pod, kube.namespace,
                  command=command, stderr=True, stdin=False, stdout=True, tty=False,
                  _preload_content=False)
    resp.run_forever(timeout=10)
    out, err = resp.read_stdout(), resp.read_stderr()
    return int(resp.returncode), out, err


def test_exec_through_the_python_client(kube: KubeSandbox) -> None:
    pod = core(kube).list_namespaced_pod(kube.namespace,
                                         label_selector="app=asset-service").items[0]
    name = pod.metadata.name
    code, out, _ = _exec(kube, name, ["npx", "prisma", "migrate", "deploy"])
    assert code == 0
    assert "3 migrations found in prisma/migrations" in out
    assert "No pending migrations to apply." in out
    kube.emulator.execs.migrations.add_pending("asset-service", "20250301000000_asset_tags")
    code, out, _ = _exec(kube, name, ["npx", "prisma", "migrate", "deploy"])
    assert code == 0 and "All migrations have been successfully applied." in out
    assert "4 migrations found" in out
    kube.emulator.execs.migrations.fail("asset-service")
    code, out, err = _exec(kube, name, ["npx", "prisma", "migrate", "deploy"])
    assert code == 1 and "P3018" in err
    kube.emulator.faults.fail_exec("npx prisma", 2, "Error: P1001: Can't reach database server")
    code, _, err = _exec(kube, name, ["npx", "prisma", "migrate", "status"])
    assert (code, err) == (2, "Error: P1001: Can't reach database server\n")
    code, _, err = _exec(kube, name, ["no-such-tool"])
    assert code == 127 and "command not found" in err
    kube.emulator.execs.register("cat /app/VERSION", lambda _p, _c, _cmd: (0, ["v1.0.0"]))
    assert _exec(kube, name, ["cat", "/app/VERSION"])[:2] == (0, "v1.0.0\n")


@requires_kubectl
def test_kubectl_exec(kube: KubeSandbox) -> None:
    ok = kube.kubectl("exec", "deploy/asset-service", "--", "npx", "prisma", "migrate", "deploy")
    assert ok.returncode == 0, ok.stderr
    assert "No pending migrations to apply." in ok.stdout
    failed = kube.kubectl("exec", "deploy/asset-service", "--", "sh", "-c", "exit 3")
    assert failed.returncode == 3
    assert "command terminated with exit code 3" in failed.stderr


# -- faults, events, deletion, the command line --------------------------------------------


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


MODEL_TYPES = {"Namespace": "V1Namespace", "Node": "V1Node", "Pod": "V1Pod",
               "Service": "V1Service", "ConfigMap": "V1ConfigMap", "Secret": "V1Secret",
               "PersistentVolumeClaim": "V1PersistentVolumeClaim", "Event": "CoreV1Event",
               "Deployment": "V1Deployment", "ReplicaSet": "V1ReplicaSet", "Lease": "V1Lease"}


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
