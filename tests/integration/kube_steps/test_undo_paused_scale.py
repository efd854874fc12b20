"""Issue 14, defect 4 (rollout-undo to: previous restores the whole pod template and refuses
a paused deployment, as kubectl rollout undo), defect 10 (a paused deployment is said at
once) and the scale wait that checks observedGeneration; kubectl cross-checks throughout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runbook.execute.stepkind import Outcome
from runbook.sandbox.kube import Timing
from steps.kube.client import forget_clients
from steps.kube.rollout import DeploymentWatch
from tests.integration.conftest import KubeSandbox, requires_kubectl
from tests.integration.kube_steps.conftest import REGISTRY, Harness, strict_sandbox

HASH = "pod-template-hash"


def kubectl_json(kube: KubeSandbox, *args: str) -> Any:
    ran = kube.kubectl(*args, "-o", "json")
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout)


def without_hash(template: dict[str, Any]) -> dict[str, Any]:
    labels = {k: v for k, v in template["metadata"].get("labels", {}).items() if k != HASH}
    return {**template, "metadata": {**template["metadata"], "labels": labels}}


def sets_of(kube: KubeSandbox, name: str) -> dict[str, dict[str, Any]]:
    """kubectl's view of the deployment's ReplicaSets, by revision."""
    items = kubectl_json(kube, "get", "rs", "-l", f"app={name}")["items"]
    return {rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: rs
            for rs in items}


@requires_kubectl
def test_undo_to_previous_restores_the_whole_template(h: Harness) -> None:
    name = "content-service"
    good = kubectl_json(h.kube, "get", "deploy", name)["spec"]["template"]
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": name, "image": f"{REGISTRY}/{name}:v2",
         "env": [{"name": "FEATURE_BULK_IMPORT", "value": "on"}],
         "resources": {"limits": {"memory": "2Gi"}}},
        {"name": "metrics-sidecar", "image": "prom/statsd-exporter:v0.27.1"}]}}}}
    changed = h.kube.kubectl("patch", "deploy", name, "-p", json.dumps(patch))
    assert changed.returncode == 0, changed.stderr
    assert h.kube.kubectl("rollout", "status", f"deploy/{name}", "--timeout=30s").returncode == 0
    ran = h.run("k8s.rollout-undo", {"deployment": name, "to": "previous"})
    assert ran.outcome is Outcome.PASSED, ran.message
    assert ran.message == f'deployment "{name}" successfully rolled out'
    # kubectl: the deployment's template is revision 1's again, env, limits, sidecar and all
    now = kubectl_json(h.kube, "get", "deploy", name)
    sets = sets_of(h.kube, name)
    assert set(sets) == {"2", "3"}, "the old ReplicaSet was re-adopted, none was made"
    assert without_hash(sets["3"]["spec"]["template"]) == now["spec"]["template"] == good
    assert now["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert [c["name"] for c in now["spec"]["template"]["spec"]["containers"]] == [name]
    status = h.kube.kubectl("rollout", "status", f"deploy/{name}", "--timeout=10s")
    assert status.returncode == 0 and "successfully rolled out" in status.stdout
    assert ran.result.facts["restored"] == {name: f"{REGISTRY}/{name}:v1.0.0"}


def pause(kube: KubeSandbox, name: str) -> None:
    assert kube.kubectl("rollout", "pause", f"deploy/{name}").returncode == 0


@requires_kubectl
def test_undo_refuses_a_paused_deployment_like_kubectl(h: Harness) -> None:
    name = "auth-service"
    assert h.run("k8s.set-image", {"deployment": name, "image": f"{REGISTRY}/{name}:v2"}) \
        .outcome is Outcome.PASSED
    pause(h.kube, name)
    theirs = h.kube.kubectl("rollout", "undo", f"deploy/{name}")
    assert theirs.returncode != 0
    ours = h.run("k8s.rollout-undo", {"deployment": name, "to": "previous", "timeout": "10s"})
    assert ours.outcome is Outcome.FAILED
    assert theirs.stderr.removeprefix("error: ").strip() in ours.message, theirs.stderr
    assert ours.seconds < 5
    image = h.kube.kubectl("get", "deploy", name, "-o",
                           "jsonpath={.spec.template.spec.containers[0].image}")
    assert image.stdout == f"{REGISTRY}/{name}:v2"  # nothing was changed


@requires_kubectl
def test_a_paused_deployment_is_said_at_once(h: Harness) -> None:
    name = "user-service"
    pause(h.kube, name)
    ran = h.run("k8s.set-image", {"deployment": name, "image": f"{REGISTRY}/{name}:v2",
                                  "timeout": "20s"})
    assert ran.outcome is Outcome.FAILED and "is paused" in ran.message, ran.message
    assert ran.seconds < 5
    image = h.kube.kubectl("get", "deploy", name, "-o",
                           "jsonpath={.spec.template.spec.containers[0].image}")
    assert image.stdout == f"{REGISTRY}/{name}:v1.0.0"
    # a change made anyway (kubectl set image) on the paused deployment: rollout-status says so
    assert h.kube.kubectl("set", "image", f"deploy/{name}",
                          f"{name}={REGISTRY}/{name}:v3").returncode == 0
    status = h.run("k8s.rollout-status", {"deployment": name, "timeout": "20s"}, kind="check")
    assert status.outcome is Outcome.FAILED and "is paused" in status.message, status.message
    assert status.seconds < 5


@pytest.fixture
def slow_controller(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A strict sandbox whose controllers run once a second (a busy control plane)."""
    (tmp_path / "slow").mkdir()
    kube = strict_sandbox(tmp_path / "slow", Timing(tick=1.0, pod_start=0.1, image_backoff=0.2,
                                                    terminate=0.05, deadline_scale=0.005,
                                                    log_interval=0.2))
    monkeypatch.setenv("KUBECONFIG", str(kube.kubeconfig))
    forget_clients()
    harness = Harness(tmp_path, kube)
    yield harness
    harness.close()
    DeploymentWatch.close_all()
    kube.emulator.stop()
    forget_clients()


@requires_kubectl
def test_the_scale_wait_waits_for_the_controller_to_observe_it(slow_controller: Harness) -> None:
    h = slow_controller
    name = "analytics-service"
    assert h.kube.kubectl("scale", f"deploy/{name}", "--replicas=3").returncode == 0
    ran = h.run("k8s.scale", {"deployment": name, "replicas": "2"})
    assert ran.outcome is Outcome.PASSED, ran.message
    got = kubectl_json(h.kube, "get", "deploy", name)
    assert got["status"]["observedGeneration"] >= got["metadata"]["generation"]
    assert got["spec"]["replicas"] == 2 and got["status"]["readyReplicas"] == 2
