"""Changes to deployments: set image (and follow the rollout), rollout status, undo to the
recorded or previous revision; scale (to a count or the recorded counts) is in scale.py."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from runbook.execute.stepkind import Outcome, StepContext, StepResult
from runbook.format.params import Param, ParamType
from steps.kube import undo
from steps.kube.base import KubeStep
from steps.kube.client import KubeError, apps, call
from steps.kube.identity import recorded_versions
from steps.kube.probe import DeploymentProbe as DeploymentProbe
from steps.kube.probe import probe_deployment as probe_deployment
from steps.kube.rollout import Change, DeploymentWatch, RolloutStatus, follow
from steps.kube.scale import Scale as Scale

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
        if (dep.get("spec") or {}).get("paused"):
            return StepResult(Outcome.FAILED, f"deployment {name!r} is paused: a new image would "
                              "not roll out until it is resumed (kubectl rollout resume "
                              f"deployment/{name}); nothing was changed")
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
        """Judged from a copy at least as new as a read made now: the shared watch may still
        hold the deployment from before a change made just before this step (kubectl set
        image, helm), whose status reads "successfully rolled out"."""
        name = str(ctx.param("deployment"))
        try:
            now = call(apps(api).read_namespaced_deployment, name, ctx.namespace)
        except KubeError as e:
            if e.status == 404:
                return StepResult(Outcome.FAILED, f'deployment "{name}" not found')
            raise
        return _follow(ctx, api, name, float(ctx.param("timeout", 300)), Change.of(now))


class RolloutUndo(DeploymentProbe):
    """Back to the previous revision as `kubectl rollout undo` does, or to the recorded one
    (the rules, and kubectl's source they follow, are in steps/kube/undo.py)."""

    name = "k8s.rollout-undo"
    read_only = False
    doc = "return a deployment to its recorded revision (or the previous one), whole template"
    params: ClassVar[tuple[Param, ...]] = (
        Param("deployment", ParamType.STR, True),
        Param("to", ParamType.STR, default="recorded", choices=("recorded", "previous")),
        Param("timeout", ParamType.DURATION, default=300.0))

    def run_kube(self, ctx: StepContext, api: Any) -> StepResult:
        name = str(ctx.param("deployment"))
        dep = undo.read(api, ctx.namespace, name)
        refusal = undo.paused_refusal(dep)
        if refusal is not None:
            return StepResult(Outcome.FAILED, refusal)
        sets = undo.replica_sets(api, ctx.namespace, dep)
        if ctx.param("to", "recorded") == "recorded":
            versions = recorded_versions(ctx, api)
            if isinstance(versions, StepResult):
                return versions  # recorded on another cluster: refused
            if name not in versions:
                return StepResult(Outcome.FAILED, f"no recorded version of {name!r} in this "
                                  "environment's journal (run the versions snapshot first), "
                                  "or use to: previous")
            images = dict(versions[name]["containers"])
            number = str(versions[name].get("revision") or "")
            shown = ", ".join(f"{c}={i}" for c, i in images.items())
            rs = undo.recorded_set(sets, number, images)
            if rs is None:
                ctx.output.write_lines([f"{name}: back to recorded {shown} (no ReplicaSet of "
                                        f"revision {number or '?'} runs them: images only)"])
                change: Change | None = _patch_images(ctx, api, name, images,
                                                      f"runbook: rollback to {shown}")
            elif undo.same_template(rs["spec"]["template"], dep["spec"]["template"]):
                ctx.output.write_lines([f"{name}: back to recorded {shown}: already there"])
                change = None
            else:
                ctx.output.write_lines([f"{name}: back to recorded {shown} (revision "
                                        f"{undo.revision(rs)}'s whole template)"])
                change = undo.restore_template(api, ctx.namespace, dep, rs)
        else:
            rs = undo.previous_of(sets)
            if rs is None:
                raise undo.no_previous(name)
            if undo.same_template(rs["spec"]["template"], dep["spec"]["template"]):
                return StepResult(Outcome.PASSED, f"skipped rollback (current template already "
                                  f"matches revision {undo.revision(rs)})")
            images = undo.images_of(rs["spec"]["template"])
            ctx.output.write_lines([f"{name}: back to revision {undo.revision(rs)} ("
                                    + ", ".join(f"{c}={i}" for c, i in images.items()) + ")"])
            change = undo.restore_template(api, ctx.namespace, dep, rs)
        ctx.fact("restored", images)
        return _follow(ctx, api, name, float(ctx.param("timeout", 300.0)), change)


