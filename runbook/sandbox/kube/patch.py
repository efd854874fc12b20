"""The three PATCH types: JSON patch (RFC 6902), merge patch (RFC 7386), strategic merge."""

from __future__ import annotations

import copy
import json
from typing import Any

from .common import Obj
from .errors import ApiError, bad_request

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

# Lists merged by a key in strategic merge patches, by field name.
MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "env": "name", "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath",
    "imagePullSecrets": "name", "conditions": "type", "ownerReferences": "uid",
    "hostAliases": "ip", "topologySpreadConstraints": "topologyKey", "addresses": "type",
    "ports": "containerPort",
}
PRIMITIVE_MERGE = {"finalizers"}


def apply_patch(content_type: str, target: Obj, body: bytes) -> Obj:
    kind = content_type.split(";")[0].strip().lower()
    try:
        patch = json.loads(body or b"null")
    except ValueError as e:
        raise bad_request(f"error decoding patch: {e}") from None
    if kind == JSON_PATCH:
        if not isinstance(patch, list):
            raise bad_request("json patch must be a list of operations")
        return json_patch(target, patch)
    if not isinstance(patch, dict):
        raise bad_request("patch body must be a JSON object")
    if kind in (MERGE_PATCH, STRATEGIC_PATCH):
        merged = (merge_patch if kind == MERGE_PATCH else strategic_merge)(target, patch)
        if not isinstance(merged, dict):
            raise bad_request("patch must leave an object")
        return merged
    raise ApiError(415, f"the media type {kind!r} is not supported for PATCH",
                   "UnsupportedMediaType")


# -- JSON patch ------------------------------------------------------------------------------

def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str], path: str) -> Any:
    cur = doc
    for part in parts[:-1]:
        if isinstance(cur, list):
            cur = cur[_index(cur, part, path, False)]
        elif isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            raise ApiError(422, f"jsonpatch: path {path!r} not found: missing {part!r}", "Invalid")
    return cur


def _index(seq: list[Any], part: str, path: str, adding: bool) -> int:
    if part == "-" and adding:
        return len(seq)
    try:
        i = int(part)
    except ValueError:
        raise ApiError(422, f"jsonpatch: bad index {part!r} in {path!r}", "Invalid") from None
    if i < 0 or i > len(seq) or (i == len(seq) and not adding):
        raise ApiError(422, f"jsonpatch: index {i} out of range in {path!r}", "Invalid")
    return i


def _get(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        return doc
    parent = _parent(doc, parts, path)
    if isinstance(parent, list):
        return parent[_index(parent, parts[-1], path, False)]
    if not isinstance(parent, dict) or parts[-1] not in parent:
        raise ApiError(422, f"jsonpatch: path {path!r} not found", "Invalid")
    return parent[parts[-1]]


def _remove(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    parent = _parent(doc, parts, path)
    if isinstance(parent, list):
        return parent.pop(_index(parent, parts[-1], path, False))
    if not isinstance(parent, dict) or parts[-1] not in parent:
        raise ApiError(422, f"jsonpatch: unable to remove nonexistent key {parts[-1]!r}",
                       "Invalid")
    return parent.pop(parts[-1])


def _add(doc: Any, path: str, value: Any, replace: bool = False) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    parent = _parent(doc, parts, path)
    if isinstance(parent, list):
        i = _index(parent, parts[-1], path, not replace)
        if replace:
            parent[i] = value
        else:
            parent.insert(i, value)
    elif isinstance(parent, dict):
        if replace and parts[-1] not in parent:
            raise ApiError(422, f"jsonpatch: replace of missing path {path!r}", "Invalid")
        parent[parts[-1]] = value
    else:
        raise ApiError(422, f"jsonpatch: cannot add at {path!r}", "Invalid")
    return doc


def json_patch(target: Obj, ops: list[Any]) -> Obj:
    doc: Any = copy.deepcopy(target)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise bad_request(f"invalid json patch operation: {op!r}")
        name, path = op["op"], str(op["path"])
        if name == "add":
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif name == "replace":
            doc = _add(doc, path, copy.deepcopy(op.get("value")), replace=True)
        elif name == "remove":
            _remove(doc, path)
        elif name == "move":
            doc = _add(doc, path, _remove(doc, str(op["from"])))
        elif name == "copy":
            doc = _add(doc, path, copy.deepcopy(_get(doc, str(op["from"]))))
        elif name == "test":
            if _get(doc, path) != op.get("value"):
                raise ApiError(422, f"jsonpatch: test failed at {path!r}", "Invalid")
        else:
            raise bad_request(f"unknown json patch operation {name!r}")
    if not isinstance(doc, dict):
        raise bad_request("json patch must leave an object")
    return doc


# -- merge patch -----------------------------------------------------------------------------

def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


# -- strategic merge patch -------------------------------------------------------------------

def strategic_merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    orders: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key.startswith("$setElementOrder/"):
            orders[key.split("/", 1)[1]] = value if isinstance(value, list) else []
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            drop = value if isinstance(value, list) else []
            out[field] = [v for v in out.get(field) or [] if v not in drop]
            continue
        if key.startswith("$"):
            continue  # $retainKeys and other directives: not needed by our clients
        if value is None:
            out.pop(key, None)
        elif isinstance(value, list):
            out[key] = _merge_list(key, out.get(key), value)
        else:
            merged = strategic_merge(out.get(key), value)
            if merged is None:
                out.pop(key, None)
            else:
                out[key] = merged
    for field, order in orders.items():
        out[field] = _reorder(field, out.get(field) or [], order)
    return out


def _key_for(field: str, items: list[Any]) -> str | None:
    key = MERGE_KEYS.get(field)
    if key == "containerPort" and any(isinstance(i, dict) and "port" in i
                                      and "containerPort" not in i for i in items):
        return "port"  # service ports merge by port
    return key


def _merge_list(field: str, current: Any, patch: list[Any]) -> list[Any]:
    current = list(current) if isinstance(current, list) else []
    if field in PRIMITIVE_MERGE:
        return [*current, *(v for v in patch if v not in current)]
    key = _key_for(field, patch + current)
    if key is None or not all(isinstance(i, dict) for i in patch):
        if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
            return [i for i in patch if not (isinstance(i, dict) and "$patch" in i)]
        return list(copy.deepcopy(patch))
    if any(i.get("$patch") == "replace" for i in patch):
        return [copy.deepcopy(i) for i in patch if "$patch" not in i]
    out: list[Any] = copy.deepcopy(current)
    for item in patch:
        idx = next((n for n, c in enumerate(out)
                    if isinstance(c, dict) and c.get(key) == item.get(key)), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
        elif idx is None:
            out.append(strategic_merge({}, item))
        else:
            out[idx] = strategic_merge(out[idx], item)
    return out


def _reorder(field: str, items: list[Any], order: list[Any]) -> list[Any]:
    key = _key_for(field, items)
    if key is None:
        return items
    wanted = [o.get(key) if isinstance(o, dict) else o for o in order]
    ranked: list[Any] = sorted(items, key=lambda i: wanted.index(i.get(key)) if isinstance(i, dict)
                    and i.get(key) in wanted else len(wanted))
    return ranked
