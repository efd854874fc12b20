"""k8s step kinds through Run.execute on the emulator:
read-only checks: health, capacity, unreachable API, 500s, PVCs, config keys, pods."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from runbook.execute.stepkind import Outcome
from runbook.sandbox.kube import seed
from steps.kube.client import forget_clients
from tests.integration.kube_steps.conftest import (
    DEPLOYMENTS_PATH,
    REGISTRY,
    SECRET_VALUES,
    Harness,
    image_of,
)

# -- read-only checks ---------------------------------------------------------------------


def test_cluster_health_and_node_capacity(h: Harness) -> None:
    ran = h.run("k8s.cluster-health", kind="check")
    assert ran.outcome is Outcome.PASSED, ran.message
    assert ran.message == "3 nodes Ready" and any("reachable" in line for line in ran.lines)
    ran = h.run("k8s.node-capacity", {"headroom": 0.25}, kind="check")
    assert ran.outcome is Outcome.PASSED, ran.message
    assert any("surges CPU" in line for line in ran.lines)


def test_api_unreachable_fails_fast_and_clearly(h: Harness) -> None:
    h.kube.emulator.faults.unreachable()
    try:
        for uses, params in (("k8s.cluster-health", {}), ("k8s.pods", {}),
                             ("k8s.set-image", {"deployment": "api-gateway", "image": "x:v2"})):
            ran = h.run(uses, params, kind="check" if uses != "k8s.set-image" else "action")
            assert ran.outcome is Outcome.FAILED
            assert "API unreachable" in ran.message, ran.message
            assert ran.seconds < 12, f"{uses} took {ran.seconds:.1f}s"
    finally:
        h.kube.emulator.faults.reachable()
    assert h.run("k8s.cluster-health", kind="check").outcome is Outcome.PASSED


def test_closed_port_kubeconfig(h: Harness, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    text = h.kube.kubeconfig.read_text().replace(h.kube.url, f"http://127.0.0.1:{port}")
    closed = tmp_path / "closed-kubeconfig"
    closed.write_text(text)
    monkeypatch.setenv("KUBECONFIG", str(closed))
    forget_clients()
    ran = h.run("k8s.versions", kind="check")
    assert ran.outcome is Outcome.FAILED and "API unreachable" in ran.message
    assert ran.seconds < 12


def test_500_on_the_deployments_path(h: Harness) -> None:
    path = DEPLOYMENTS_PATH.format(ns=h.namespace)
    h.kube.emulator.faults.fail_next(path, 1, 500)
    ran = h.run("k8s.versions", kind="check")
    assert ran.outcome is Outcome.FAILED
    assert ran.message == "API error 500: injected fault"
    h.kube.emulator.faults.fail_next(path, 1, 500)
    ran = h.run("k8s.set-image", {"deployment": "api-gateway", "image": "x:v2"})
    assert ran.outcome is Outcome.FAILED and "API error 500" in ran.message
    assert image_of(h.kube, "api-gateway").endswith(":v1.0.0")  # nothing changed
    assert h.run("k8s.versions", kind="check").outcome is Outcome.PASSED


def test_pvcs_bound_and_pending(h: Harness) -> None:
    ran = h.run("k8s.pvcs", kind="check")
    assert ran.outcome is Outcome.PASSED and ran.message == "2 PVCs Bound"
    claim = seed.pvc("stuck-claim", h.namespace, storage_class="no-such-class")
    claim["status"] = {"phase": "Pending"}  # no provisioner for that class: never bound
    h.kube.emulator.seed([claim], settle=False)
    ran = h.run("k8s.pvcs", kind="check")
    assert ran.outcome is Outcome.FAILED
    assert "stuck-claim" in ran.message and "not Bound" in ran.message


def test_config_keys_present_missing_key_and_missing_secret(h: Harness) -> None:
    ok = h.run("k8s.config-keys", {"refs": ["secret/creatorbridge-secrets:DATABASE_URL",
                                            "configmap/creatorbridge-config:NODE_ENV"]},
               kind="check")
    assert ok.outcome is Outcome.PASSED, ok.message
    bad = h.run("k8s.config-keys", {"refs": ["secret/creatorbridge-secrets:JWT_SECRET",
                                             "secret/creatorbridge-secrets:NO_SUCH_KEY",
                                             "secret/missing-secret:API_KEY",
                                             "configmap/creatorbridge-config:MISSING_FLAG"]},
                kind="check")
    assert bad.outcome is Outcome.FAILED
    for name in ("creatorbridge-secrets:NO_SUCH_KEY", "secret/missing-secret (not found)",
                 "configmap/creatorbridge-config:MISSING_FLAG"):
        assert name in bad.message, bad.message
    assert "JWT_SECRET" not in bad.message
    export = h.run("k8s.export", {"kinds": ["deployments", "secrets", "configmaps"]},
                   kind="check")
    assert export.outcome is Outcome.PASSED, export.message
    assert (export.session_dir / "k8s-backup.yaml").exists()
    # the secret values never appear: not in output, messages, events, nor any file
    shown = json.dumps([ok.lines, bad.lines, bad.message, export.lines,
                        [e.data for e in ok.events + bad.events + export.events]], default=str)
    files = [p for p in h.root.rglob("*") if p.is_file()]
    assert any(p.name == "journal.db" for p in files)
    for value in SECRET_VALUES:
        assert value not in shown
        for p in files:
            assert value.encode() not in p.read_bytes(), f"{value!r} written to {p}"


def test_pods_ready_and_not_ready(h: Harness) -> None:
    ok = h.run("k8s.pods", kind="check")
    assert ok.outcome is Outcome.PASSED and ok.message == "24 pods running and ready"
    ran = h.run("k8s.set-image", {"deployment": "billing-service",
                                  "image": f"{REGISTRY}/billing-service:bad-1", "wait": False})
    assert ran.outcome is Outcome.PASSED and "not waiting" in ran.message
    assert h.kube.emulator.wait_for(lambda: "ImagePull" in h.run(
        "k8s.pods", {"selector": "app=billing-service"}, kind="check").message, timeout=5)
    bad = h.run("k8s.pods", {"selector": "app=billing-service"}, kind="check")
    assert bad.outcome is Outcome.FAILED
    assert "not running and ready" in bad.message
    assert "ErrImagePull" in bad.message or "ImagePullBackOff" in bad.message, bad.message
    none = h.run("k8s.pods", {"selector": "app=nothing"}, kind="check")
    assert none.outcome is Outcome.FAILED and none.message == "no pods found"


