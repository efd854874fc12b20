"""The REST verbs on resources: list, get, create, update, patch, delete, deletecollection."""

from __future__ import annotations

import base64
import json
import re
from typing import TYPE_CHECKING, Any

from .common import Obj, controller_uid
from .errors import ApiError, bad_request, gone, success_status
from .patch import APPLY_PATCH, apply_patch, strategic_merge
from .replicaset import delete_pod_gracefully
from .resources import NAMESPACE, POD, RESOURCES, Resource, Route
from .scale import patch_scale, scale_of, update_scale
from .selectors import parse_fields, parse_labels
from .tables import table, wants_table

if TYPE_CHECKING:
    from .cluster import Cluster

Query = dict[str, str]

# metav1.MicroTime is parsed with Go's time.Parse(RFC3339Micro): exactly six fractional digits
MICRO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)$")
MICRO_FIELDS = {"Lease": ("acquireTime", "renewTime")}


def check_micro_times(res: Resource, obj: Obj) -> None:
    """400 as a real server answers a MicroTime without its six digits (strict mode)."""
    for field in MICRO_FIELDS.get(res.kind, ()):
        value = (obj.get("spec") or {}).get(field)
        if value is not None and not (isinstance(value, str) and MICRO_TIME.match(value)):
            raise bad_request(
                f'{res.kind} in version "{res.version}" cannot be handled as a {res.kind}: '
                f'parsing time "{value}" as "2006-01-02T15:04:05.000000Z07:00": cannot parse '
                f'"{_after_seconds(str(value))}" as ".000000"')


def _after_seconds(value: str) -> str:
    return value[19:] if len(value) > 19 else value


def decode_body(body: bytes) -> Obj:
    try:
        obj = json.loads(body or b"{}")
    except ValueError as e:
        raise bad_request(f"the body of the request was in an unknown format: {e}") from None
    if not isinstance(obj, dict):
        raise bad_request("the body of the request must be an object")
    return obj


def _strip(obj: Obj) -> Obj:
    obj.pop("kind", None)
    obj.pop("apiVersion", None)
    return obj


