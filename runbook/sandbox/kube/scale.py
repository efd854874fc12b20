"""The scale subresource (autoscaling/v1 Scale) of deployments and replica sets."""

from __future__ import annotations

from .common import Obj
from .errors import ApiError, conflict
from .patch import apply_patch
from .resources import Resource
from .selectors import selector_string
from .store import Store


def scale_of(res: Resource, obj: Obj) -> Obj:
    md = obj["metadata"]
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: md[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                            "creationTimestamp") if k in md},
            "spec": {"replicas": int((obj.get("spec") or {}).get("replicas", 0))},
            "status": {"replicas": int((obj.get("status") or {}).get("replicas", 0)),
                       "selector": selector_string((obj.get("spec") or {}).get("selector"))}}


def _apply(store: Store, res: Resource, current: Obj, scale: Obj, dry: bool) -> Obj:
    replicas = (scale.get("spec") or {}).get("replicas")
    if not isinstance(replicas, int) or replicas < 0:
        raise ApiError(422, f'Scale.autoscaling "{current["metadata"]["name"]}" is invalid: '
                       "spec.replicas: Invalid value: must be greater than or equal to 0",
                       "Invalid")
    current.setdefault("spec", {})["replicas"] = replicas
    return scale_of(res, store.replace(res, current, check_rv=False, dry_run=dry))


def update_scale(store: Store, res: Resource, ns: str, name: str, body: Obj, dry: bool) -> Obj:
    with store.lock:
        current = store.get(res, ns, name)
        sent = (body.get("metadata") or {}).get("resourceVersion")
        if sent and sent != current["metadata"]["resourceVersion"]:
            raise conflict(res.plural, res.group, name)
        return _apply(store, res, current, body, dry)


def patch_scale(store: Store, res: Resource, ns: str, name: str, content_type: str,
                body: bytes, dry: bool) -> Obj:
    with store.lock:
        current = store.get(res, ns, name)
        patched = apply_patch(content_type, scale_of(res, current), body)
        return _apply(store, res, current, patched, dry)
