"""Issue 14, defect 5: recorded versions and replicas are keyed by the cluster's identity and
the namespace, and a rollback refuses a record of another cluster (the same environment
name run with another context)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runbook.execute.stepkind import Outcome
from runbook.sandbox.kube import seed
from steps.kube.client import forget_clients
from steps.kube.rollout import DeploymentWatch
from tests.integration.conftest import KubeSandbox
from tests.integration.kube_steps.conftest import (
    REGISTRY,
    Harness,
    image_of,
    replicas_of,
    varied_sandbox,
)


@pytest.fixture
def other(tmp_path: Path) -> Iterator[KubeSandbox]:
    """A second cluster (its namespace has kube-system, so its identity is that uid)."""
    (tmp_path / "other").mkdir()
    sandbox = varied_sandbox(tmp_path / "other")
    yield sandbox
    DeploymentWatch.close_all()
    sandbox.emulator.stop()


def use(kube: KubeSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the runs at this cluster (what `--context other` does)."""
    DeploymentWatch.close_all()
    monkeypatch.setenv("KUBECONFIG", str(kube.kubeconfig))
    forget_clients()


def test_a_rollback_refuses_versions_recorded_on_another_cluster(
        h: Harness, other: KubeSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    name = "payout-service"
    only_here = f"{REGISTRY}/{name}:v7-only-on-the-first-cluster"
    assert h.run("k8s.set-image", {"deployment": name, "image": only_here}).outcome \
        is Outcome.PASSED
    recorded = h.run("k8s.versions", kind="check")
    assert recorded.outcome is Outcome.PASSED
    use(other, monkeypatch)  # the same environment, another cluster
    undo = h.run("k8s.rollout-undo", {"deployment": name})
    assert image_of(other, name) == f"{REGISTRY}/{name}:v1.0.0"  # nothing restored there
    assert undo.outcome is Outcome.FAILED
    assert "are of another cluster or namespace" in undo.message, undo.message
    assert recorded.result.facts["cluster"].startswith("server:http://127.0.0.1:")
    assert recorded.result.facts["namespace"] == h.namespace
    scale = h.run("k8s.scale", {"deployment": name, "replicas": "recorded"})
    assert scale.outcome is Outcome.FAILED and "another cluster" in scale.message
    assert replicas_of(other, name) == 2
    # its own record is used there, and the first cluster's stays for the first cluster
    mine = h.run("k8s.versions", kind="check")
    assert mine.result.facts["cluster"].startswith("uid:")
    assert h.run("k8s.set-image", {"deployment": name, "image": f"{REGISTRY}/{name}:v8"}) \
        .outcome is Outcome.PASSED
    back = h.run("k8s.rollout-undo", {"deployment": name})
    assert back.outcome is Outcome.PASSED, back.message
    assert image_of(other, name) == f"{REGISTRY}/{name}:v1.0.0"
    use(h.kube, monkeypatch)
    assert h.run("k8s.set-image", {"deployment": name, "image": f"{REGISTRY}/{name}:v9"}) \
        .outcome is Outcome.PASSED
    first = h.run("k8s.rollout-undo", {"deployment": name})
    assert first.outcome is Outcome.PASSED, first.message
    assert image_of(h.kube, name) == only_here


def test_a_record_of_another_namespace_is_refused(h: Harness, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    assert h.run("k8s.versions", kind="check").outcome is Outcome.PASSED
    h.kube.emulator.seed(seed.creatorbridge("creatorbridge-canary", services=["payout-service"]))
    canary = Harness(tmp_path / "canary-root", h.kube, namespace="creatorbridge-canary")
    canary.journal.close()
    canary.journal = h.journal  # the same journal, the same environment name
    ran = canary.run("k8s.rollout-undo", {"deployment": "payout-service"})
    assert ran.outcome is Outcome.FAILED and "another cluster or namespace" in ran.message
