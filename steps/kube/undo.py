"""k8s.rollout-undo: a deployment back to its previous revision, or to the recorded one.

`to: previous` does what `kubectl rollout undo` does (kubectl/pkg/polymorphichelpers/
rollback.go, DeploymentRollbacker.Rollback):

- a paused deployment is refused ("you cannot rollback a paused deployment; resume it
  first with 'kubectl rollout resume' and try again", kubectl 1.32's words);
- the revision to go back to is the second newest of the deployment's ReplicaSets
  (deploymentRevision with toRevision 0);
- nothing is done when the current template already matches it ("skipped rollback");
- one JSON patch replaces `spec.template` with that ReplicaSet's whole pod template (its
  pod-template-hash label removed): env, resources, probes and sidecars come back with the
  images, and the controller re-adopts that ReplicaSet instead of making a new revision of
  a mixed template; `metadata.annotations` become the ReplicaSet's, except those kept from
  the deployment (annotationsToSkip: last-applied, revision, revision-history, desired and
  max replicas).

`to: recorded` goes back to the images the versions snapshot journaled. When a ReplicaSet of
the recorded revision still runs exactly those images, its whole template is restored the
same way; otherwise only the images are patched, and the output says so.
"""

from __future__ import annotations

from typing import Any

from steps.kube.client import KubeError, apps, call
from steps.kube.rollout import Change
from steps.kube.workload_pods import HASH_LABEL, controller_uid, label_selector

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
SKIPPED = ("kubectl.kubernetes.io/last-applied-configuration", REVISION, REVISION_HISTORY,
           "deployment.kubernetes.io/desired-replicas", "deployment.kubernetes.io/max-replicas",
           "deprecated.deployment.rollback.to")

Obj = dict[str, Any]


def revision(obj: Obj) -> int:
    try:
        return int((obj["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return -1


def paused_refusal(dep: Obj) -> str | None:
    if (dep.get("spec") or {}).get("paused"):
        name = dep["metadata"]["name"]
        return ("you cannot rollback a paused deployment; resume it first with 'kubectl "
                f"rollout resume' and try again (deployment/{name})")
    return None


def replica_sets(api: Any, namespace: str, dep: Obj) -> list[Obj]:
    """The deployment's ReplicaSets (selected by its selector, controlled by it)."""
    items = call(apps(api).list_namespaced_replica_set, namespace,
                 label_selector=label_selector(dep["spec"].get("selector")))["items"]
    return [rs for rs in items if controller_uid(rs) == dep["metadata"]["uid"]]


def previous_of(sets: list[Obj]) -> Obj | None:
    """The second newest revision, as kubectl's deploymentRevision(toRevision=0)."""
    ranked = sorted((rs for rs in sets if revision(rs) >= 0), key=revision, reverse=True)
    return ranked[1] if len(ranked) > 1 else None


def recorded_set(sets: list[Obj], number: str, images: dict[str, str]) -> Obj | None:
    """The ReplicaSet of the recorded revision, if it still runs exactly `images`."""
    for rs in sorted(sets, key=revision, reverse=True):
        md = rs["metadata"].get("annotations") or {}
        numbers = {str(md.get(REVISION, ""))} | set(str(md.get(REVISION_HISTORY, "")).split(","))
        if number and number in numbers and images_of(rs["spec"]["template"]) == images:
            return rs
    return None


def images_of(template: Obj) -> dict[str, str]:
    return {c["name"]: c.get("image", "") for c in template["spec"]["containers"]}


def _without_hash(template: Obj) -> Obj:
    md = dict(template.get("metadata") or {})
    md["labels"] = {k: v for k, v in (md.get("labels") or {}).items() if k != HASH_LABEL}
    return {**template, "metadata": md}


def same_template(a: Obj, b: Obj) -> bool:
    from steps.kube.workload_pods import _template_key
    return bool(_template_key(a) == _template_key(b))


def restore_template(api: Any, namespace: str, dep: Obj, rs: Obj) -> Change:
    """kubectl's rollback patch: the ReplicaSet's template, and annotations."""
    annotations = {k: v for k, v in (dep["metadata"].get("annotations") or {}).items()
                   if k in SKIPPED}
    annotations.update({k: v for k, v in (rs["metadata"].get("annotations") or {}).items()
                        if k not in SKIPPED})
    patch = [{"op": "replace", "path": "/spec/template",
              "value": _without_hash(rs["spec"]["template"])},
             {"op": "add", "path": "/metadata/annotations", "value": annotations}]
    patched = call(apps(api).patch_namespaced_deployment, dep["metadata"]["name"], namespace,
                   patch, _content_type="application/json-patch+json")
    return Change.of(patched)


def read(api: Any, namespace: str, name: str) -> Obj:
    dep: Obj = call(apps(api).read_namespaced_deployment, name, namespace)
    return dep


def no_previous(name: str) -> KubeError:
    return KubeError(f"deployment {name!r} has no previous revision")
