"""Helm: `helm upgrade --install ... --wait` and `helm rollback`, as subprocesses in their
own process group. Cancel sends SIGTERM and waits (Helm marks the release failed on
SIGTERM and cleans up; SIGKILL only after a long grace). The release revision before
and after is journaled, so the rollback runbook can return to it."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar

from runbook.execute.stepkind import Outcome, StepContext, StepResult
from runbook.format.params import Param, ParamType
from steps.base import BaseStep
from steps.shell import ShellStep

HELM_GRACE = 300.0  # seconds between SIGTERM and SIGKILL


def _common(ctx: StepContext, namespace: str) -> list[str]:
    args = ["--namespace", namespace]
    if ctx.kube_context:
        args += ["--kube-context", ctx.kube_context]
    return args


def release_revision(ctx: StepContext, release: str, namespace: str) -> int | None:
    """The release's current revision, or None when it does not exist (or helm fails)."""
    try:
        out = subprocess.run(["helm", "status", release, "-o", "json", *_common(ctx, namespace)],
                             capture_output=True, text=True, timeout=30,
                             env=_env(ctx), check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    try:
        return int(json.loads(out.stdout).get("version"))
    except (ValueError, TypeError):
        return None


def _env(ctx: StepContext) -> dict[str, str]:
    import os
    return {**os.environ, **ctx.process_env}


def _run(ctx: StepContext, argv: list[str]) -> StepResult:
    sub = replace(ctx, params={"argv": argv, "grace": HELM_GRACE})
    return ShellStep().run(sub)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,")


class HelmUpgrade(BaseStep):
    name = "helm.upgrade"
    detach = True
    read_only = False
    doc = "helm upgrade --install --wait; revision before and after journaled"
    params: ClassVar[tuple[Param, ...]] = (
        Param("release", ParamType.STR, True), Param("chart", ParamType.STR, True),
        Param("namespace", ParamType.STR, True), Param("set", ParamType.MAP),
        Param("timeout", ParamType.DURATION, default=600.0),
    )

    def argv(self, ctx_or_params: Mapping[str, Any], context: str = "") -> list[str]:
        p = ctx_or_params
        argv = ["helm", "upgrade", "--install", str(p["release"]), str(p["chart"]),
                "--namespace", str(p["namespace"])]
        if context:
            argv += ["--kube-context", context]
        for k, v in dict(p.get("set") or {}).items():
            argv += ["--set", f"{k}={_escape(str(v))}"]
        return [*argv, "--wait", "--timeout", f"{int(float(p.get('timeout', 600)))}s"]

    def describe(self, params: Mapping[str, Any]) -> str:
        import shlex
        return shlex.join(self.argv(params))

    def probe(self, ctx: StepContext) -> str:
        release, ns = str(ctx.param("release")), str(ctx.param("namespace"))
        rev = release_revision(ctx, release, ns)
        recorded = ctx.recall("helm_before") or {}
        was = recorded.get("revision") if recorded.get("release") == release else None
        if rev is None:
            return f"release {release}: not found (or helm cannot reach the cluster)"
        return (f"release {release} is at revision {rev}"
                + (f"; before this upgrade it was {was}" if was else "")
                + (" — the upgrade went through" if was and rev > was else ""))

    def run(self, ctx: StepContext) -> StepResult:
        release, ns = str(ctx.param("release")), str(ctx.param("namespace"))
        before = release_revision(ctx, release, ns)
        ctx.fact("helm_before", {"release": release, "namespace": ns, "revision": before})
        ctx.output.write_lines([f"release {release}: revision before = {before or 'none'}"])
        result = _run(ctx, self.argv(ctx.params, ctx.kube_context))
        after = release_revision(ctx, release, ns)
        facts = {"helm_before": {"release": release, "namespace": ns, "revision": before},
                 "helm_after": {"release": release, "namespace": ns, "revision": after}}
        ctx.output.write_lines([f"release {release}: revision after = {after or 'none'}"])
        return StepResult(result.outcome, result.message, result.exit_code, facts)


class HelmRollback(BaseStep):
    name = "helm.rollback"
    detach = True
    read_only = False
    doc = "helm rollback to the recorded revision (or a given one)"
    params: ClassVar[tuple[Param, ...]] = (
        Param("release", ParamType.STR, True), Param("namespace", ParamType.STR, True),
        Param("revision", ParamType.STR, default="recorded",
              doc="a number, or 'recorded' (the revision before the last upgrade)"),
        Param("timeout", ParamType.DURATION, default=600.0),
    )

    def describe(self, params: Mapping[str, Any]) -> str:
        return (f"helm rollback {params.get('release')} {params.get('revision', 'recorded')} "
                f"--namespace {params.get('namespace')} --wait")

    def run(self, ctx: StepContext) -> StepResult:
        release, ns = str(ctx.param("release")), str(ctx.param("namespace"))
        wanted = str(ctx.param("revision", "recorded"))
        if wanted == "recorded":
            rec = ctx.recall("helm_before") or {}
            if rec.get("release") != release or not rec.get("revision"):
                return StepResult(Outcome.FAILED, f"no recorded revision of release {release!r} "
                                  "in this environment's journal; give revision: N")
            wanted = str(rec["revision"])
        if not wanted.isdigit():
            return StepResult(Outcome.FAILED, f"revision: {wanted!r} is not a number")
        before = release_revision(ctx, release, ns)
        argv = ["helm", "rollback", release, wanted, *_common(ctx, ns), "--wait",
                "--timeout", f"{int(float(ctx.param('timeout', 600)))}s"]
        result = _run(ctx, argv)
        after = release_revision(ctx, release, ns)
        facts = {"rolled_back_to": int(wanted), "revision_before": before, "revision_after": after}
        return StepResult(result.outcome, result.message, result.exit_code, facts)
