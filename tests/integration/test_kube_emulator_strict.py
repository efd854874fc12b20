"""The emulator as strict as a cluster: watch latency, the sticky deadline condition on a
re-adopted ReplicaSet, etcd-style compaction, RBAC 403s, strict MicroTime, exec commands
that print then stay silent, API Priority and Fairness 429s, and the seeded variety.

Shared helpers are in kube_emulator_helpers.py; the `kube` fixture is in conftest.py."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from kubernetes.client.exceptions import ApiException

from runbook.sandbox.kube import KubeEmulator
from runbook.sandbox.kube.resources import DEPLOYMENT, POD, REPLICASET
from tests.integration.conftest import (
    KubeSandbox,
    fast_timing,
    requires_kubectl,
)
from tests.integration.kube_emulator_helpers import REGISTRY, apps, core, raw


def request(kube: KubeSandbox, method: str, path: str, body: Any = None,
            content_type: str = "application/json") -> tuple[int, dict[str, str], bytes]:
    host = urlsplit(kube.url)
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=10)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, data, {"Content-Type": content_type} if data else {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


class Watch:
    """A raw watch connection: events with the monotonic time each line arrived."""

    def __init__(self, kube: KubeSandbox, path: str) -> None:
        host = urlsplit(kube.url)
        self.conn = http.client.HTTPConnection(host.hostname, host.port, timeout=10)
        self.conn.request("GET", path)
        self.resp = self.conn.getresponse()
        assert self.resp.status == 200

    def next(self) -> tuple[float, dict[str, Any]]:
        line = self.resp.readline()
        while line.strip() == b"":
            line = self.resp.readline()
        return time.monotonic(), json.loads(line)

    def close(self) -> None:
        self.conn.close()


# -- watch latency --------------------------------------------------------------------------


def test_watch_events_arrive_after_the_latency(kube: KubeSandbox) -> None:
    kube.emulator.faults.watch_latency = 0.3
    listed = raw(core(kube).list_namespaced_config_map, kube.namespace)
    watch = Watch(kube, f"/api/v1/namespaces/{kube.namespace}/configmaps?watch=true"
                        f"&resourceVersion={listed['metadata']['resourceVersion']}")
    try:
        written = time.monotonic()
        core(kube).create_namespaced_config_map(kube.namespace, {"metadata": {"name": "late"}})
        read_back = time.monotonic()  # a GET sees it at once: only the watch is late
        assert raw(core(kube).read_namespaced_config_map, "late", kube.namespace)
        at, event = watch.next()
        assert event["type"] == "ADDED" and event["object"]["metadata"]["name"] == "late"
        assert at - written >= 0.3
        assert read_back - written < at - written
    finally:
        watch.close()


# -- the sticky deadline condition ---------------------------------------------------------


def deadline_then_back(kube: KubeSandbox, name: str) -> tuple[int, list[dict[str, Any]]]:
    """A bad image times out; the image is set back (re-adopting the old ReplicaSet): the
    new generation, and every status the deployment had after the set back, in order."""
    store = kube.emulator.store
    apps(kube).patch_namespaced_deployment(name, kube.namespace, {"spec": {"template": {
        "spec": {"containers": [{"name": name, "image": f"{REGISTRY}/{name}:bad-1"}]}}}})

    def timed_out() -> bool:
        conds = (store.get(DEPLOYMENT, kube.namespace, name).get("status") or {}).get(
            "conditions") or []
        return any(c.get("reason") == "ProgressDeadlineExceeded" for c in conds)
    assert kube.emulator.wait_for(timed_out, timeout=20)
    watcher = store.watch(DEPLOYMENT, kube.namespace, str(store.resource_version))
    back = apps(kube).patch_namespaced_deployment(name, kube.namespace, {"spec": {"template": {
        "spec": {"containers": [{"name": name, "image": f"{REGISTRY}/{name}:v1.0.0"}]}}}})
    assert kube.emulator.wait_rolled_out(kube.namespace, name, timeout=20)
    seen = []
    while (event := watcher.next(0.5)) is not None:
        seen.append(event["object"])
    store.unwatch(watcher)
    return int(back.metadata.generation), seen


def test_a_re_adopted_replicaset_keeps_the_deadline_condition_until_progress(
        kube: KubeSandbox) -> None:
    kube.emulator.faults.sticky_deadline = True
    generation, seen = deadline_then_back(kube, "payout-service")
    observed = [d for d in seen if d.get("status", {}).get("observedGeneration") == generation]
    first = next(c for c in observed[0]["status"]["conditions"] if c["type"] == "Progressing")
    assert first["reason"] == "ProgressDeadlineExceeded"  # the first status of the new one
    assert "payout-service-" in first["message"] and "timed out" in first["message"]
    last = next(c for c in observed[-1]["status"]["conditions"] if c["type"] == "Progressing")
    assert last["reason"] == "NewReplicaSetAvailable"


def test_without_the_mode_the_re_adoption_clears_it_at_once(kube: KubeSandbox) -> None:
    generation, seen = deadline_then_back(kube, "payout-service")
    observed = [d for d in seen if d.get("status", {}).get("observedGeneration") == generation]
    reasons = {c["reason"] for d in observed for c in d["status"]["conditions"]
               if c["type"] == "Progressing"}
    assert "ProgressDeadlineExceeded" not in reasons


def test_annotations_are_copied_onto_a_re_adopted_replicaset(kube: KubeSandbox) -> None:
    name = "content-service"
    for image, cause in (("v2", "to v2"), ("v1.0.0", "back to v1")):
        apps(kube).patch_namespaced_deployment(name, kube.namespace, {
            "metadata": {"annotations": {"kubernetes.io/change-cause": cause}},
            "spec": {"template": {"spec": {"containers": [
                {"name": name, "image": f"{REGISTRY}/{name}:{image}"}]}}}})
        assert kube.emulator.wait_rolled_out(kube.namespace, name)
    sets = kube.emulator.store.list(REPLICASET, kube.namespace)[0]
    first = next(rs for rs in sets if rs["metadata"]["name"].startswith(name) and rs["spec"][
        "template"]["spec"]["containers"][0]["image"].endswith(":v1.0.0"))
    notes = first["metadata"]["annotations"]
    assert notes["kubernetes.io/change-cause"] == "back to v1"
    assert notes["deployment.kubernetes.io/revision"] == "3"
    assert notes["deployment.kubernetes.io/revision-history"] == "1"


# -- compaction -----------------------------------------------------------------------------


def test_a_watch_from_a_compacted_version_gets_410_expired(kube: KubeSandbox) -> None:
    old = raw(core(kube).list_namespaced_config_map, kube.namespace)["metadata"][
        "resourceVersion"]
    kube.emulator.faults.compact_every = 0.2
    core(kube).create_namespaced_config_map(kube.namespace, {"metadata": {"name": "c1"}})
    assert kube.emulator.wait_for(lambda: kube.emulator.cluster.compactions >= 2)
    watch = Watch(kube, f"/api/v1/namespaces/{kube.namespace}/configmaps?watch=true"
                        f"&resourceVersion={old}")
    try:
        _at, event = watch.next()
    finally:
        watch.close()
    assert event["type"] == "ERROR"
    assert event["object"]["code"] == 410 and event["object"]["reason"] == "Expired"
    # a version after the last compaction still replays
    kube.emulator.faults.compact_every = 0
    recent = raw(core(kube).list_namespaced_config_map, kube.namespace)["metadata"][
        "resourceVersion"]
    core(kube).create_namespaced_config_map(kube.namespace, {"metadata": {"name": "c2"}})
    watch = Watch(kube, f"/api/v1/namespaces/{kube.namespace}/configmaps?watch=true"
                        f"&resourceVersion={recent}")
    try:
        _at, event = watch.next()
    finally:
        watch.close()
    assert event["type"] == "ADDED" and event["object"]["metadata"]["name"] == "c2"


# -- RBAC -----------------------------------------------------------------------------------


def roles(tmp_path: Path, namespace: str) -> Path:
    path = tmp_path / "roles.yaml"
    path.write_text(f"""\
