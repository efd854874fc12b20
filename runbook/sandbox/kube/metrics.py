"""metrics.k8s.io/v1beta1: pod and node usage (for `kubectl top`), derived from the pods."""

from __future__ import annotations

import hashlib

from .common import Obj, now_iso
from .errors import ApiError, not_found
from .resources import NODE, POD
from .selectors import labels_match, parse_labels
from .store import Store

GROUP, VERSION = "metrics.k8s.io", "v1beta1"
PREFIX = f"/apis/{GROUP}/{VERSION}"

RESOURCE_LIST: Obj = {
    "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{GROUP}/{VERSION}",
    "resources": [
        {"name": "nodes", "singularName": "", "namespaced": False, "kind": "NodeMetrics",
         "verbs": ["get", "list"]},
        {"name": "pods", "singularName": "", "namespaced": True, "kind": "PodMetrics",
         "verbs": ["get", "list"]}]}


def _fraction(key: str, low: float, high: float) -> float:
    """A stable pseudo-random number in [low, high) for a name."""
    n = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return low + (high - low) * n


def _pod_metrics(pod: Obj) -> Obj:
    md = pod["metadata"]
    containers = []
    for c in (pod.get("spec") or {}).get("containers") or []:
        key = f"{md['name']}/{c.get('name')}"
        containers.append({"name": c.get("name"), "usage": {
            "cpu": f"{int(_fraction(key + 'cpu', 2, 60) * 1_000_000)}n",
            "memory": f"{int(_fraction(key + 'mem', 40, 220) * 1024)}Ki"}})
    return {"kind": "PodMetrics", "apiVersion": f"{GROUP}/{VERSION}",
            "metadata": {"name": md["name"], "namespace": md["namespace"],
                         "labels": md.get("labels") or {}, "creationTimestamp": now_iso()},
            "timestamp": now_iso(), "window": "30s", "containers": containers}


def _node_metrics(node: Obj, pods: list[Obj]) -> Obj:
    name = node["metadata"]["name"]
    mine = [p for p in pods if (p.get("spec") or {}).get("nodeName") == name]
    cpu_m = 180 + 12 * len(mine)
    mem_mi = 1900 + 96 * len(mine)
    return {"kind": "NodeMetrics", "apiVersion": f"{GROUP}/{VERSION}",
            "metadata": {"name": name, "labels": node["metadata"].get("labels") or {},
                         "creationTimestamp": now_iso()},
            "timestamp": now_iso(), "window": "20s",
            "usage": {"cpu": f"{cpu_m}m", "memory": f"{mem_mi}Mi"}}


def handle(store: Store, path: str, query: dict[str, str]) -> Obj:
    """A metrics.k8s.io GET (the caller checked the prefix)."""
    rest = [p for p in path[len(PREFIX):].split("/") if p]
    if not rest:
        return RESOURCE_LIST
    labels = parse_labels(query.get("labelSelector"))
    running = [p for p in store.list(POD)[0] if (p.get("status") or {}).get("phase") == "Running"]
    if rest[0] == "nodes" and len(rest) <= 2:
        nodes = [n for n in store.list(NODE)[0] if labels_match(labels, n)]
        if len(rest) == 2:
            found = [n for n in nodes if n["metadata"]["name"] == rest[1]]
            if not found:
                raise not_found("nodes", GROUP, rest[1])
            return _node_metrics(found[0], running)
        return {"kind": "NodeMetricsList", "apiVersion": f"{GROUP}/{VERSION}", "metadata": {},
                "items": [_node_metrics(n, running) for n in nodes]}
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    if rest[0] != "pods" or len(rest) > 2:
        raise ApiError(404, "the server could not find the requested resource", "NotFound")
    pods = [p for p in running if (namespace is None or p["metadata"]["namespace"] == namespace)
            and labels_match(labels, p)]
    if len(rest) == 2:
        found = [p for p in pods if p["metadata"]["name"] == rest[1]]
        if not found:
            raise not_found("pods", GROUP, rest[1])
        return _pod_metrics(found[0])
    return {"kind": "PodMetricsList", "apiVersion": f"{GROUP}/{VERSION}", "metadata": {},
            "items": [_pod_metrics(p) for p in pods]}
