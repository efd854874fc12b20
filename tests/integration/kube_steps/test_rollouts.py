"""k8s step kinds through Run.execute on the emulator:
set-image, rollout-status, undo, scale: success, bad image, dropped watches, 410."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from runbook.execute.stepkind import Outcome
from runbook.sandbox.kube import Timing
from steps.kube.client import forget_clients
from steps.kube.rollout import DeploymentWatch
from tests.integration.conftest import KubeSandbox
from tests.integration.kube_steps.conftest import (
    REGISTRY,
    Harness,
    Ran,
    image_of,
    in_thread,
    replicas_of,
    strict_sandbox,
)

# -- set-image, rollout-status, undo, scale ----------------------------------------------


def test_set_image_follows_the_rollout(h: Harness) -> None:
    ran = h.run("k8s.set-image", {"deployment": "api-gateway",
                                  "image": f"{REGISTRY}/api-gateway:v1.1.0"})
    assert ran.outcome is Outcome.PASSED, ran.message
    assert ran.message == 'deployment "api-gateway" successfully rolled out'
    assert ran.seconds < 10
    assert image_of(h.kube, "api-gateway") == f"{REGISTRY}/api-gateway:v1.1.0"
    assert h.kube.emulator.rolled_out(h.namespace, "api-gateway")
    assert any("v1.0.0 -> " in line for line in ran.lines)
    status = h.run("k8s.rollout-status", {"deployment": "api-gateway"}, kind="check")
    assert status.outcome is Outcome.PASSED and status.seconds < 3


def test_set_image_bad_container_name(h: Harness) -> None:
    ran = h.run("k8s.set-image", {"deployment": "api-gateway", "container": "sidecar",
                                  "image": "x:v2"})
    assert ran.outcome is Outcome.FAILED and "has no container 'sidecar'" in ran.message


def test_missing_deployment(h: Harness) -> None:
    ran = h.run("k8s.set-image", {"deployment": "no-such-service", "image": "x:v2"})
    assert ran.outcome is Outcome.FAILED
    assert "404" in ran.message and "no-such-service" in ran.message, ran.message
    assert ran.seconds < 5
    ran = h.run("k8s.rollout-status", {"deployment": "no-such-service"}, kind="check")
    assert ran.outcome is Outcome.FAILED
    assert ran.message == 'deployment "no-such-service" not found'
    assert ran.seconds < 5


def test_bad_image_exceeds_the_progress_deadline(h: Harness) -> None:
    ran = h.run("k8s.set-image", {"deployment": "auth-service",
                                  "image": f"{REGISTRY}/auth-service:bad-tag", "timeout": "30s"})
    assert ran.outcome is Outcome.FAILED
    assert ran.message == 'deployment "auth-service" exceeded its progress deadline'
    assert ran.seconds < 10  # the 600 s deadline is 3 s in the emulator's time
    status = h.run("k8s.rollout-status", {"deployment": "auth-service"}, kind="check")
    assert status.outcome is Outcome.FAILED and "exceeded its progress deadline" in status.message


def test_rollout_status_times_out_clearly(h: Harness) -> None:
    h.run("k8s.set-image", {"deployment": "auth-service", "wait": False,
                            "image": f"{REGISTRY}/auth-service:bad-tag"})
    ran = h.run("k8s.rollout-status", {"deployment": "auth-service", "timeout": "1s"},
                kind="check")
    assert ran.outcome is Outcome.FAILED
    assert ran.message.startswith('timed out waiting for deployment "auth-service"')
    assert 0.9 < ran.seconds < 3


def slow_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> KubeSandbox:
    timing = Timing(tick=0.02, pod_start=0.6, image_backoff=0.2, terminate=0.1,
                    deadline_scale=0.05, log_interval=0.2)
    sandbox = strict_sandbox(tmp_path / "slow", timing=timing)
    monkeypatch.setenv("KUBECONFIG", str(sandbox.kubeconfig))
    forget_clients()
    return sandbox


@pytest.mark.parametrize("fault", ["drop", "expire"])
def test_watch_cut_mid_rollout_still_finishes(fault: str, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "slow").mkdir()
    kube = slow_sandbox(tmp_path, monkeypatch)
    harness = Harness(tmp_path, kube)
    try:
        image = f"{REGISTRY}/user-service:v9"
        t, box = in_thread(lambda: harness.run("k8s.set-image", {"deployment": "user-service",
                                                                 "image": image}))
        store = kube.emulator.store
        assert kube.emulator.wait_for(lambda: store.watcher_count > 0, timeout=5)
        time.sleep(0.3)
        assert not kube.emulator.rolled_out(kube.namespace, "user-service")
        for _ in range(3):  # cut it a few times while the rollout runs
            if fault == "expire":
                kube.emulator.faults.expire_resource_versions()
            assert kube.emulator.faults.drop_watches() >= 1
            kube.emulator.wait_for(lambda: store.watcher_count > 0, timeout=3)
            time.sleep(0.3)
        t.join(15)
        assert not t.is_alive(), "set-image hung after the watch was cut"
        ran: Ran = box[0]
        assert ran.outcome is Outcome.PASSED, ran.message
        assert ran.message == 'deployment "user-service" successfully rolled out'
        assert kube.emulator.rolled_out(kube.namespace, "user-service")
        assert image_of(kube, "user-service") == image
    finally:
        harness.close()
        DeploymentWatch.close_all()
        kube.emulator.stop()
        forget_clients()


def test_api_stops_mid_follow_then_times_out(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "slow").mkdir()
    kube = slow_sandbox(tmp_path, monkeypatch)
    harness = Harness(tmp_path, kube)
    try:
        t, box = in_thread(lambda: harness.run(
            "k8s.set-image", {"deployment": "user-service", "image": "x/user-service:v9",
                              "timeout": "2s"}))
        assert kube.emulator.wait_for(lambda: kube.emulator.store.watcher_count > 0, 5)
        kube.emulator.faults.unreachable()
        t.join(10)
        assert not t.is_alive(), "set-image hung with the API gone"
        ran: Ran = box[0]
        assert ran.outcome is Outcome.FAILED
        assert ran.message.startswith('timed out waiting for deployment "user-service"')
        assert "watch" in ran.message or any("watch:" in line for line in ran.lines)
        assert ran.seconds < 5
    finally:
        harness.close()
        DeploymentWatch.close_all()
        kube.emulator.stop()
        forget_clients()


def test_versions_scale_to_zero_and_back_to_recorded(h: Harness) -> None:
    versions = h.run("k8s.versions", kind="check")
    assert versions.outcome is Outcome.PASSED and versions.message == "recorded 12 deployments"
    down = h.run("k8s.scale", {"deployment": "payout-service", "replicas": "0"})
    assert down.outcome is Outcome.PASSED, down.message
    assert replicas_of(h.kube, "payout-service") == 0
    assert h.kube.emulator.wait_for(lambda: h.run(
        "k8s.pods", {"selector": "app=payout-service"}, kind="check").message == "no pods found",
        timeout=5)
    back = h.run("k8s.scale", {"deployment": "payout-service", "replicas": "recorded"})
    assert back.outcome is Outcome.PASSED, back.message
    assert replicas_of(h.kube, "payout-service") == 2
    assert h.run("k8s.pods", {"selector": "app=payout-service"},
                 kind="check").message == "2 pods running and ready"
    bad = h.run("k8s.scale", {"deployment": "payout-service", "replicas": "lots"})
    assert bad.outcome is Outcome.FAILED and "not a number" in bad.message


def test_scale_recorded_without_a_record(h: Harness) -> None:
    ran = h.run("k8s.scale", {"deployment": "payout-service", "replicas": "recorded"})
    assert ran.outcome is Outcome.FAILED
    assert ran.message == "no recorded replica count for 'payout-service'"


def test_rollout_undo_to_recorded_and_to_previous(h: Harness) -> None:
    assert h.run("k8s.rollout-undo", {"deployment": "content-service"}).message.startswith(
        "no recorded version of 'content-service'")
    assert h.run("k8s.versions", kind="check").outcome is Outcome.PASSED
    v1, v2, v3 = (f"{REGISTRY}/content-service:{t}" for t in ("v1.0.0", "v2", "v3"))
    assert h.run("k8s.set-image", {"deployment": "content-service", "image": v2}).outcome \
        is Outcome.PASSED
    assert h.run("k8s.set-image", {"deployment": "content-service", "image": v3}).outcome \
        is Outcome.PASSED
    prev = h.run("k8s.rollout-undo", {"deployment": "content-service", "to": "previous"})
    assert prev.outcome is Outcome.PASSED, prev.message
    assert image_of(h.kube, "content-service") == v2
    rec = h.run("k8s.rollout-undo", {"deployment": "content-service"})
    assert rec.outcome is Outcome.PASSED, rec.message
    assert image_of(h.kube, "content-service") == v1
    assert h.kube.emulator.rolled_out(h.namespace, "content-service")
    none = h.run("k8s.rollout-undo", {"deployment": "rights-service", "to": "previous"})
    assert none.outcome is Outcome.FAILED
    assert none.message == "deployment 'rights-service' has no previous revision"


