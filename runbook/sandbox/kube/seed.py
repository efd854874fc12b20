"""Builders of realistic objects, and the CreatorBridge sandbox world."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping

from .common import Obj, now_micro
from .errors import ApiError
from .resources import by_kind
from .store import Store

REGISTRY = "creatorbridge.azurecr.io"
CREATORBRIDGE_SERVICES = (
    "api-gateway", "auth-service", "user-service", "billing-service", "notification-service",
    "campaign-service", "creator-service", "content-service", "asset-service", "rights-service",
    "analytics-service", "payout-service",
)
SECRET_KEYS = ("DATABASE_URL", "REDIS_URL", "JWT_SECRET", "STRIPE_SECRET_KEY",
               "STRIPE_WEBHOOK_SECRET", "AZURE_STORAGE_CONNECTION_STRING", "SENDGRID_API_KEY",
               "AZURE_CONTENT_MODERATOR_KEY")


def namespace(name: str, labels: Mapping[str, str] | None = None) -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": dict(labels or {})}}


def deployment(name: str, ns: str, image: str, replicas: int = 2,
               labels: Mapping[str, str] | None = None, port: int = 8080,
               env: Mapping[str, str] | None = None, progress_deadline: int = 600) -> Obj:
    pod_labels = {"app": name, **(labels or {})}
    container: Obj = {
        "name": name, "image": image,
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "env": [{"name": k, "value": v} for k, v in {
            "SERVICE_NAME": name, "PORT": str(port), **(env or {})}.items()],
        "envFrom": [{"configMapRef": {"name": "creatorbridge-config"}},
                    {"secretRef": {"name": "creatorbridge-secrets"}}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                      "limits": {"cpu": "500m", "memory": "512Mi"}},
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": port},
                           "periodSeconds": 10},
    }
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns, "labels": dict(pod_labels)},
            "spec": {"replicas": replicas, "progressDeadlineSeconds": progress_deadline,
                     "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": pod_labels},
                                  "spec": {"containers": [container]}}}}


def service(name: str, ns: str, port: int = 80, target: int = 8080) -> Obj:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
            "spec": {"selector": {"app": name},
                     "ports": [{"name": "http", "port": port, "targetPort": target}]}}


def node(name: str, cpu: str = "8", memory: str = "32Gi", ready: bool = True,
         ip: str = "10.0.0.10", role: str = "") -> Obj:
    labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
              "kubernetes.io/arch": "amd64", "node.kubernetes.io/instance-type": "Standard_D8s_v5"}
    if role:
        labels[f"node-role.kubernetes.io/{role}"] = ""
    stamp = "2025-01-01T00:00:00Z"
    ident = hashlib.md5(name.encode()).hexdigest()
    millicores = int(float(cpu) * 1000)
    capacity = {"cpu": cpu, "memory": memory, "pods": "110", "ephemeral-storage": "128Gi"}
    usable = f"{int(memory[:-2]) - 2}Gi" if memory.endswith("Gi") else memory
    allocatable = {"cpu": f"{millicores - 90}m", "memory": usable, "pods": "110",
                   "ephemeral-storage": "118Gi"}
    conditions = [{"type": t, "status": "False", "reason": f"KubeletHas{r}",
                   "message": f"kubelet has {m}", "lastHeartbeatTime": stamp,
                   "lastTransitionTime": stamp}
                  for t, r, m in (("MemoryPressure", "SufficientMemory", "sufficient memory"),
                                  ("DiskPressure", "NoDiskPressure", "no disk pressure"),
                                  ("PIDPressure", "SufficientPID", "sufficient PID available"))]
    conditions.append({"type": "Ready", "status": "True" if ready else "False",
                       "reason": "KubeletReady" if ready else "KubeletNotReady",
                       "message": "kubelet is posting ready status" if ready
                       else "container runtime is down", "lastHeartbeatTime": stamp,
                       "lastTransitionTime": stamp})
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels},
            "spec": {"podCIDR": "10.244.0.0/24"},
            "status": {"capacity": capacity, "allocatable": allocatable,
                       "conditions": conditions,
                       "addresses": [{"type": "InternalIP", "address": ip},
                                     {"type": "Hostname", "address": name}],
                       "nodeInfo": {"machineID": ident, "systemUUID": ident,
                                    "bootID": ident[::-1],
                                    "kubeletVersion": "v1.32.4", "kubeProxyVersion": "v1.32.4",
                                    "osImage": "Ubuntu 22.04.5 LTS", "operatingSystem": "linux",
                                    "architecture": "amd64",
                                    "kernelVersion": "5.15.0-1079-azure",
                                    "containerRuntimeVersion": "containerd://1.7.25"}}}


def config_map(name: str, ns: str, data: Mapping[str, str]) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns},
            "data": dict(data)}


def secret(name: str, ns: str, data: Mapping[str, str], kind: str = "Opaque") -> Obj:
    """A Secret from plain values (stored base64-encoded, as the API does)."""
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns},
            "type": kind,
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def pvc(name: str, ns: str, size: str = "10Gi", storage_class: str = "managed-csi") -> Obj:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": storage_class,
                     "resources": {"requests": {"storage": size}}}}


def storage_class(name: str, binding: str, default: bool = False) -> Obj:
    md: Obj = {"name": name}
    if default:
        md["annotations"] = {"storageclass.kubernetes.io/is-default-class": "true"}
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": md,
            "provisioner": "disk.csi.azure.com", "reclaimPolicy": "Delete",
            "allowVolumeExpansion": True, "volumeBindingMode": binding,
            "parameters": {"skuname": "StandardSSD_LRS"}}


def lease(name: str, ns: str, holder: str, duration: int = 15) -> Obj:
    stamp = now_micro()
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": duration,
                     "acquireTime": stamp, "renewTime": stamp, "leaseTransitions": 0}}


def put(store: Store, objects: Iterable[Obj]) -> None:
    """Create objects (skipping those that already exist)."""
    for obj in objects:
        try:
            store.create(by_kind(obj["kind"]), obj)
        except ApiError as e:
            if e.code != 409:
                raise


def creatorbridge(ns: str = "creatorbridge-sandbox", services: Iterable[str] =
                  CREATORBRIDGE_SERVICES, replicas: int = 2, tag: str = "v1.0.0",
                  nodes: int = 3, registry: str = REGISTRY) -> list[Obj]:
    """The CreatorBridge world: nodes, a namespace, its deployments, config and storage."""
    names = list(services)
    objs = [node(f"sandbox-node-{i + 1}", ip=f"10.0.0.{10 + i}") for i in range(nodes)]
    objs.append(storage_class("managed-csi", "Immediate", default=True))
    objs.append(namespace(ns, {"app.kubernetes.io/part-of": "creatorbridge"}))
    objs.append(config_map("creatorbridge-config", ns, {
        "NODE_ENV": "production", "LOG_LEVEL": "info", "API_BASE_URL": "http://api-gateway",
        "FEATURE_FLAGS": "payouts_v2=on,content_moderation=on"}))
    objs.append(secret("creatorbridge-secrets", ns, {
        k: f"sandbox-{k.lower().replace('_', '-')}" for k in SECRET_KEYS}))
    for name in names:
        objs.append(deployment(name, ns, f"{registry}/{name}:{tag}", replicas))
        objs.append(service(name, ns))
    objs += [pvc("asset-service-uploads", ns, "100Gi"), pvc("analytics-service-data", ns, "50Gi")]
    objs += [lease(f"{name}-leader", ns, f"{name}-0") for name in names[:2]]
    return objs
