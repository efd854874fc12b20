"""The pods of a deployment, chosen as kubectl chooses them, and stricter where it matters.

`kubectl exec deploy/NAME` turns the deployment's *whole* label selector into a selector
string (kubectl/pkg/polymorphichelpers/helpers.go, SelectorsForObject:
metav1.LabelSelectorAsSelector(spec.selector): matchLabels and matchExpressions), lists the
pods and takes the first by ActivePods order (ready, running, then the longest up). A
selector read from matchLabels alone is empty for a matchExpressions-only deployment: that
matches every pod of the namespace, and a destructive command ran in another service's pod.

On top of the selector, a pod is taken only if the deployment controls it: pod ->
ReplicaSet (its controller ownerReference) -> this Deployment (the ReplicaSet's). Labels can
overlap (a debug pod copied from a template, a second deployment with a wider selector);
ownership cannot. Pods of the current ReplicaSet (the one whose template is the
deployment's, as deploymentutil.FindNewReplicaSet compares them, ignoring
pod-template-hash) come first, so mid-rollout a command runs in the new version.

The container: the one named, else the pod's `kubectl.kubernetes.io/default-container`
(podcmd.FindOrDefaultContainerByName), else the container named like the deployment, else
the only one. kubectl would take the first of several; with a sidecar listed first that is
the wrong process for a migration, so several without a name are refused instead.
"""

from __future__ import annotations

from typing import Any

from steps.kube.base import pod_phase, pod_ready
from steps.kube.client import KubeError, apps, call, core

HASH_LABEL = "pod-template-hash"
DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"

Obj = dict[str, Any]


def label_selector(selector: Obj | None) -> str:
    """A LabelSelector as a selector string, matchExpressions included."""
    if not selector:
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op = str(expr.get("key")), str(expr.get("operator"))
        values = ",".join(str(v) for v in expr.get("values") or [])
        if op == "In":
            parts.append(f"{key} in ({values})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
        else:
            raise KubeError(f"unknown label selector operator {op!r}")
    return ",".join(parts)


def controller_uid(obj: Obj) -> str | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


def _template_key(template: Obj) -> Any:
    md = dict(template.get("metadata") or {})
    md["labels"] = {k: v for k, v in (md.get("labels") or {}).items() if k != HASH_LABEL}
    md.pop("creationTimestamp", None)
    return _normalized({**template, "metadata": md})


def _normalized(value: Any) -> Any:
    if isinstance(value, dict):
        out = {k: _normalized(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_normalized(v) for v in value]
    return value


def deployment_pods(api: Any, namespace: str, dep: Obj) -> tuple[list[Obj], set[str]]:
    """The pods this deployment controls (through its ReplicaSets), and the uids of the
    pods of its current ReplicaSet."""
    selector = label_selector((dep.get("spec") or {}).get("selector"))
    if not selector:
        raise KubeError(f"deployment {dep['metadata']['name']!r} has an empty selector")
    uid = dep["metadata"]["uid"]
    sets = [rs for rs in call(apps(api).list_namespaced_replica_set, namespace,
                              label_selector=selector)["items"] if controller_uid(rs) == uid]
    ours = {rs["metadata"]["uid"] for rs in sets}
    wanted = _template_key(dep["spec"]["template"])
    current = {rs["metadata"]["uid"] for rs in sets
               if _template_key(rs["spec"].get("template") or {}) == wanted}
    pods = [p for p in call(core(api).list_namespaced_pod, namespace,
                            label_selector=selector)["items"] if controller_uid(p) in ours]
    return pods, {p["metadata"]["uid"] for p in pods if controller_uid(p) in current}


def running_pod(api: Any, namespace: str, deployment: str) -> Obj:
    """A running, ready pod of the deployment: of its current ReplicaSet if one is."""
    dep = call(apps(api).read_namespaced_deployment, deployment, namespace)
    pods, current = deployment_pods(api, namespace, dep)
    ready = [p for p in pods if pod_phase(p) == "Running" and pod_ready(p)
             and not p["metadata"].get("deletionTimestamp")]
    if not ready:
        raise KubeError(f"no running, ready pod of deployment {deployment!r} "
                        f"({len(pods)} pods)")
    best: Obj = sorted(ready, key=lambda p: (p["metadata"]["uid"] not in current,
                                             str(p["metadata"]["name"])))[0]
    return best


def container_of(pod: Obj, wanted: str | None, deployment: str) -> str:
    """The container to run in (see the module's docstring), or KubeError."""
    names = [str(c.get("name")) for c in (pod.get("spec") or {}).get("containers") or []]
    pname = pod["metadata"]["name"]
    if wanted:
        if wanted not in names:
            raise KubeError(f"pod {pname} has no container {wanted!r} (has: {', '.join(names)})")
        return wanted
    default = ((pod["metadata"].get("annotations") or {}).get(DEFAULT_CONTAINER))
    if default in names:
        return str(default)
    if deployment in names:
        return deployment
    if len(names) == 1:
        return names[0]
    raise KubeError(f"pod {pname} has containers {', '.join(names)}: say which one with "
                    "'container'")
