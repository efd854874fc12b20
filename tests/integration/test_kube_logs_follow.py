"""k8s.logs follow: new lines stream in, and the follow survives pods being replaced."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from runbook.format.loader import load_text
from runbook.journal.sqlite import Journal
from runbook.session.operator import Operator
from runbook.session.run import Run
from steps import default_registry
from steps.kube.client import forget_clients
from tests.integration.conftest import KubeSandbox

RB = """
runbook: 1
title: Follow
environments:
  sb: {{namespace: {ns}, context: sandbox}}
phases:
  - id: p
    title: P
    sections:
      - id: s
        title: S
        items:
          - {{id: follow, kind: check, title: Follow, uses: k8s.logs,
             with: {{selector: app=payout-service, tail: 2, follow: 4s}}}}
"""


def test_follow_reconnects_when_pods_are_replaced(kube_emulator: KubeSandbox, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(kube_emulator.kubeconfig))
    forget_clients()
    rb = load_text(RB.format(ns=kube_emulator.namespace), "f.yaml", default_registry())
    run = Run.start(Journal(tmp_path / "j.db"), rb, "sb", {}, default_registry(),
                    Operator("fay", "h", ""), dry_run=False)
    before = {p for p in _pods(kube_emulator)}

    def rollout() -> None:
        time.sleep(1.0)
        kube_emulator.kubectl("set", "image", "deployment/payout-service",
                              "payout-service=creatorbridge.azurecr.io/payout-service:v9")

    threading.Thread(target=rollout, daemon=True).start()
    lines: list[str] = []
    started = time.monotonic()
    result = run.execute("follow", listener=lambda item, batch: lines.extend(batch))
    assert time.monotonic() - started < 10
    assert result.outcome.value == "passed", result.message
    after = {p for p in _pods(kube_emulator)} - before
    assert after, "the rollout made new pods"
    assert any(any(f"[{p}]" in line for line in lines) for p in after), \
        "lines from a pod that appeared during the follow"
    forget_clients()


def _pods(k: KubeSandbox) -> list[str]:
    out = k.kubectl("get", "pods", "-l", "app=payout-service", "-o", "name")
    return [n.split("/", 1)[1] for n in out.stdout.split()]
