"""Issue 14, defect 9: the export can be re-applied (`kubectl apply --dry-run=client -f`, the
real kubectl against the emulator), with status and server-set fields kept apart and secret
values never written."""

from __future__ import annotations

import yaml

from runbook.execute.stepkind import Outcome
from tests.integration.conftest import requires_kubectl
from tests.integration.kube_steps.conftest import SECRET_VALUES, Harness


@requires_kubectl
def test_the_export_is_accepted_by_kubectl_apply(vh: Harness) -> None:
    ran = vh.run("k8s.export", {"kinds": ["deployments", "services", "configmaps", "secrets",
                                          "persistentvolumeclaims", "replicasets", "pods"]},
                 kind="check")
    assert ran.outcome is Outcome.PASSED, ran.message
    path = vh.root / "state" / "sessions"
    exported = next(path.rglob("k8s-backup.yaml"))
    applied = vh.kube.kubectl("apply", "--dry-run=client", "-f", str(exported))
    assert applied.returncode == 0, applied.stderr
    lines = applied.stdout.splitlines()
    assert "deployment.apps/api-gateway configured (dry run)" in lines or \
        "deployment.apps/api-gateway unchanged (dry run)" in lines, lines[:5]
    assert any(line.startswith("secret/creatorbridge-secrets ") for line in lines)
    doc = yaml.safe_load(exported.read_text())
    assert doc["kind"] == "List" and all(i["kind"] and i["apiVersion"] for i in doc["items"])
    for item in doc["items"]:
        assert "status" not in item
        assert not {"uid", "resourceVersion", "managedFields", "creationTimestamp"} & set(
            item["metadata"])
    kinds = {i["kind"] for i in doc["items"]}
    assert kinds == {"Deployment", "Service", "ConfigMap", "Secret", "PersistentVolumeClaim",
                     "ReplicaSet", "Pod"}
    live = list(yaml.safe_load_all(exported.with_name("k8s-backup.live.yaml").read_text()))
    gateway = next(x for x in live if x["kind"] == "Deployment"
                   and x["metadata"]["name"] == "api-gateway")
    assert gateway["status"]["readyReplicas"] == 2 and gateway["metadata"]["uid"]
    secret = next(x for x in live if x["kind"] == "Secret")
    assert "DATABASE_URL" in secret["keys"]
    text = exported.read_text() + exported.with_name("k8s-backup.live.yaml").read_text()
    for value in SECRET_VALUES:
        assert value not in text
