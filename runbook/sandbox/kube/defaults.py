"""Defaulting and validation on write, as the API server does it for our kinds."""

from __future__ import annotations

import base64
import re
from typing import Any

from .common import Obj, meta, now_iso
from .errors import invalid
from .resources import Resource
from .selectors import labels_match, selector_from_match

_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_ips = iter(range(1, 1 << 16))


def image_pull_policy(image: str) -> str:
    last = image.rsplit("/", 1)[-1]
    if "@" in last:
        return "IfNotPresent"
    tag = last.split(":", 1)[1] if ":" in last else "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def pod_spec_defaults(spec: Obj) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    for c in list(spec.get("containers") or []) + list(spec.get("initContainers") or []):
        if not isinstance(c, dict):
            continue
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        c.setdefault("imagePullPolicy", image_pull_policy(str(c.get("image", ""))))
        c.setdefault("resources", {})
        for port in c.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")


def _template_causes(spec: Obj, where: str) -> list[tuple[str, str, str]]:
    causes = []
    containers = spec.get("containers")
    if not containers:
        causes.append(("FieldValueRequired", f"{where}.containers", "Required value"))
    for i, c in enumerate(containers or []):
        if not isinstance(c, dict) or not c.get("name"):
            causes.append(("FieldValueRequired", f"{where}.containers[{i}].name", "Required value"))
        elif not c.get("image"):
            causes.append(("FieldValueRequired", f"{where}.containers[{i}].image",
                           "Required value"))
    return causes


def _workload(obj: Obj, res: Resource, name: str) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    template = spec.setdefault("template", {})
    pod_spec_defaults(template.setdefault("spec", {}))
    if res.kind == "Deployment":
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = spec.setdefault("strategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            rolling.setdefault("maxSurge", "25%")
            rolling.setdefault("maxUnavailable", "25%")
    causes = _template_causes(template.get("spec") or {}, "spec.template.spec")
    selector = spec.get("selector")
    if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        causes.append(("FieldValueRequired", "spec.selector", "Required value"))
    elif not labels_match(selector_from_match(selector), template):
        labels = (template.get("metadata") or {}).get("labels") or {}
        causes.append(("FieldValueInvalid", "spec.template.metadata.labels",
                       f"Invalid value: {labels!r}: `selector` does not match template `labels`"))
    if not isinstance(spec.get("replicas"), int) or spec["replicas"] < 0:
        causes.append(("FieldValueInvalid", "spec.replicas",
                       "Invalid value: must be greater than or equal to 0"))
    if causes:
        raise invalid(res.kind, res.group, name, causes)


def _secret(obj: Obj) -> None:
    obj.setdefault("type", "Opaque")
    string_data = obj.pop("stringData", None) or {}
    data = obj.setdefault("data", {}) if string_data else obj.get("data")
    for key, value in string_data.items():
        assert data is not None
        data[key] = base64.b64encode(str(value).encode()).decode()


def _service(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if "clusterIP" not in spec:
        n = next(_ips)
        spec["clusterIP"] = f"10.96.{n >> 8}.{n & 255}"
        spec["clusterIPs"] = [spec["clusterIP"]]
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))
    obj.setdefault("status", {"loadBalancer": {}})


def _pvc(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("volumeMode", "Filesystem")
    spec.setdefault("accessModes", ["ReadWriteOnce"])
    status = obj.setdefault("status", {})
    if not status.get("phase"):
        # The emulator binds claims at once (a dynamic provisioner that never fails).
        uid = meta(obj).get("uid", "")
        spec.setdefault("volumeName", f"pvc-{uid}")
        spec.setdefault("storageClassName", "standard")
        status.update({"phase": "Bound", "accessModes": spec["accessModes"],
                       "capacity": dict((spec.get("resources") or {}).get("requests") or {})})


def prepare(res: Resource, obj: Obj, old: Obj | None) -> None:
    """Default and validate an object about to be written (raises ApiError 422)."""
    md = meta(obj)
    name = str(md.get("name", ""))
    if not _NAME_RE.match(name) or len(name) > 253:
        raise invalid(res.kind, res.group, name, [(
            "FieldValueInvalid", "metadata.name",
            f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of lower case '
            "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
            "character")])
    kind = res.kind
    if kind == "Namespace":
        md.setdefault("labels", {})["kubernetes.io/metadata.name"] = name
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj.setdefault("status", {}).setdefault("phase", "Active")
    elif kind == "Pod":
        pod_spec_defaults(obj.setdefault("spec", {}))
        _template_check(obj, res, name)
        obj.setdefault("status", {}).setdefault("phase", "Pending")
        obj["status"].setdefault("qosClass", "BestEffort")
    elif kind in ("Deployment", "ReplicaSet"):
        _workload(obj, res, name)
    elif kind == "Secret":
        _secret(obj)
    elif kind == "Service":
        _service(obj)
    elif kind == "PersistentVolumeClaim" and old is None:
        _pvc(obj)
    elif kind == "Event":
        stamp = now_iso()
        obj.setdefault("count", 1)
        obj.setdefault("type", "Normal")
        obj.setdefault("firstTimestamp", stamp)
        obj.setdefault("lastTimestamp", obj["firstTimestamp"])
        obj.setdefault("source", {})
        obj.setdefault("involvedObject", {})


def _template_check(obj: Obj, res: Resource, name: str) -> None:
    causes = _template_causes(obj.get("spec") or {}, "spec")
    if causes:
        raise invalid(res.kind, res.group, name, causes)


def scaled_value(value: Any, total: int, round_up: bool) -> int:
    """An int-or-percent (maxSurge, maxUnavailable) resolved against a total."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = str(value)
    if text.endswith("%"):
        exact = int(text[:-1]) * total / 100
        whole = int(exact)
        return whole + 1 if round_up and whole < exact else whole
    return int(text)
