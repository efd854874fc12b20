"""Harness for the k8s step tests: a one-item runbook per call, run on the emulator.

The emulator here is as strict as a cluster (`strict()`): watch events arrive WATCH_LATENCY
after the write, a re-adopted ReplicaSet keeps its deadline condition until progress, the
history is compacted every few seconds and Lease times must have six fractional digits.
`kube_emulator` is overridden so every test of this package runs on such a cluster.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from runbook.execute.stepkind import CancelToken, Outcome, StepResult
from runbook.format.loader import load_text
from runbook.journal.sqlite import Journal
from runbook.rules.events import Event
from runbook.sandbox.kube import KubeEmulator, Timing
from runbook.sandbox.kube.resources import DEPLOYMENT
from runbook.session.operator import Operator
from runbook.session.run import Run
from steps import default_registry
from steps.kube.client import forget_clients
from steps.kube.rollout import DeploymentWatch
from tests.integration.conftest import (
    CONTEXT,
    NAMESPACE,
    KubeSandbox,
    fast_timing,
    start_sandbox,
)

REGISTRY = "creatorbridge.azurecr.io"
SECRET_VALUES = ("sandbox-database-url", "sandbox-jwt-secret", "sandbox-stripe-secret-key")
DEPLOYMENTS_PATH = "/apis/apps/v1/namespaces/{ns}/deployments"
WATCH_LATENCY = 0.05  # seconds from a write to its watch events
COMPACT_EVERY = 3.0  # seconds between etcd-style compactions


def make_strict(sandbox: KubeSandbox) -> KubeSandbox:
    sandbox.emulator.faults.strict(watch_latency=WATCH_LATENCY, compact_every=COMPACT_EVERY)
    return sandbox


def strict_sandbox(root: Path, timing: Timing | None = None) -> KubeSandbox:
    """A started sandbox, strict as a cluster (for tests that need their own timing)."""
    return make_strict(start_sandbox(root, timing=timing))


def varied_sandbox(root: Path) -> KubeSandbox:
    """A started strict sandbox whose namespace has the variety of a real one (variety.py)."""
    emulator = KubeEmulator(timing=fast_timing(), seed_namespace=NAMESPACE, variety=True).start()
    kubeconfig = emulator.write_kubeconfig(root / "kubeconfig", context=CONTEXT,
                                           namespace=NAMESPACE)
    return make_strict(KubeSandbox(emulator, kubeconfig, NAMESPACE, root / "kube-cache"))


@pytest.fixture
def kube_emulator(tmp_path: Path) -> Iterator[KubeSandbox]:
    """The per-test emulated cluster, with watch latency and the other strict modes on."""
    sandbox = strict_sandbox(tmp_path)
    try:
        yield sandbox
    finally:
        sandbox.emulator.stop()


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
            cancel: CancelToken | None = None, timeout: str | None = None,
            on_lines: Any = None) -> Ran:
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
        def listen(_item: Any, batch: list[str]) -> None:
            lines.extend(batch)
            if on_lines is not None:
                on_lines(list(batch))
        result = run.execute("x", cancel or CancelToken(), listener=listen)
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


@pytest.fixture
def vh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    """A harness on a strict sandbox with the variety of a real namespace."""
    (tmp_path / "varied").mkdir()
    kube = varied_sandbox(tmp_path / "varied")
    monkeypatch.setenv("KUBECONFIG", str(kube.kubeconfig))
    forget_clients()
    harness = Harness(tmp_path, kube)
    try:
        yield harness
    finally:
        harness.close()
        DeploymentWatch.close_all()
        kube.emulator.stop()
        forget_clients()
        assert kube.emulator.cluster.errors == []


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


