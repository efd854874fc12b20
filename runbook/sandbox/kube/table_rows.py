"""The server-side printing columns of each kind (what `kubectl get` shows)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .common import Obj, age, dig
from .selectors import selector_string

Column = tuple[str, str, int]  # name, type, priority (1 = only with -o wide)
Cells = list[Any]


def _containers(obj: Obj, path: str) -> tuple[str, str]:
    spec = dig(obj, path) or {}
    containers = spec.get("containers") or []
    return (",".join(str(c.get("name", "")) for c in containers),
            ",".join(str(c.get("image", "")) for c in containers))


def pod_status_text(pod: Obj) -> str:
    status = pod.get("status") or {}
    reason = str(status.get("reason") or status.get("phase") or "Unknown")
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        if state.get("waiting", {}).get("reason"):
            reason = str(state["waiting"]["reason"])
        elif state.get("terminated", {}).get("reason"):
            reason = str(state["terminated"]["reason"])
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        reason = "Terminating"
    return reason


def _pod(o: Obj) -> Cells:
    statuses = (o.get("status") or {}).get("containerStatuses") or []
    total = len((o.get("spec") or {}).get("containers") or [])
    ready = sum(1 for c in statuses if c.get("ready"))
    restarts = sum(int(c.get("restartCount", 0)) for c in statuses)
    st = o.get("status") or {}
    return [f"{ready}/{total}", pod_status_text(o), str(restarts), age(o["metadata"].get(
        "creationTimestamp")), st.get("podIP") or "<none>",
        (o.get("spec") or {}).get("nodeName") or "<none>", "<none>", "<none>"]


def _deployment(o: Obj) -> Cells:
    st, spec = o.get("status") or {}, o.get("spec") or {}
    names, images = _containers(o, "spec.template.spec")
    return [f"{st.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
            st.get("updatedReplicas", 0), st.get("availableReplicas", 0),
            age(o["metadata"].get("creationTimestamp")), names, images,
            selector_string(spec.get("selector"))]


def _replicaset(o: Obj) -> Cells:
    st, spec = o.get("status") or {}, o.get("spec") or {}
    names, images = _containers(o, "spec.template.spec")
    return [spec.get("replicas", 0), st.get("replicas", 0), st.get("readyReplicas", 0),
            age(o["metadata"].get("creationTimestamp")), names, images,
            selector_string(spec.get("selector"))]


def _node(o: Obj) -> Cells:
    st = o.get("status") or {}
    ready = next((c.get("status") for c in st.get("conditions") or []
                  if c.get("type") == "Ready"), "Unknown")
    status = "Ready" if ready == "True" else "NotReady"
    if (o.get("spec") or {}).get("unschedulable"):
        status += ",SchedulingDisabled"
    roles = sorted(k.split("/", 1)[1] for k in (o["metadata"].get("labels") or {})
                   if k.startswith("node-role.kubernetes.io/"))
    addrs = {a.get("type"): a.get("address") for a in st.get("addresses") or []}
    info = st.get("nodeInfo") or {}
    return [status, ",".join(roles) or "<none>", age(o["metadata"].get("creationTimestamp")),
            info.get("kubeletVersion", ""), addrs.get("InternalIP", "<none>"),
            addrs.get("ExternalIP", "<none>"), info.get("osImage", "<unknown>"),
            info.get("kernelVersion", "<unknown>"), info.get("containerRuntimeVersion", "")]


def _modes(modes: list[str]) -> str:
    short = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX",
             "ReadWriteOncePod": "RWOP"}
    return ",".join(short.get(m, m) for m in modes)


def _pvc(o: Obj) -> Cells:
    st, spec = o.get("status") or {}, o.get("spec") or {}
    return [st.get("phase", ""), spec.get("volumeName", ""),
            (st.get("capacity") or {}).get("storage", ""), _modes(st.get("accessModes") or []),
            spec.get("storageClassName", ""), spec.get("volumeAttributesClassName") or "<unset>",
            age(o["metadata"].get("creationTimestamp")), spec.get("volumeMode", "")]


def _event(o: Obj) -> Cells:
    inv = o.get("involvedObject") or {}
    src = o.get("source") or {}
    last = o.get("lastTimestamp") or o.get("eventTime") or o["metadata"].get("creationTimestamp")
    first = o.get("firstTimestamp") or last
    return [age(last), o.get("type", ""), o.get("reason", ""),
            f"{str(inv.get('kind', '')).lower()}/{inv.get('name', '')}", inv.get("fieldPath", ""),
            ", ".join(str(v) for v in (src.get("component"), src.get("host")) if v),
            o.get("message", ""), age(first), o.get("count", 1), o["metadata"]["name"]]


def _service(o: Obj) -> Cells:
    spec = o.get("spec") or {}
    ports = ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or [])
    selector = ",".join(f"{k}={v}" for k, v in (spec.get("selector") or {}).items())
    return [spec.get("type", "ClusterIP"), spec.get("clusterIP", ""), "<none>", ports or "<none>",
            age(o["metadata"].get("creationTimestamp")), selector or "<none>"]


def _age(o: Obj) -> str:
    return age(o["metadata"].get("creationTimestamp"))


COLUMNS: dict[str, tuple[list[Column], Callable[[Obj], Cells]]] = {
    "Pod": ([("Ready", "string", 0), ("Status", "string", 0), ("Restarts", "string", 0),
             ("Age", "string", 0), ("IP", "string", 1), ("Node", "string", 1),
             ("Nominated Node", "string", 1), ("Readiness Gates", "string", 1)], _pod),
    "Deployment": ([("Ready", "string", 0), ("Up-to-date", "integer", 0),
                    ("Available", "integer", 0), ("Age", "string", 0),
                    ("Containers", "string", 1), ("Images", "string", 1),
                    ("Selector", "string", 1)], _deployment),
    "ReplicaSet": ([("Desired", "integer", 0), ("Current", "integer", 0),
                    ("Ready", "integer", 0), ("Age", "string", 0), ("Containers", "string", 1),
                    ("Images", "string", 1), ("Selector", "string", 1)], _replicaset),
    "Node": ([("Status", "string", 0), ("Roles", "string", 0), ("Age", "string", 0),
              ("Version", "string", 0), ("Internal-IP", "string", 1),
              ("External-IP", "string", 1), ("OS-Image", "string", 1),
              ("Kernel-Version", "string", 1), ("Container-Runtime", "string", 1)], _node),
    "Namespace": ([("Status", "string", 0), ("Age", "string", 0)],
                  lambda o: [(o.get("status") or {}).get("phase", ""), _age(o)]),
    "ConfigMap": ([("Data", "integer", 0), ("Age", "string", 0)],
                  lambda o: [len(o.get("data") or {}) + len(o.get("binaryData") or {}), _age(o)]),
    "Secret": ([("Type", "string", 0), ("Data", "integer", 0), ("Age", "string", 0)],
               lambda o: [o.get("type", ""), len(o.get("data") or {}), _age(o)]),
    "PersistentVolumeClaim": ([("Status", "string", 0), ("Volume", "string", 0),
                               ("Capacity", "string", 0), ("Access Modes", "string", 0),
                               ("StorageClass", "string", 0),
                               ("VolumeAttributesClass", "string", 0), ("Age", "string", 0),
                               ("VolumeMode", "string", 1)], _pvc),
    "Event": ([("Type", "string", 0), ("Reason", "string", 0), ("Object", "string", 0),
               ("Subobject", "string", 1), ("Source", "string", 1), ("Message", "string", 0),
               ("First Seen", "string", 1), ("Count", "string", 1), ("Name", "string", 1)],
              _event),
    "Service": ([("Type", "string", 0), ("Cluster-IP", "string", 0),
                 ("External-IP", "string", 0), ("Port(s)", "string", 0), ("Age", "string", 0),
                 ("Selector", "string", 1)], _service),
    "Lease": ([("Holder", "string", 0), ("Age", "string", 0)],
              lambda o: [(o.get("spec") or {}).get("holderIdentity", ""), _age(o)]),
}
