"""The resource types the emulator serves, and what discovery says about them."""

from __future__ import annotations

from dataclasses import dataclass

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Resource:
    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[str, ...] = ()
    generation: bool = False  # metadata.generation follows spec changes
    fields: tuple[str, ...] = ()  # field selector labels beyond metadata.name/namespace

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def key(self) -> tuple[str, str]:
        return (self.group, self.plural)

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"


def _core(plural: str, kind: str, namespaced: bool = True, *, short_names: tuple[str, ...] = (),
          categories: tuple[str, ...] = (), verbs: tuple[str, ...] = ALL_VERBS,
          subresources: tuple[str, ...] = (), fields: tuple[str, ...] = ()) -> Resource:
    return Resource("", "v1", plural, kind, namespaced, short_names, categories, verbs,
                    subresources, False, fields)


RESOURCES: tuple[Resource, ...] = (
    _core("namespaces", "Namespace", False, short_names=("ns",), subresources=("status",),
          verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
          fields=("status.phase",)),
    _core("nodes", "Node", False, short_names=("no",), subresources=("status",),
          fields=("spec.unschedulable",)),
    _core("pods", "Pod", short_names=("po",), categories=("all",),
          subresources=("status", "log", "exec"),
          fields=("status.phase", "spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                  "spec.serviceAccountName", "status.podIP", "status.nominatedNodeName")),
    _core("services", "Service", short_names=("svc",), categories=("all",),
          subresources=("status",), fields=("spec.clusterIP", "spec.type")),
    _core("configmaps", "ConfigMap", short_names=("cm",)),
    _core("secrets", "Secret", fields=("type",)),
    _core("persistentvolumeclaims", "PersistentVolumeClaim", short_names=("pvc",),
          subresources=("status",)),
    _core("events", "Event", short_names=("ev",),
          fields=("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                  "involvedObject.uid", "involvedObject.apiVersion",
                  "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
                  "reportingComponent", "source", "type")),
    Resource("apps", "v1", "deployments", "Deployment", True, short_names=("deploy",),
             categories=("all",), subresources=("status", "scale"), generation=True),
    Resource("apps", "v1", "replicasets", "ReplicaSet", True, short_names=("rs",),
             categories=("all",), subresources=("status", "scale"), generation=True,
             fields=("status.replicas",)),
    Resource("coordination.k8s.io", "v1", "leases", "Lease", True),
    Resource("storage.k8s.io", "v1", "storageclasses", "StorageClass", False,
             short_names=("sc",)),
)

GROUP_VERSIONS: dict[str, str] = {"apps": "v1", "coordination.k8s.io": "v1",
                                  "storage.k8s.io": "v1"}

# Subresources: (verbs, group, version, kind) as discovery lists them.
SUBRESOURCES: dict[str, tuple[tuple[str, ...], str, str, str]] = {
    "status": (("get", "patch", "update"), "", "", ""),
    "scale": (("get", "patch", "update"), "autoscaling", "v1", "Scale"),
    "log": (("get",), "", "", "Pod"),
    "exec": (("create", "get"), "", "", "PodExecOptions"),
}


def lookup(group: str, version: str, plural: str) -> Resource | None:
    for res in RESOURCES:
        if res.group == group and res.version == version and res.plural == plural:
            return res
    return None


def by_kind(kind: str) -> Resource:
    for res in RESOURCES:
        if res.kind == kind:
            return res
    raise KeyError(kind)


POD = by_kind("Pod")
DEPLOYMENT = by_kind("Deployment")
REPLICASET = by_kind("ReplicaSet")
NAMESPACE = by_kind("Namespace")
NODE = by_kind("Node")
EVENT = by_kind("Event")


# -- URL paths -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """A request's target. `namespace` None = every namespace (or a cluster-scoped type)."""

    group: str
    version: str
    res: Resource | None  # None: the group version's discovery document
    namespace: str | None = None
    name: str = ""
    sub: str = ""


def parse(path: str) -> Route | None:
    """The route of an API path, or None if the path names nothing we serve."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if not rest:
        return Route(group, version, None)
    if rest[0] == "namespaces" and len(rest) >= 3:
        res = lookup(group, version, rest[2])
        if res is not None and res.namespaced:
            if len(rest) > 5:
                return None
            return Route(group, version, res, rest[1], rest[3] if len(rest) > 3 else "",
                         rest[4] if len(rest) > 4 else "")
        if group == "" and len(rest) == 3:  # /api/v1/namespaces/{name}/status
            return Route(group, version, NAMESPACE, None, rest[1], rest[2])
        return None
    res = lookup(group, version, rest[0])
    if res is None or len(rest) > 3:
        return None
    name = rest[1] if len(rest) > 1 else ""
    if res.namespaced and name:
        return None  # a namespaced object needs its namespace in the path
    return Route(group, version, res, None, name, rest[2] if len(rest) > 2 else "")