def _cursor(token: str) -> tuple[int, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        return int(data["rv"]), str(data["start"])
    except (ValueError, KeyError, TypeError):
        raise bad_request("continue key is not valid") from None


class Api:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.store = cluster.store

    def handle(self, method: str, route: Route, query: Query, body: bytes, content_type: str,
               accept: str) -> tuple[int, Obj]:
        """One non-streaming request on a resource: (HTTP code, JSON reply)."""
        res = route.res
        assert res is not None
        ns = route.namespace or ""
        dry = query.get("dryRun") == "All"
        if route.sub == "scale":
            if method == "GET":
                return 200, scale_of(res, self.store.get(res, ns, route.name))
            if method == "PUT":
                return 200, update_scale(self.store, res, ns, route.name, decode_body(body), dry)
            if method == "PATCH":
                return 200, patch_scale(self.store, res, ns, route.name, content_type, body, dry)
        elif route.sub and route.sub != "status":
            raise ApiError(404, "the server could not find the requested resource", "NotFound")
        elif not route.name:
            if method == "GET":
                return 200, self.list(res, route.namespace, query, accept)
            if method == "POST":
                obj = decode_body(body)
                body_ns = (obj.get("metadata") or {}).get("namespace")
                if route.namespace and body_ns and body_ns != route.namespace:
                    raise bad_request("the namespace of the provided object does not match the "
                                      "namespace sent on the request")
                self._strict(res, obj)
                return 201, self.store.create(res, obj, ns, dry)
            if method == "DELETE":
                return 200, self.delete_collection(res, route.namespace, query, dry)
        elif method == "GET":
            obj = self.store.get(res, ns, route.name)
            if wants_table(accept):
                include = query.get("includeObject", "Metadata")
                return 200, table(res, [obj], include, obj["metadata"]["resourceVersion"])
            return 200, obj
        elif method == "PUT":
            obj = decode_body(body)
            md = obj.setdefault("metadata", {})
            if md.get("name") and md["name"] != route.name:
                raise bad_request("the name of the object does not match the name on the URL")
            md["name"] = route.name
            if res.namespaced:
                md["namespace"] = ns
            self._strict(res, obj)
            return 200, self.store.replace(res, obj, subresource=route.sub, dry_run=dry)
        elif method == "PATCH" and content_type.startswith(APPLY_PATCH):
            return self._apply(res, ns, route, body, dry)
        elif method == "PATCH":
            return 200, self._patch(res, ns, route, content_type, body, dry)
        elif method == "DELETE":
            options = decode_body(body) if body else {}
            return 200, self.delete(res, ns, route.name, query, options, dry)
        raise ApiError(405, "the server does not allow this method on this resource",
                       "MethodNotAllowed")

    def _strict(self, res: Resource, obj: Obj) -> None:
        if self.cluster.faults.strict_micro_time:
            check_micro_times(res, obj)

    def _patch(self, res: Resource, ns: str, route: Route, content_type: str, body: bytes,
               dry: bool) -> Obj:
        """PATCH: applied to the live object atomically; a resourceVersion in a merge or
        strategic patch is a precondition (409 if stale)."""
        with self.store.lock:
            current = self.store.get(res, ns, route.name)
            patched = apply_patch(content_type, current, body)
            sent = json.loads(body or b"{}")
            precondition = ((sent.get("metadata") or {}).get("resourceVersion")
                            if isinstance(sent, dict) else None)
            md = patched.setdefault("metadata", {})
            md.update(name=route.name,
                      resourceVersion=precondition or current["metadata"]["resourceVersion"])
            if res.namespaced:
                md["namespace"] = ns
            self._strict(res, patched)
            return self.store.replace(res, patched, subresource=route.sub, dry_run=dry)

    def _apply(self, res: Resource, ns: str, route: Route, body: bytes, dry: bool
               ) -> tuple[int, Obj]:
        """Server-side apply, approximated: create, or strategic-merge into the live object."""
        sent = decode_body(body)
        sent.setdefault("metadata", {}).update(name=route.name)
        if res.namespaced:
            sent["metadata"]["namespace"] = ns
        self._strict(res, sent)
        with self.store.lock:
            current = self.store.find(res, ns, route.name)
            if current is None:
                return 201, self.store.create(res, sent, ns, dry)
            merged = strategic_merge(current, sent)
            merged["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            return 200, self.store.replace(res, merged, subresource=route.sub, dry_run=dry)

    def list(self, res: Resource, namespace: str | None, query: Query, accept: str) -> Obj:
        labels = parse_labels(query.get("labelSelector"))
        fields = parse_fields(query.get("fieldSelector"), res.fields, res.kind)
        rv_match = query.get("resourceVersionMatch", "")
        asked_rv = query.get("resourceVersion", "")
        if rv_match == "Exact" and asked_rv and self.store.is_expired(int(asked_rv)):
            raise gone(asked_rv, self.store.resource_version)
        items, rv = self.store.list(res, namespace, labels, fields)
        token = query.get("continue", "")
        if token:
            token_rv, start = _cursor(token)
            if self.store.is_expired(token_rv):
                raise ApiError(410, "The provided continue parameter is too old to display a "
                               "consistent list result. You can start a new list without the "
                               "continue parameter.", "Expired")
            items = [o for o in items if _key(o) > start]
        next_token = ""
        limit = int(query.get("limit") or 0)
        if 0 < limit < len(items):
            items = items[:limit]
            payload = json.dumps({"rv": rv, "start": _key(items[-1])}).encode()
            next_token = base64.urlsafe_b64encode(payload).decode()
        if wants_table(accept):
            return table(res, items, query.get("includeObject", "Metadata"), rv, next_token)
        md: Obj = {"resourceVersion": str(rv)}
        if next_token:
            md["continue"] = next_token
            md["remainingItemCount"] = len(self.store.list(res, namespace, labels, fields)[0]) \
                - len(items)
        return {"kind": res.list_kind, "apiVersion": res.api_version, "metadata": md,
                "items": [_strip(o) for o in items]}

    def delete(self, res: Resource, ns: str, name: str, query: Query, options: Obj,
               dry: bool) -> Obj:
        grace = query.get("gracePeriodSeconds", options.get("gracePeriodSeconds"))
        policy = query.get("propagationPolicy") or options.get("propagationPolicy") or ""
        current = self.store.get(res, ns, name)
        pre = options.get("preconditions") or {}
        if (pre.get("uid") and pre["uid"] != current["metadata"]["uid"]) or (
                pre.get("resourceVersion")
                and pre["resourceVersion"] != current["metadata"]["resourceVersion"]):
            raise ApiError(409, f"Precondition failed for {res.plural} {name}", "Conflict")
        if dry:
            return current
        if res is POD and str(grace) != "0":
            delete_pod_gracefully(self.cluster, ns, name, False)
            return self.store.get(res, ns, name)
        if res is NAMESPACE:
            def terminate(obj: Obj) -> None:
                obj.setdefault("status", {})["phase"] = "Terminating"
            return self.store.modify(res, "", name, terminate, subresource="status") or current
        if policy == "Orphan":
            self._orphan(current)
        self.store.delete(res, ns, name)
        details: Obj = {"name": name, "kind": res.plural, "uid": current["metadata"]["uid"]}
        if res.group:
            details["group"] = res.group
        return success_status(details)

    def _orphan(self, owner: Obj) -> None:
        uid = owner["metadata"]["uid"]
        for kind in RESOURCES:
            for obj in self.store.list(kind)[0]:
                if controller_uid(obj) == uid:
                    def drop(o: Obj) -> None:
                        refs = o["metadata"].get("ownerReferences") or []
                        o["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != uid]
                    self.store.modify(kind, obj["metadata"].get("namespace", ""),
                                      obj["metadata"]["name"], drop)

    def delete_collection(self, res: Resource, namespace: str | None, query: Query,
                          dry: bool) -> Obj:
        labels = parse_labels(query.get("labelSelector"))
        fields = parse_fields(query.get("fieldSelector"), res.fields, res.kind)
        items, _rv = self.store.list(res, namespace, labels, fields)
        deleted: list[Any] = []
        for obj in items:
            md = obj["metadata"]
            try:
                self.delete(res, md.get("namespace", ""), md["name"], query, {}, dry)
            except ApiError:
                continue
            deleted.append(_strip(obj))
        return {"kind": res.list_kind, "apiVersion": res.api_version,
                "metadata": {"resourceVersion": str(self.store.resource_version)},
                "items": deleted}


def _key(obj: Obj) -> str:
    md = obj.get("metadata") or {}
    return f"{md.get('namespace', '')}/{md.get('name', '')}"


