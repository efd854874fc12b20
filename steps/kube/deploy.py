"""Changes to deployments: set image (and follow the rollout), rollout status,
undo to the recorded images, scale (to a count or the recorded counts)."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from runbook.execute.stepkind import Outcome, StepContext, StepResult
from runbook.format.params import Param, ParamType
from steps.kube.base import KubeStep
from steps.kube.client import KubeError, apps, call
from steps.kube.rollout import Change, DeploymentWatch, RolloutStatus, follow

CHANGE_CAUSE = "kubernetes.io/change-cause"


def _follow(ctx: StepContext, api: Any, name: str, timeout: float,
            change: Change | None = None) -> StepResult:
    watcher = DeploymentWatch.acquire(api, ctx.namespace)
    try:
        st = follow(watcher, name, time.monotonic() + timeout, lambda: ctx.cancel.cancelled,
                    lambda m: ctx.output.write_lines([m]), change)
    finally:
        watcher.release()
    return _result(st, ctx)


def _result(st: RolloutStatus, ctx: StepContext) -> StepResult:
    if ctx.cancel.cancelled:
        return StepResult(Outcome.CANCELLED, f"stopped following the rollout ({ctx.cancel.reason})")
    if st.done:
        return StepResult(Outcome.PASSED, st.message)
    return StepResult(Outcome.FAILED, st.message)


def probe_deployment(step: KubeStep, ctx: StepContext) -> str:
    """The live state of the item's deployment: images and rollout status."""
    from steps.kube.rollout import rollout_status
    name = str(ctx.param("deployment"))
    try:
        api = step.api(ctx)
        if name == "all":
            deps = call(apps(api).list_namespaced_deployment, ctx.namespace)["items"]
            return "; ".join(f"{d['metadata']['name']}: {d['spec'].get('replicas')} replicas, "
                             f"{d.get('status', {}).get('readyReplicas', 0)} ready" for d in deps)
        dep = call(apps(api).read_namespaced_deployment, name, ctx.namespace)
    except KubeError as e:
        return f"cannot read deployment {name!r}: {e}"
    images = ", ".join(f"{c['name']}={c.get('image')}"
                       for c in dep["spec"]["template"]["spec"]["containers"])
    return f"deployment {name} now runs {images}; {rollout_status(dep).message}"


class DeploymentProbe(KubeStep):
    """Kinds that change a deployment can tell its live state when an item is reconciled."""

    def probe(self, ctx: StepContext) -> str:
        return probe_deployment(self, ctx)


def _container(dep: dict[str, Any], wanted: str | None) -> str:
    names = [c["name"] for c in dep["spec"]["template"]["spec"]["containers"]]
    if wanted:
        if wanted not in names:
            raise KubeError(f"deployment {dep['metadata']['name']!r} has no container {wanted!r} "
                            f"(has: {', '.join(names)})")
        return wanted
    if dep["metadata"]["name"] in names:
        return str(dep["metadata"]["name"])
    if len(names) == 1:
        return str(names[0])
    raise KubeError(f"deployment {dep['metadata']['name']!r} has containers {', '.join(names)}: "
                    "say which one with 'container'")


def _patch_images(ctx: StepContext, api: Any, name: str, images: dict[str, str],
                  cause: str) -> Change:
    """Patch the images; the change (generation) the rollout to follow is judged from."""
    body = {"metadata": {"annotations": {CHANGE_CAUSE: cause}},
            "spec": {"template": {"spec": {"containers": [
                {"name": c, "image": i} for c, i in images.items()]}}}}
    patched = call(apps(api).patch_namespaced_deployment, name, ctx.namespace, body,
                   _content_type="application/strategic-merge-patch+json")
    return Change.of(patched)


class SetImage(DeploymentProbe):
    name = "k8s.set-image"
    read_only = False
    doc = "set a container's image (with a change-cause) and follow the rollout"
    params: ClassVar[tuple[Param, ...]] = (
        Param("deployment", ParamType.STR, True), Param("container", ParamType.STR),
        Param("image", ParamType.STR, True), Param("change_cause", ParamType.STR),
        Param("wait", ParamType.BOOL, default=True), Param("timeout", ParamType.DURATION,
                                                           default=300.0),
    )

    def describe(self, params: Any) -> str:
        c = params.get("container") or params.get("deployment")
        return (f"set image deployment/{params.get('deployment')} {c}={params.get('image')}"
                + (" and follow the rollout" if params.get("wait", True) else ""))

    def run_kube(self, ctx: StepContext, api: Any) -> StepResult:
        name = str(ctx.param("deployment"))
        dep = call(apps(api).read_namespaced_deployment, name, ctx.namespace)
        container = _container(dep, ctx.param("container"))
        before = next(c["image"] for c in dep["spec"]["template"]["spec"]["containers"]
                      if c["name"] == container)
        image = str(ctx.param("image"))
        ctx.fact("before", {container: before})
        cause = ctx.param("change_cause") or f"runbook: set image {container}={image}"
        ctx.output.write_lines([f"{name}: {container} {before} -> {image}"])
        change = _patch_images(ctx, api, name, {container: image}, cause)
        ctx.fact("after", {container: image})
        if not ctx.param("wait", True):
            return StepResult(Outcome.PASSED, f"image set to {image} (not waiting)")
        return _follow(ctx, api, name, float(ctx.param("timeout", 300.0)), change)


