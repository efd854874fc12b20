"""k8s.scale: deployments (all, or one) to a count or back to the recorded counts, waited for
until the controller has observed the scale and the replicas are ready."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from runbook.execute.stepkind import Outcome, StepContext, StepResult
from runbook.format.params import Param, ParamType
from steps.kube.client import apps, call
from steps.kube.identity import recorded_versions
from steps.kube.probe import DeploymentProbe
from steps.kube.rollout import DeploymentWatch


class Scale(DeploymentProbe):
    name = "k8s.scale"
    read_only = False
    doc = "scale deployments (all, or one) to a count or back to the recorded counts"
    params: ClassVar[tuple[Param, ...]] = (
        Param("deployment", ParamType.STR, default="all"),
        Param("replicas", ParamType.STR, True, doc="a number or 'recorded'"),
        Param("timeout", ParamType.DURATION, default=300.0))

    def run_kube(self, ctx: StepContext, api: Any) -> StepResult:
        which = str(ctx.param("deployment", "all"))
        deps = call(apps(api).list_namespaced_deployment, ctx.namespace)["items"]
        names = [d["metadata"]["name"] for d in deps] if which == "all" else [which]
        wanted = str(ctx.param("replicas"))
        found = recorded_versions(ctx, api) if wanted == "recorded" else {}
        if isinstance(found, StepResult):
            return found  # recorded on another cluster: refused
        recorded = found
        targets: dict[str, int] = {}
        for n in names:
            if wanted == "recorded":
                if n not in recorded:
                    return StepResult(Outcome.FAILED, f"no recorded replica count for {n!r}")
                targets[n] = int(recorded[n]["replicas"])
            elif wanted.isdigit():
                targets[n] = int(wanted)
            else:
                return StepResult(Outcome.FAILED, f"replicas: {wanted!r} is not a number or "
                                  "'recorded'")
        ctx.fact("before", {d["metadata"]["name"]: d["spec"].get("replicas", 1) for d in deps
                            if d["metadata"]["name"] in targets})
        generations = {d["metadata"]["name"]: int(d["metadata"].get("generation") or 0)
                       for d in deps}
        seen_at: dict[str, int] = {}
        for n, count in targets.items():
            call(apps(api).patch_namespaced_deployment_scale, n, ctx.namespace,
                 {"spec": {"replicas": count}})
            ctx.output.write_lines([f"{n}: scale to {count}"])
            # the scale's PATCH changes spec.replicas: the deployment's next generation
            before = next((d for d in deps if d["metadata"]["name"] == n), None)
            changed = before is None or before["spec"].get("replicas", 1) != count
            seen_at[n] = generations.get(n, 0) + (1 if changed else 0)
        return self._wait(ctx, api, targets, seen_at)

    def _wait(self, ctx: StepContext, api: Any, targets: dict[str, int],
              generations: dict[str, int]) -> StepResult:
        """Until each deployment's copy shows the scale (its generation, observed by the
        controller) and that many replicas, all ready: a copy from before the PATCH, or a
        status the controller wrote for the previous generation, is not the scale done."""
        watcher = DeploymentWatch.acquire(api, ctx.namespace)
        deadline = time.monotonic() + float(ctx.param("timeout", 300.0))
        try:
            while True:
                pending = []
                for n, count in targets.items():
                    dep = watcher.get(n) or {}
                    st = dep.get("status", {})
                    generation = int((dep.get("metadata") or {}).get("generation") or 0)
                    if generation < generations.get(n, 0) or int(
                            st.get("observedGeneration") or 0) < generation:
                        pending.append(f"{n} (scale not yet observed)")
                    elif st.get("replicas", 0) != count or st.get("readyReplicas", 0) != count:
                        pending.append(f"{n} {st.get('readyReplicas', 0)}/{count}")
                if not pending:
                    return StepResult(Outcome.PASSED, f"scaled {len(targets)} deployment(s)")
                if ctx.cancel.cancelled:
                    return StepResult(Outcome.CANCELLED, "stopped waiting for the scale")
                if time.monotonic() > deadline:
                    return StepResult(Outcome.FAILED, "timed out waiting for: " + ", ".join(pending))
                watcher.wait_change(0.5)
        finally:
            watcher.release()
