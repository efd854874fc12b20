"""The base of the Kubernetes step kinds: the client of the run's pinned context."""

from __future__ import annotations

import os
from typing import Any

from runbook.execute.stepkind import Outcome, StepContext, StepResult
from steps.base import BaseStep
from steps.kube.client import KubeError, api_client


class KubeStep(BaseStep):
    def api(self, ctx: StepContext) -> Any:
        kubeconfig = ctx.process_env.get("KUBECONFIG") or os.environ.get("KUBECONFIG") or None
        return api_client(ctx.kube_context, kubeconfig)

    def run(self, ctx: StepContext) -> StepResult:
        if not ctx.namespace:
            return StepResult(Outcome.FAILED, "the environment names no Kubernetes namespace")
        try:
            return self.run_kube(ctx, self.api(ctx))
        except KubeError as e:
            return StepResult(Outcome.FAILED, str(e))

    def run_kube(self, ctx: StepContext, api: Any) -> StepResult:
        raise NotImplementedError


def quantity(text: str | int | float | None) -> float:
    """A Kubernetes quantity as a number: CPU in cores, memory in bytes."""
    if text is None or text == "":
        return 0.0
    s = str(text)
    suffixes = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
                "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
                "P": 1e15, "E": 1e18}
    for suffix in sorted(suffixes, key=len, reverse=True):
        if s.endswith(suffix):
            return float(s[: -len(suffix)]) * suffixes[suffix]
    return float(s)


def pod_ready(pod: dict[str, Any]) -> bool:
    for c in pod.get("status", {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return bool(c.get("status") == "True")
    return False


def pod_phase(pod: dict[str, Any]) -> str:
    """The STATUS column of kubectl get pods: a waiting reason wins over the phase."""
    if pod.get("metadata", {}).get("deletionTimestamp"):
        return "Terminating"
    for cs in pod.get("status", {}).get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason"):
            return str(waiting["reason"])
    return str(pod.get("status", {}).get("phase", "Unknown"))
