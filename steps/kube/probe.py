"""What a deployment runs now: the probe of the kinds that change deployments, asked when an
interrupted item is reconciled (did the change land before the crash?)."""

from __future__ import annotations

from runbook.execute.stepkind import StepContext
from steps.kube.base import KubeStep
from steps.kube.client import KubeError, apps, call


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
