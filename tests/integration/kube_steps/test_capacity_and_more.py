"""Issue 14, defect 13 (node-capacity with maxSurge, maxUnavailable, Recreate, NotReady and
cordoned nodes) and the "Also" line: 429s retried after Retry-After, WaitForFirstConsumer
claims accepted, config-keys reporting each reference on a 403."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runbook.execute.stepkind import Outcome
from runbook.sandbox.kube import seed
from runbook.sandbox.kube.resources import DEPLOYMENT, NODE, POD
from tests.integration.conftest import requires_kubectl
from tests.integration.kube_steps.conftest import REGISTRY, Harness, image_of

MI = 2**20


def strategy(h: Harness, name: str, value: dict[str, Any]) -> None:
    def put(d: dict[str, Any]) -> None:
        d["spec"]["strategy"] = value
    h.kube.emulator.store.modify(DEPLOYMENT, h.namespace, name, put)


@requires_kubectl
def test_node_capacity_counts_the_real_surge_on_usable_nodes(h: Harness) -> None:
    store = h.kube.emulator.store
    assert h.kube.kubectl("cordon", "sandbox-node-1", namespaced=False).returncode == 0

    def not_ready(n: dict[str, Any]) -> None:
        for c in n["status"]["conditions"]:
            if c["type"] == "Ready":
                c.update(status="False", reason="KubeletNotReady")
    store.modify(NODE, "", "sandbox-node-2", not_ready, subresource="status")
    strategy(h, "api-gateway", {"type": "RollingUpdate",
                                "rollingUpdate": {"maxSurge": "100%", "maxUnavailable": 0}})
    strategy(h, "auth-service", {"type": "Recreate"})
    strategy(h, "user-service", {"type": "RollingUpdate",
                                 "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}})
    ran = h.run("k8s.node-capacity", {"headroom": 0.25}, kind="check")
    assert ran.outcome is Outcome.PASSED, ran.message
    # 9 deployments surge 1 pod (25% of 2, up), api-gateway 2, auth and user none
    assert ran.result.facts["surge_cpu"] == 1.1
    assert ran.result.facts["surge_memory_gib"] == round(11 * 128 * MI / 2**30, 3)
    assert ran.result.facts["nodes_usable"] == 1
    on_three = [p for p in store.list(POD)[0] if p["spec"].get("nodeName") == "sandbox-node-3"
                and p["status"].get("phase") not in ("Succeeded", "Failed")]
    used = sum(0.1 for p in on_three for _c in p["spec"]["containers"])
    assert ran.result.facts["cpu_free"] == round(7.91 - used, 3)
    assert any("1 of 3 nodes usable (not: sandbox-node-1 cordoned, sandbox-node-2 NotReady)"
               in line for line in ran.lines), ran.lines
    assert "2 node(s) not usable" in ran.message


def test_a_surge_pod_must_fit_on_one_node(h: Harness) -> None:
    big = seed.deployment("bigjob", h.namespace, f"{REGISTRY}/bigjob:v1", 1)
    big["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "requests": {"cpu": "7500m", "memory": "1Gi"}}
    h.kube.emulator.seed([big], settle=False)
    assert h.kube.emulator.wait_rolled_out(h.namespace, "bigjob")
    ran = h.run("k8s.node-capacity", kind="check")
    assert ran.outcome is Outcome.FAILED, ran.message
    assert ran.message.startswith("no usable node has room for the largest surge pod (CPU 7.50")


# -- 429 with Retry-After ---------------------------------------------------------------------


def test_429s_are_retried_after_their_retry_after(h: Harness) -> None:
    h.kube.emulator.faults.throttle(every=2, retry_after=1)
    versions = h.run("k8s.versions", kind="check")
    assert versions.outcome is Outcome.PASSED, versions.message
    ran = h.run("k8s.set-image", {"deployment": "rights-service",
                                  "image": f"{REGISTRY}/rights-service:v2"})
    assert ran.outcome is Outcome.PASSED, ran.message
    assert image_of(h.kube, "rights-service") == f"{REGISTRY}/rights-service:v2"


# -- WaitForFirstConsumer claims ------------------------------------------------------------


def test_a_wait_for_first_consumer_claim_is_not_a_failure(vh: Harness) -> None:
    ran = vh.run("k8s.pvcs", kind="check")
    assert ran.outcome is Outcome.PASSED, ran.message
    assert ran.message == "3 PVCs Bound or waiting for their first consumer"
    assert any("search-index-cache: Pending (WaitForFirstConsumer" in line for line in ran.lines)
    stuck = seed.pvc("stuck-claim", vh.namespace, storage_class="managed-csi")
    stuck["status"] = {"phase": "Pending"}  # an Immediate class that never binds: broken
    vh.kube.emulator.seed([stuck], settle=False)
    bad = vh.run("k8s.pvcs", kind="check")
    assert bad.outcome is Outcome.FAILED and "stuck-claim (Pending)" in bad.message
    assert "search-index-cache" not in bad.message


# -- config-keys on a 403 ----------------------------------------------------------------------


def test_config_keys_reports_each_reference_on_a_403(h: Harness, tmp_path: Path) -> None:
    roles = tmp_path / "roles.json"
    roles.write_text(json.dumps([{"kind": "ClusterRole", "metadata": {"name": "runbook"},
                                  "rules": [{"apiGroups": ["*"], "resources": ["*"],
                                             "verbs": ["*"]}]}]))
    only_cm = tmp_path / "no-secrets.json"
    only_cm.write_text(json.dumps([{"kind": "Role", "metadata": {
        "name": "cm", "namespace": h.namespace}, "rules": [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]}]))
    h.kube.emulator.faults.load_rbac(str(only_cm))
    ran = h.run("k8s.config-keys", {"refs": ["secret/creatorbridge-secrets:DATABASE_URL",
                                             "secret/creatorbridge-secrets:JWT_SECRET",
                                             "configmap/creatorbridge-config:NODE_ENV",
                                             "configmap/creatorbridge-config:NOPE"]},
                kind="check")
    assert ran.outcome is Outcome.FAILED
    assert ran.message.startswith("missing: configmap/creatorbridge-config:NOPE; cannot read: "
                                  "secret/creatorbridge-secrets (403 Forbidden) for "
                                  "DATABASE_URL, JWT_SECRET"), ran.message
    assert "✓ configmap/creatorbridge-config: NODE_ENV" in ran.lines
    assert sum("cannot read (403" in line for line in ran.lines) == 2
    h.kube.emulator.faults.load_rbac(str(roles))
    ok = h.run("k8s.config-keys", {"refs": ["secret/creatorbridge-secrets:DATABASE_URL"]},
               kind="check")
    assert ok.outcome is Outcome.PASSED, ok.message
