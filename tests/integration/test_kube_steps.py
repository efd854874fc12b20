"""Every k8s.* step kind through `Run.execute` against the Kubernetes API emulator:
success and failure paths (unreachable API, 500s, dropped watches, 410 Gone, bad images,
missing objects and keys), each ending in a clear status and message, never a hang;
compared with the real kubectl; and the one-watch claim of DeploymentWatch."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from runbook.events import Event
from runbook.journal import Journal
from runbook.loader import load_text
from runbook.operator import Operator
from runbook.run import Run
from runbook.sandbox.kube import Timing, seed
from runbook.sandbox.kube.resources import DEPLOYMENT, by_kind
from runbook.stepkind import CancelToken, Outcome, StepResult
from steps import default_registry
from steps.kube.client import forget_clients
from steps.kube.rollout import LINGER, DeploymentWatch
from tests.integration.conftest import KubeSandbox, requires_kubectl, start_sandbox

REGISTRY = "creatorbridge.azurecr.io"
SECRET_VALUES = ("sandbox-database-url", "sandbox-jwt-secret", "sandbox-stripe-secret-key")
DEPLOYMENTS_PATH = "/apis/apps/v1/namespaces/{ns}/deployments"


@dataclass
class Ran:
    result: StepResult
    lines: list[str]
    events: list[Event]
    seconds: float
    session_dir: Path

    @property
    def outcome(self) -> Outcome:
        return self.result.outcome

    @property
    def message(self) -> str:
        return self.result.message


class Harness:
    """Runs one-item runbooks in environment `sandbox` (the emulator's namespace), all
    sessions in one journal (so `recall` sees earlier facts)."""

    def __init__(self, root: Path, kube: KubeSandbox, namespace: str | None = None) -> None:
        self.root = root
        self.kube = kube
        self.namespace = namespace or kube.namespace
        self.journal_path = root / "state" / "journal.db"
        self.journal_path.parent.mkdir(parents=True, exist_ok=True)
        self.journal = Journal(self.journal_path)
        self.count = 0

    def run(self, uses: str, params: dict[str, Any] | None = None, kind: str = "action",
            cancel: CancelToken | None = None, timeout: str | None = None) -> Ran:
        self.count += 1
        item: dict[str, Any] = {"id": "x", "kind": kind, "title": "X", "uses": uses,
                                "with": params or {}}
        if timeout:
            item["timeout"] = timeout
        text = ("runbook: 1\ntitle: kube steps\nenvironments:\n"
                f"  sandbox: {{namespace: {self.namespace}, context: sandbox}}\n"
                "phases:\n  - id: p\n    title: P\n    sections:\n      - id: s\n"
                f"        title: S\n        items:\n          - {json.dumps(item)}\n")
        path = self.root / f"rb{self.count}.yaml"
        path.write_text(text)
        reg = default_registry()
        rb = load_text(text, str(path), reg)
        run = Run.start(self.journal, rb, "sandbox", {}, reg, Operator("amy", "h", ""),
                        dry_run=False)
        lines: list[str] = []
        started = time.monotonic()
        result = run.execute("x", cancel or CancelToken(),
                             listener=lambda _item, batch: lines.extend(batch))
        seconds = time.monotonic() - started
        return Ran(result, lines, self.journal.events(run.meta.id), seconds, run.dir)

    def close(self) -> None:
        self.journal.close()


@pytest.fixture
def kube(kube_emulator: KubeSandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[KubeSandbox]:
    monkeypatch.setenv("KUBECONFIG", str(kube_emulator.kubeconfig))
    forget_clients()
    yield kube_emulator
    DeploymentWatch.close_all()
    forget_clients()
    assert kube_emulator.emulator.cluster.errors == []


@pytest.fixture
def h(kube: KubeSandbox, tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path, kube)
    yield harness
    harness.close()


def image_of(kube: KubeSandbox, name: str) -> str:
    dep = kube.emulator.store.get(DEPLOYMENT, kube.namespace, name)
    return str(dep["spec"]["template"]["spec"]["containers"][0]["image"])


def replicas_of(kube: KubeSandbox, name: str) -> int:
    return int(kube.emulator.store.get(DEPLOYMENT, kube.namespace, name)["spec"]["replicas"])


def in_thread(fn: Any) -> tuple[threading.Thread, list[Any]]:
    box: list[Any] = []
    t = threading.Thread(target=lambda: box.append(fn()), daemon=True)
    t.start()
    return t, box


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
    sandbox = start_sandbox(tmp_path / "slow", timing=timing)
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


# -- exec and logs ------------------------------------------------------------------------


def test_exec_exit_zero_and_non_zero(h: Harness) -> None:
    ok = h.run("k8s.exec", {"deployment": "asset-service",
                            "command": ["npx", "prisma", "migrate", "deploy"], "timeout": "20s"})
    assert ok.outcome is Outcome.PASSED and ok.message == "exit status 0", ok.message
    assert ok.result.exit_code == 0
    assert any("No pending migrations to apply." in line for line in ok.lines)
    h.kube.emulator.faults.fail_exec("npx prisma", 2, "Error: P1001: Can't reach database")
    bad = h.run("k8s.exec", {"deployment": "asset-service",
                             "command": ["npx", "prisma", "migrate", "deploy"],
                             "timeout": "20s"})
    assert bad.outcome is Outcome.FAILED and bad.message == "exit status 2"
    assert bad.result.exit_code == 2
    assert any("P1001" in line for line in bad.lines)
    assert bad.seconds < 5
    gone = h.run("k8s.exec", {"deployment": "no-such", "command": ["true"]})
    assert gone.outcome is Outcome.FAILED and "404" in gone.message


def test_logs_with_fail_on(h: Harness) -> None:
    ok = h.run("k8s.logs", {"selector": "app=api-gateway", "fail_on": "ERROR"}, kind="check")
    assert ok.outcome is Outcome.PASSED, ok.message
    assert ok.message == "read logs of 2 pod(s)"
    assert any("listening on :8080" in line for line in ok.lines)
    pod = next(p["metadata"]["name"] for p in h.kube.emulator.store.list(
        by_kind("Pod"),
        h.namespace)[0] if p["metadata"]["labels"].get("app") == "api-gateway")
    h.kube.emulator.logs.append(h.namespace, pod, "api-gateway",
                                "2025-01-01T00:00:00Z ERROR payment provider timeout")
    bad = h.run("k8s.logs", {"selector": "app=api-gateway", "fail_on": "ERROR"}, kind="check")
    assert bad.outcome is Outcome.FAILED and bad.message == "1 line(s) match 'ERROR'"
    none = h.run("k8s.logs", {"selector": "app=nothing"}, kind="check")
    assert none.outcome is Outcome.FAILED and "no pods match" in none.message


# -- against the real kubectl -------------------------------------------------------------


@requires_kubectl
def test_set_image_agrees_with_kubectl(h: Harness) -> None:
    image = f"{REGISTRY}/creator-service:v2.0.0"
    ran = h.run("k8s.set-image", {"deployment": "creator-service", "image": image})
    assert ran.outcome is Outcome.PASSED
    started = time.monotonic()
    status = h.kube.kubectl("rollout", "status", "deployment/creator-service", "--timeout=30s")
    assert status.returncode == 0, status.stderr
    assert time.monotonic() - started < 3
    assert "successfully rolled out" in status.stdout
    got = h.kube.kubectl("get", "deploy", "creator-service", "-o",
                         "jsonpath={.spec.template.spec.containers[0].image}")
    assert got.stdout == image
    undo = h.kube.kubectl("rollout", "undo", "deployment/creator-service")
    assert undo.returncode == 0, undo.stderr
    ours = h.run("k8s.rollout-status", {"deployment": "creator-service"}, kind="check")
    theirs = h.kube.kubectl("rollout", "status", "deployment/creator-service", "--timeout=30s")
    assert ours.outcome is Outcome.PASSED and theirs.returncode == 0
    assert ours.message in theirs.stdout
    assert image_of(h.kube, "creator-service").endswith(":v1.0.0")


@requires_kubectl
def test_bad_image_fails_in_both(h: Harness) -> None:
    ran = h.run("k8s.set-image", {"deployment": "rights-service",
                                  "image": f"{REGISTRY}/rights-service:bad-2"})
    theirs = h.kube.kubectl("rollout", "status", "deployment/rights-service", "--timeout=30s")
    assert ran.outcome is Outcome.FAILED and theirs.returncode != 0
    assert "exceeded its progress deadline" in ran.message
    assert "exceeded its progress deadline" in theirs.stderr


# -- one watch for many rollouts ----------------------------------------------------------


def deployment_watches(kube: KubeSandbox) -> int:
    store = kube.emulator.store
    with store.lock:
        return sum(1 for w in store._watchers if w.res is DEPLOYMENT and not w.closed)


def test_one_deployment_watch_for_twelve_rollouts(h: Harness) -> None:
    from runbook.sandbox.kube import CREATORBRIDGE_SERVICES
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], deployment_watches(h.kube))
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        for name in CREATORBRIDGE_SERVICES:  # one after another
            ran = h.run("k8s.set-image", {"deployment": name, "image": f"{REGISTRY}/{name}:v2"})
            assert ran.outcome is Outcome.PASSED, ran.message
        assert peak[0] == 1, f"{peak[0]} deployment watches at once (sequential)"
        peak[0] = 0
        started = time.monotonic()
        results: list[Ran] = []
        lock = threading.Lock()

        def one(name: str) -> None:
            harness = Harness(h.root / f"c-{name}", h.kube)
            try:
                r = harness.run("k8s.set-image", {"deployment": name,
                                                  "image": f"{REGISTRY}/{name}:v3"})
            finally:
                harness.close()
            with lock:
                results.append(r)

        for name in CREATORBRIDGE_SERVICES:
            (h.root / f"c-{name}").mkdir()
        threads = [threading.Thread(target=one, args=(n,)) for n in CREATORBRIDGE_SERVICES]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert all(not t.is_alive() for t in threads)
        assert len(results) == 12 and all(r.outcome is Outcome.PASSED for r in results), \
            [r.message for r in results]
        assert time.monotonic() - started < 15
        assert peak[0] == 1, f"{peak[0]} deployment watches at once (concurrent)"
    finally:
        stop.set()
        sampler.join(1)
    watches = [p for m, p in h.kube.emulator.requests
               if "/deployments" in p and "watch=" in p and m == "GET"]
    assert watches  # the followers did watch
    # closed LINGER seconds after the last follower left, connection and all
    shared = list(DeploymentWatch._shared.values())
    assert len(shared) == 1
    assert h.kube.emulator.wait_for(lambda: not DeploymentWatch._shared, timeout=LINGER + 2)
    shared[0]._thread.join(2)
    assert not shared[0]._thread.is_alive()  # the connection was cut, not left to time out
