"""The Pods pane against the Kubernetes API emulator: the seeded pods, then a rollout
seen live (new pods appear, old ones leave) with the cursor kept on a surviving pod."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from runbook.format.loader import load_text
from runbook.journal.sqlite import Journal
from runbook.sandbox.kube import Timing
from runbook.session.operator import Operator
from screens.app import AppConfig, RunbookApp, build_app
from screens.run.screen import RunScreen
from screens.widgets.pod_table import PodTable
from steps import default_registry
from steps.kube.client import forget_clients
from steps.kube.rollout import DeploymentWatch
from tests.integration.conftest import KubeSandbox, start_sandbox
from tests.tui.conftest import wait_for

REGISTRY = "creatorbridge.azurecr.io"


def runbook_text(namespace: str) -> str:
    return f"""
runbook: 1
title: Pods pane test
environments:
  sandbox: {{namespace: {namespace}, context: sandbox}}
phases:
  - id: one
    title: Phase one
    sections:
      - id: first
        title: First section
        items:
          - {{id: pods, kind: check, title: Pods ready, uses: k8s.pods}}
"""


@pytest.fixture
def kube(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[KubeSandbox]:
    # pods take 0.8 s to start, so the 4 Hz snapshots see the rollout in steps
    timing = Timing(tick=0.02, pod_start=0.8, image_backoff=0.2, terminate=0.3,
                    deadline_scale=0.05, log_interval=0.2)
    (tmp_path / "kube").mkdir()
    sandbox = start_sandbox(tmp_path / "kube", timing=timing)
    monkeypatch.setenv("KUBECONFIG", str(sandbox.kubeconfig))
    forget_clients()
    try:
        yield sandbox
    finally:
        DeploymentWatch.close_all()
        sandbox.emulator.stop()
        forget_clients()


def make_app(tmp_path: Path, kube: KubeSandbox) -> RunbookApp:
    text = runbook_text(kube.namespace)
    path = tmp_path / "pods.yaml"
    path.write_text(text)
    reg = default_registry()
    rb = load_text(text, str(path), reg)
    journal = Journal(tmp_path / "state" / "journal.db")
    return build_app(AppConfig(rb, reg, journal, Operator("alice", "testhost", ""), "sandbox",
                               {}, False))


def rows(table: PodTable) -> set[str]:
    return {str(k.value) for k in table.rows}


async def test_pods_pane_follows_a_rollout(tmp_path: Path, kube: KubeSandbox) -> None:
    from kubernetes import client
    app = make_app(tmp_path, kube)
    async with app.run_test(size=(180, 50)) as pilot:
        s = app.screen
        assert isinstance(s, RunScreen)
        await pilot.press("3")
        table = s.query_one(PodTable)
        await wait_for(pilot, lambda: table.row_count == 24, timeout=10)
        assert "24 (24 running and ready)" in str(table.border_title)
        before = rows(table)
        old_gateway = {n for n in before if n.startswith("api-gateway-")}
        assert len(old_gateway) == 2
        survivor = sorted(n for n in before if n.startswith("auth-service-"))[0]
        table.move_cursor(row=table.get_row_index(survivor))
        assert table.current_pod == survivor

        image = f"{REGISTRY}/api-gateway:v9.9.9"
        api = client.AppsV1Api(kube.api_client())
        await asyncio.to_thread(
            api.patch_namespaced_deployment, "api-gateway", kube.namespace,
            {"spec": {"template": {"spec": {"containers": [
                {"name": "api-gateway", "image": image}]}}}})

        seen_new: set[str] = set()
        seen_both = False

        def progressed() -> bool:
            nonlocal seen_both
            now = rows(table)
            new = {n for n in now if n.startswith("api-gateway-") and n not in before}
            seen_new.update(new)
            if new and now & old_gateway:
                seen_both = True  # mid-rollout: old and new side by side
            assert table.current_pod == survivor  # the cursor never jumps
            return len(new) == 2 and not now & old_gateway

        await wait_for(pilot, progressed, timeout=10)
        after = rows(table)
        assert len(after) == 24
        assert not after & old_gateway  # the old pods left
        assert len(seen_new) >= 2 and seen_new & after  # new ones appeared
        assert seen_both, "never saw old and new pods together during the rollout"
        for name in seen_new & after:
            await wait_for(pilot, lambda n=name: str(table.get_cell(n, "image")) == image
                           and str(table.get_cell(n, "status")) == "Running", timeout=5)
        assert table.current_pod == survivor
        assert kube.emulator.rolled_out(kube.namespace, "api-gateway")
