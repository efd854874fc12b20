"""Step kinds of later issues: their parameters are declared now so runbooks validate
fully; until each is implemented it runs only in dry run ("would run: ...")."""

from __future__ import annotations

from runbook.format.params import Param, ParamType
from steps.base import BaseStep

S, INT, N, B, L, D, M = (ParamType.STR, ParamType.INT, ParamType.NUMBER, ParamType.BOOL,
                       ParamType.STR_LIST, ParamType.DURATION, ParamType.MAP)


def P(name: str, t: ParamType = S, required: bool = False, default: object = None,
      doc: str = "") -> Param:
    return Param(name, t, required, default, doc)


# (name, read_only, doc, params)
PLANNED: list[tuple[str, bool, str, tuple[Param, ...]]] = [
    ("k8s.cluster-health", True, "API reachable and every node Ready", ()),
    ("k8s.node-capacity", True, "allocatable vs requested CPU and memory, with headroom",
     (P("headroom", N, default=0.25, doc="fraction of capacity a rollout needs free"),)),
    ("k8s.pvcs", True, "every PersistentVolumeClaim in the namespace is Bound", ()),
    ("k8s.config-keys", True, "ConfigMaps and Secrets hold the required keys (names only)",
     (P("refs", L, True, doc="secret/NAME:KEY or configmap/NAME:KEY"),)),
    ("k8s.versions", True, "snapshot of every deployment's images, replicas and revision", ()),
    ("k8s.export", True, "the namespace's resources to a YAML file in the session folder",
     (P("file", S, default="k8s-backup.yaml"),
      P("kinds", L, default=("deployments", "services", "configmaps", "replicasets", "pods")))),
    ("k8s.set-image", False, "set a container's image and follow the rollout",
     (P("deployment", S, True), P("container", S), P("image", S, True),
      P("change_cause", S), P("wait", B, default=True), P("timeout", D, default=300.0))),
    ("k8s.rollout-status", True, "follow a rollout like kubectl rollout status",
     (P("deployment", S, True), P("timeout", D, default=300.0))),
    ("k8s.rollout-undo", False, "return a deployment to its recorded images",
     (P("deployment", S, True), P("to", S, default="recorded", doc="recorded or previous"))),
    ("k8s.scale", False, "scale deployments (all, or one) to a count or the recorded counts",
     (P("deployment", S, default="all"), P("replicas", S, True, doc="a number or 'recorded'"))),
    ("k8s.exec", False, "run a command in a pod of a deployment",
     (P("deployment", S, True), P("container", S), P("command", L, True),
      P("timeout", D, default=600.0))),
    ("k8s.logs", True, "recent logs of the pods matching a selector, errors counted",
     (P("selector", S, True), P("tail", INT, default=100), P("fail_on", S, default=""))),
    ("k8s.pods", True, "every pod in the namespace Running and Ready",
     (P("selector", S, default=""),)),
    ("http.health", True, "the services' health endpoints, concurrently",
     (P("base_url", S, True, doc="template with ${service.name}, ${service.port}"),
      P("services", L, default=()), P("timeout", D, default=5.0),
      P("until_healthy", D, default=0.0, doc="keep polling up to this long"))),
    ("http.check", True, "one HTTP request with an expected status",
     (P("url", S, True), P("method", S, default="GET"), P("expect_status", INT, default=200),
      P("headers", M), P("credential_env", S), P("timeout", D, default=10.0))),
    ("pg.connect", True, "connect and run SELECT 1",
     (P("url", S, True),)),
    ("pg.pool", True, "connection-pool settings vs max_connections",
     (P("url", S, True), P("pool_size", INT, True), P("instances", INT, default=1))),
    ("pg.replication", True, "read replica streaming and within the lag threshold",
     (P("primary_url", S, True), P("replica_url", S, True), P("max_lag_bytes", INT, default=16777216),
      P("max_lag", D, default=30.0))),
    ("pg.connections", True, "connection count stable over a watch period",
     (P("url", S, True), P("watch", D, default=60.0), P("tolerance", N, default=0.2))),
    ("pg.backup", False, "pg_dump -Fc into the session folder; size and SHA-256 journaled",
     (P("url", S, True), P("file", S, default="backup.dump"))),
    ("pg.restore", False, "pg_restore a backup (always confirmed first)",
     (P("url", S, True), P("file", S, True))),
    ("redis.health", True, "PING, role and replicas, memory vs maxmemory, cluster state",
     (P("url", S, True), P("max_memory_ratio", N, default=0.9))),
    ("helm.upgrade", False, "helm upgrade --install --wait",
     (P("release", S, True), P("chart", S, True), P("namespace", S, True), P("set", M),
      P("timeout", D, default=600.0))),
    ("helm.rollback", False, "helm rollback to the recorded revision",
     (P("release", S, True), P("namespace", S, True), P("revision", S, default="recorded"))),
    ("notify.webhook", True, "post a Slack-compatible message",
     (P("url", S, True), P("text", S, True))),
]


def planned_kinds() -> list[BaseStep]:
    out: list[BaseStep] = []
    for name, ro, doc, params in PLANNED:
        cls = type(name.replace(".", "_").replace("-", "_"), (BaseStep,), {
            "name": name, "doc": doc, "params": params, "implemented": False, "read_only": ro,
        })
        out.append(cls())
    return out
