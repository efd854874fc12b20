"""End to end: the bundled runbooks rehearsed in the sandbox, driven through the TUI with
keys like an operator, then the Markdown report of each session checked.

1. deploy, choosing the rolling update: every item passes, the session completes;
2. with --fault bad-image:payout-service: the payout rollout fails (progress deadline), the
   operator overrides what failed, then completes the rollback runbook, which puts every
   deployment back on its recorded image.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runbook.format.loader import load
from runbook.format.model import ItemKind
from runbook.journal.sqlite import Journal
from runbook.rules.state import Status
from runbook.sandbox.world import NAMESPACE, Sandbox
from runbook.session.operator import Operator
from runbook.session.report import build, to_markdown
from screens.app import AppConfig, RunbookApp, build_app
from screens.modals.choice_modal import ChoiceModal
from screens.modals.reason_modal import ReasonModal
from screens.run.screen import RunScreen
from steps import default_registry

ROOT = Path(__file__).resolve().parents[2] / "runbooks"
# a whole deploy (and a rollback) through the TUI: ~3 min on a quiet machine, over 5 on a
# loaded one; the budget is for a hang, not a speed target (bench/ measures speed)
pytestmark = pytest.mark.timeout(900)


@pytest.fixture
def sandbox_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from steps.kube.client import forget_clients
    forget_clients()
    yield
    forget_clients()


async def until(pilot: object, predicate: object, timeout: float = 120.0,
                what: str = "") -> None:
    end = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
        await pilot.pause()  # type: ignore[attr-defined]


async def drive(app: RunbookApp, pilot: object, choices: dict[str, str],
                failures: list[str]) -> None:
    """Operate the whole runbook with keys; override (with a reason) whatever fails."""
    run = app.current_run
    assert run is not None
    rb = run.runbook
    while True:
        screen = app.screen
        assert isinstance(screen, RunScreen)
        for item in rb.phases[run.state.phase].items():
            st = run.state.items[item.id]
            if st.done:
                continue
            screen.select_item(item.id)
            await pilot.pause()  # type: ignore[attr-defined]
            if item.kind is ItemKind.CHOICE:
                await pilot.press("c")  # type: ignore[attr-defined]
                await until(pilot, lambda: isinstance(app.screen, ChoiceModal))
                wanted = choices.get(item.id, item.options[0].id)
                index = [o.id for o in item.options].index(wanted)
                await pilot.press(*(["down"] * index), "enter")  # type: ignore[attr-defined]
            elif item.kind in (ItemKind.CONFIRM, ItemKind.NOTE):
                await pilot.press("c")  # type: ignore[attr-defined]
            else:
                await pilot.press("r")  # type: ignore[attr-defined]
                await until(pilot, lambda i=item.id: run.state.items[i].status not in
                            (Status.PENDING, Status.RUNNING), timeout=180,
                            what=f"{item.id} to finish ({run.state.items[item.id]})")
                if run.state.items[item.id].status is not Status.PASSED:
                    failures.append(item.id)
                    await pilot.press("o")  # type: ignore[attr-defined]
                    await until(pilot, lambda: isinstance(app.screen, ReasonModal))
                    await pilot.press(*"rehearsal: failed as injected", "enter")  # type: ignore[attr-defined]
            await until(pilot, lambda i=item.id: run.state.items[i].done, timeout=30)
        await pilot.press("n")  # type: ignore[attr-defined]
        if run.state.finished:
            return
        await pilot.pause()  # type: ignore[attr-defined]


def make_app(sb: Sandbox, path: Path, journal: Journal, values: dict[str, str]) -> RunbookApp:
    reg = default_registry()
    rb = sb.runbook_for(load(path, reg))
    return build_app(AppConfig(rb, reg, journal, Operator("rehearser", "laptop", ""), "sandbox",
                               values, False, "sandbox"))


def report(app: RunbookApp) -> str:
    run = app.current_run
    assert run is not None
    return to_markdown(build(run.meta, run.journal.events(run.meta.id), run.runbook))


def images(sb: Sandbox) -> dict[str, str]:
    """The image of each deployed service (the namespace holds others too: a paused one)."""
    from runbook.sandbox.kube import CREATORBRIDGE_SERVICES
    from runbook.sandbox.kube.resources import DEPLOYMENT
    return {d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["image"]
            for d in sb.kube.store.list(DEPLOYMENT, NAMESPACE)[0]
            if d["metadata"]["name"] in CREATORBRIDGE_SERVICES}


def started_sandbox(faults: list[str], tmp_path: Path) -> Sandbox:
    reg = default_registry()
    sb = Sandbox(load(ROOT / "creatorbridge-deploy.yaml", reg), faults,
                 root=tmp_path / "sandbox").start()
    os.environ.update(sb.env)
    return sb


async def test_rehearse_deploy_rolling_update_first_phase_to_last(
        tmp_path: Path, sandbox_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    for k in ("KUBECONFIG", "PATH", "PGPASSWORD", "SANDBOX_KUBE_URL", "SANDBOX_HELM_STATE",
              "SANDBOX_HTTP_URL", "SANDBOX_HEALTH_PATHS", "RUNBOOK_WAIT_SCALE",
              "STRIPE_SECRET_KEY", "SENDGRID_API_KEY"):
        monkeypatch.setenv(k, os.environ.get(k, ""))  # restored after the test
    sb = started_sandbox([], tmp_path)
    try:
        journal = Journal(tmp_path / "journal.db")
        app = make_app(sb, ROOT / "creatorbridge-deploy.yaml", journal,
                       {"NEW_VERSION": "v1.2.3", "APP_DIR": str(sb.app_dir)})
        failures: list[str] = []
        async with app.run_test(size=(160, 48)) as pilot:
            await drive(app, pilot, {"deploy-method": "rolling"}, failures)
        assert failures == []
        assert app.current_run is not None and app.current_run.state.finished
        assert set(images(sb).values()) == {f"creatorbridge.azurecr.io/{n}:v1.2.3"
                                            for n in images(sb)}
        md = report(app)
        assert "**Outcome:** completed" in md and "rehearser@laptop" in md
        assert "(`helm-upgrade`) | not-taken" in md
        assert "rolling-update[api-gateway]" in md and "successfully rolled out" in md
        assert "runbook_test:" not in md  # no password in any URL
    finally:
        sb.stop()


async def test_rehearse_bad_image_then_rollback(
        tmp_path: Path, sandbox_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    for k in ("KUBECONFIG", "PATH", "PGPASSWORD", "SANDBOX_KUBE_URL", "SANDBOX_HELM_STATE",
              "SANDBOX_HTTP_URL", "SANDBOX_HEALTH_PATHS", "RUNBOOK_WAIT_SCALE",
              "STRIPE_SECRET_KEY", "SENDGRID_API_KEY"):
        monkeypatch.setenv(k, os.environ.get(k, ""))
    sb = started_sandbox(["bad-image:payout-service"], tmp_path)
    try:
        journal = Journal(tmp_path / "journal.db")
        before = images(sb)
        deploy = make_app(sb, ROOT / "creatorbridge-deploy.yaml", journal,
                          {"NEW_VERSION": "v1.3.0", "APP_DIR": str(sb.app_dir)})
        failures: list[str] = []
        async with deploy.run_test(size=(160, 48)) as pilot:
            await drive(deploy, pilot, {"deploy-method": "rolling"}, failures)
        assert "rolling-update[payout-service]" in failures
        md = report(deploy)
        assert "exceeded its progress deadline" in md
        assert "rehearsal: failed as injected" in md  # the override and its reason

        rollback = make_app(sb, ROOT / "creatorbridge-rollback.yaml", journal, {})
        failures = []
        async with rollback.run_test(size=(160, 48)) as pilot:
            await drive(rollback, pilot, {}, failures)
        assert failures == []
        assert images(sb) == before  # every deployment back on its recorded image
        md = report(rollback)
        assert "**Outcome:** completed" in md
        assert "back to recorded" in md or "rollout-undo[payout-service]" in md
    finally:
        sb.stop()
