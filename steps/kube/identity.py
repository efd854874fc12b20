"""Which cluster a fact was recorded on, so a rollback never restores what another ran.

The recorded versions and replica counts (k8s.versions) are facts of an environment's
journal; the same environment name can be run with `--context other` against another
cluster, and a rollback then restored images that cluster never ran. A snapshot records
the cluster's identity beside its facts, and the steps that restore from it recall only a
snapshot of the same identity and namespace.

The identity is the uid of the `kube-system` namespace (the common cluster id: it lives as
long as the cluster, whatever URL or context reaches it), or, where it cannot be read (RBAC),
the API server URL of the context.
"""

from __future__ import annotations

from typing import Any

from runbook.execute.stepkind import Outcome, StepContext, StepResult
from steps.kube.client import KubeError, get

KEY = "cluster"


def cluster_identity(api: Any) -> str:
    try:
        ns = get(api, "/api/v1/namespaces/kube-system")
        uid = (ns.get("metadata") or {}).get("uid")
        if uid:
            return f"uid:{uid}"
    except KubeError:
        pass
    return f"server:{api.configuration.host}"


def recorded_here(ctx: StepContext, api: Any) -> dict[str, Any]:
    """The facts a snapshot records beside the versions: this cluster and namespace."""
    return {KEY: cluster_identity(api), "namespace": ctx.namespace}


def recorded_versions(ctx: StepContext, api: Any) -> dict[str, Any] | StepResult:
    """The newest versions snapshot of this cluster and namespace; a refusal (a failed
    StepResult) when the newest ones are of another cluster or namespace; {} when none."""
    here = recorded_here(ctx, api)
    found = ctx.recall("versions", here)
    if found is not None:
        return dict(found)
    if ctx.recall("versions") is not None:
        return StepResult(Outcome.FAILED, f"the recorded versions of environment "
                          f"{ctx.env_name!r} are of another cluster or namespace (this is "
                          f"{here[KEY]}, namespace {ctx.namespace}): refusing to restore "
                          "them here; record this cluster's versions first (k8s.versions)")
    return {}