kind: ClusterRole
metadata: {{name: nodes-reader}}
rules:
  - {{apiGroups: [""], resources: [nodes], verbs: [get, list]}}
---
kind: Role
metadata: {{name: deployer, namespace: {namespace}}}
rules:
  - {{apiGroups: [""], resources: [pods, pods/log], verbs: [get, list, watch]}}
  - {{apiGroups: [apps], resources: [deployments], verbs: [get, list, watch, patch]}}
  - {{apiGroups: [""], resources: [configmaps], verbs: [get], resourceNames: [creatorbridge-config]}}
""")
    return path


def test_rbac_forbids_with_the_real_status(kube: KubeSandbox, tmp_path: Path) -> None:
    kube.emulator.faults.load_rbac(str(roles(tmp_path, kube.namespace)))
    assert raw(core(kube).list_namespaced_pod, kube.namespace)["items"]
    assert raw(core(kube).list_node)["items"]
    assert raw(core(kube).read_namespaced_config_map, "creatorbridge-config", kube.namespace)
    code, _headers, body = request(kube, "GET", f"/api/v1/namespaces/{kube.namespace}/secrets"
                                                "/creatorbridge-secrets")
    status = json.loads(body)
    assert code == 403 and status == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'secrets "creatorbridge-secrets" is forbidden: User "system:serviceaccount:'
                   'creatorbridge-sandbox:runbook" cannot get resource "secrets" in API group ""'
                   ' in the namespace "creatorbridge-sandbox"',
        "reason": "Forbidden", "details": {"name": "creatorbridge-secrets", "kind": "secrets"},
        "code": 403}
    with pytest.raises(ApiException) as denied:
        apps(kube).delete_namespaced_deployment("api-gateway", kube.namespace)
    assert denied.value.status == 403
    assert 'cannot delete resource "deployments" in API group "apps"' in json.loads(
        denied.value.body)["message"]
    code, _h, body = request(kube, "GET", "/api/v1/pods")
    assert code == 403 and b"at the cluster scope" in body
    code, _h, body = request(kube, "GET", f"/api/v1/namespaces/{kube.namespace}/configmaps/other")
    assert code == 403  # resourceNames limits the get to one config map
    assert request(kube, "GET", "/version")[0] == 200  # discovery stays open


@requires_kubectl
def test_kubectl_reports_the_403(kube: KubeSandbox, tmp_path: Path) -> None:
    kube.emulator.faults.load_rbac(str(roles(tmp_path, kube.namespace)))
    ran = kube.kubectl("get", "secrets")
    assert ran.returncode != 0
    assert 'Error from server (Forbidden): secrets is forbidden: User "system:serviceaccount:' \
           'creatorbridge-sandbox:runbook" cannot list resource "secrets"' in ran.stderr
    assert kube.kubectl("get", "pods").returncode == 0


# -- strict MicroTime -----------------------------------------------------------------------


def lease(renew: str) -> dict[str, Any]:
    return {"metadata": {"name": "strict"}, "spec": {
        "holderIdentity": "me", "leaseDurationSeconds": 15, "renewTime": renew}}


def test_strict_micro_time_wants_six_fractional_digits(kube: KubeSandbox) -> None:
    path = f"/apis/coordination.k8s.io/v1/namespaces/{kube.namespace}/leases"
    assert request(kube, "POST", path, lease("2026-01-01T00:00:00Z"))[0] == 201  # lenient
    kube.emulator.faults.strict_micro_time = True
    for bad in ("2026-01-01T00:00:00Z", "2026-01-01T00:00:00.5Z", "2026-01-01T00:00:00.1234567Z"):
        code, _h, body = request(kube, "PUT", f"{path}/strict", lease(bad))
        assert code == 400, bad
        assert json.loads(body)["message"].startswith(
            f'Lease in version "v1" cannot be handled as a Lease: parsing time "{bad}" as '
            '"2006-01-02T15:04:05.000000Z07:00"')
    code, _h, _b = request(kube, "PATCH", f"{path}/strict",
                           {"spec": {"renewTime": "2026-01-01T00:00:01Z"}},
                           "application/merge-patch+json")
    assert code == 400
    assert request(kube, "PUT", f"{path}/strict", lease("2026-01-01T00:00:00.000000Z"))[0] == 200


# -- exec commands that print, then stay silent -----------------------------------------------


def test_an_exec_that_prints_then_stays_silent(kube: KubeSandbox) -> None:
    from kubernetes.stream import stream
    kube.emulator.faults.hang_exec("npx prisma migrate deploy", ("Applying migration `x`",))
    pod = next(p for p in kube.emulator.store.list(POD, kube.namespace)[0]
               if p["metadata"]["labels"]["app"] == "asset-service")
    ws = stream(core(kube).connect_get_namespaced_pod_exec, pod["metadata"]["name"],
                kube.namespace, command=["npx", "prisma", "migrate", "deploy"], stderr=True,
                stdin=False, stdout=True, tty=False, _preload_content=False)
    try:
        out = ""
        end = time.monotonic() + 10
        while "Applying" not in out and time.monotonic() < end:
            ws.update(timeout=0.2)
            out += ws.read_stdout(timeout=0)
        assert "Applying migration `x`" in out
        ws.update(timeout=1.0)
        assert ws.is_open() and ws.read_channel(3, timeout=0) == ""  # no exit status
    finally:
        ws.close()


# -- API Priority and Fairness ---------------------------------------------------------------


def test_throttled_requests_get_429_with_retry_after(kube: KubeSandbox) -> None:
    kube.emulator.faults.throttle(every=2, retry_after=3)
    path = f"/api/v1/namespaces/{kube.namespace}/configmaps"
    codes = [request(kube, "GET", path) for _ in range(4)]
    assert [c for c, _h, _b in codes] == [200, 429, 200, 429]
    _code, headers, body = codes[1]
    assert headers["retry-after"] == "3" and headers["content-type"].startswith("text/plain")
    assert body == b"Too many requests, please try again later.\n"


@requires_kubectl
def test_kubectl_retries_the_429(kube: KubeSandbox) -> None:
    kube.emulator.faults.throttle(every=3, retry_after=1)
    ran = kube.kubectl("get", "deploy", "api-gateway", "-o", "name")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "deployment.apps/api-gateway"


# -- the seeded variety --------------------------------------------------------------------


@pytest.fixture
def varied(tmp_path: Path) -> Any:
    emulator = KubeEmulator(timing=fast_timing(), seed_namespace="shop", variety=True).start()
    kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig", "sandbox", "shop")
    yield KubeSandbox(emulator, kubeconfig, "shop", tmp_path / "cache")
    emulator.stop()
    assert emulator.cluster.errors == []


@requires_kubectl
def test_the_variety_a_real_namespace_has(varied: KubeSandbox) -> None:
    time.sleep(0.5)  # some controller passes: nothing of it is collected or replaced
    pods = varied.kubectl("get", "pods", "--no-headers")
    rows = {line.split()[0]: line.split()[2] for line in pods.stdout.splitlines()}
    assert rows["db-backup-29012345-x7k2p"] == "Completed"
    assert [s for n, s in rows.items() if n.startswith("billing-service-")].count("Evicted") == 1
    assert [s for n, s in rows.items() if n.startswith("billing-service-")].count("Running") == 2
    two = [line for line in pods.stdout.splitlines() if line.startswith("notification-service-")]
    assert two and all(line.split()[1] == "2/2" for line in two)
    chosen = varied.kubectl("get", "pods", "-l", "app in (asset-service),track notin (canary)",
                            "-o", "name")
    assert len(chosen.stdout.split()) == 2
    paused = varied.kubectl("get", "deploy", "reports-legacy", "-o", "jsonpath={.spec.paused}")
    assert paused.stdout == "true"
    claim = varied.kubectl("get", "pvc", "search-index-cache", "-o", "jsonpath={.status.phase}")
    assert claim.stdout == "Pending"
    scaled = varied.kubectl("scale", "deploy/reports-legacy", "--replicas=0")
    assert scaled.returncode == 0, scaled.stderr
    assert varied.emulator.wait_for(lambda: not [
        p for p in varied.emulator.store.list(POD, "shop")[0]
        if p["metadata"]["name"].startswith("reports-legacy-")])


def test_the_command_line_serves_a_strict_varied_cluster(tmp_path: Path) -> None:
    roles_file = roles(tmp_path, "shop")
    proc = subprocess.Popen([sys.executable, "-m", "runbook.sandbox.kube", "--seed", "shop",
                             "--variety", "--strict", "--rbac", str(roles_file), "--kubeconfig",
                             str(tmp_path / "kubeconfig")], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[-1]
        host = urlsplit(url)
        conn = http.client.HTTPConnection(host.hostname, host.port, timeout=10)
        conn.request("GET", "/api/v1/namespaces/shop/secrets")
        assert conn.getresponse().status == 403
        conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    bad = subprocess.run([sys.executable, "-m", "runbook.sandbox.kube", "--rbac",
                          str(tmp_path / "missing.yaml")], capture_output=True, text=True,
                         timeout=30, check=False)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "missing.yaml" in bad.stderr