class RolloutStatusStep(KubeStep):
    name = "k8s.rollout-status"
    doc = "follow a rollout like kubectl rollout status"
    params: ClassVar[tuple[Param, ...]] = (
        Param("deployment", ParamType.STR, True),
        Param("timeout", ParamType.DURATION, default=300.0))

    def run_kube(self, ctx: StepContext, api: Any) -> StepResult:
        return _follow(ctx, api, str(ctx.param("deployment")), float(ctx.param("timeout", 300)))


class RolloutUndo(DeploymentProbe):
    name = "k8s.rollout-undo"
    read_only = False
    doc = "return a deployment to its recorded images (or the previous revision)"
    params: ClassVar[tuple[Param, ...]] = (
        Param("deployment", ParamType.STR, True),
        Param("to", ParamType.STR, default="recorded", choices=("recorded", "previous")),
        Param("timeout", ParamType.DURATION, default=300.0))

    def run_kube(self, ctx: StepContext, api: Any) -> StepResult:
        name = str(ctx.param("deployment"))
        if ctx.param("to", "recorded") == "recorded":
            versions = ctx.recall("versions") or {}
            if name not in versions:
                return StepResult(Outcome.FAILED, f"no recorded version of {name!r} in this "
                                  "environment's journal (run the versions snapshot first), "
                                  "or use to: previous")
            images = dict(versions[name]["containers"])
            ctx.output.write_lines([f"{name}: back to recorded " +
                                    ", ".join(f"{c}={i}" for c, i in images.items())])
        else:
            images = self._previous(ctx, api, name)
        change = _patch_images(ctx, api, name, images, "runbook: rollback to " +
                               ", ".join(f"{c}={i}" for c, i in images.items()))
        ctx.fact("restored", images)
        return _follow(ctx, api, name, float(ctx.param("timeout", 300.0)), change)

    def _previous(self, ctx: StepContext, api: Any, name: str) -> dict[str, str]:
        dep = call(apps(api).read_namespaced_deployment, name, ctx.namespace)
        current = int((dep["metadata"].get("annotations") or {}).get(
            "deployment.kubernetes.io/revision", "0"))
        best: tuple[int, dict[str, Any]] | None = None
        for rs in call(apps(api).list_namespaced_replica_set, ctx.namespace)["items"]:
            owners = rs["metadata"].get("ownerReferences") or []
            if not any(o.get("uid") == dep["metadata"]["uid"] for o in owners):
                continue
            rev = int((rs["metadata"].get("annotations") or {}).get(
                "deployment.kubernetes.io/revision", "0"))
            if rev < current and (best is None or rev > best[0]):
                best = (rev, rs)
        if best is None:
            raise KubeError(f"deployment {name!r} has no previous revision")
        containers = best[1]["spec"]["template"]["spec"]["containers"]
        ctx.output.write_lines([f"{name}: back to revision {best[0]}"])
        return {c["name"]: c["image"] for c in containers}


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
        recorded = ctx.recall("versions") or {} if wanted == "recorded" else {}
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
        for n, count in targets.items():
            call(apps(api).patch_namespaced_deployment_scale, n, ctx.namespace,
                 {"spec": {"replicas": count}})
            ctx.output.write_lines([f"{n}: scale to {count}"])
        return self._wait(ctx, api, targets)

    def _wait(self, ctx: StepContext, api: Any, targets: dict[str, int]) -> StepResult:
        watcher = DeploymentWatch.acquire(api, ctx.namespace)
        deadline = time.monotonic() + float(ctx.param("timeout", 300.0))
        try:
            while True:
                pending = []
                for n, count in targets.items():
                    st = (watcher.get(n) or {}).get("status", {})
                    if st.get("replicas", 0) != count or st.get("readyReplicas", 0) != count:
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
