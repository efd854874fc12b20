"""Discovery documents: /api, /apis, resource lists per group version, /version."""

from __future__ import annotations

from .common import Obj
from .resources import GROUP_VERSIONS, RESOURCES, SUBRESOURCES

VERSION: Obj = {
    "major": "1", "minor": "32", "gitVersion": "v1.32.4", "gitCommit": "sandbox",
    "gitTreeState": "clean", "buildDate": "2025-04-22T00:00:00Z", "goVersion": "go1.23.8",
    "compiler": "gc", "platform": "linux/amd64",
}


def api_versions(server_address: str) -> Obj:
    return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
        {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def _group(name: str) -> Obj:
    version = GROUP_VERSIONS[name]
    gv = {"groupVersion": f"{name}/{version}", "version": version}
    return {"name": name, "versions": [gv], "preferredVersion": gv}


def _metrics_group() -> Obj:
    gv = {"groupVersion": "metrics.k8s.io/v1beta1", "version": "v1beta1"}
    return {"name": "metrics.k8s.io", "versions": [gv], "preferredVersion": gv}


def api_groups() -> Obj:
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [*(_group(name) for name in GROUP_VERSIONS), _metrics_group()]}


def api_group(name: str) -> Obj | None:
    if name == "metrics.k8s.io":
        return {"kind": "APIGroup", "apiVersion": "v1", **_metrics_group()}
    if name not in GROUP_VERSIONS:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name)}


def resource_list(group: str, version: str) -> Obj | None:
    """The APIResourceList of a group version ("" group = core), or None if not served."""
    if group and GROUP_VERSIONS.get(group) != version:
        return None
    if not group and version != "v1":
        return None
    entries: list[Obj] = []
    for res in RESOURCES:
        if res.group != group:
            continue
        entry: Obj = {"name": res.plural, "singularName": res.singular,
                      "namespaced": res.namespaced, "kind": res.kind, "verbs": list(res.verbs)}
        if res.short_names:
            entry["shortNames"] = list(res.short_names)
        if res.categories:
            entry["categories"] = list(res.categories)
        entries.append(entry)
        for sub in res.subresources:
            verbs, sub_group, sub_version, sub_kind = SUBRESOURCES[sub]
            item: Obj = {"name": f"{res.plural}/{sub}", "singularName": "",
                         "namespaced": res.namespaced, "kind": sub_kind or res.kind,
                         "verbs": list(verbs)}
            if sub_group:
                item.update(group=sub_group, version=sub_version)
            entries.append(item)
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
            "resources": entries}


# -- OpenAPI v3 ------------------------------------------------------------------------------
# A minimal OpenAPI v3 index: enough for kubectl to see server-side field validation.
#
# kubectl apply/create validate with the server (`fieldValidation=Strict`) when the group
# version's document shows a PATCH operation for the kind taking that query parameter;
# without any document it refuses to validate. Schemas are not served: for strategic merge
# kubectl then falls back to its compiled-in types.

HASH = "E5A1B2C3D4F60718293A4B5C6D7E8F90"


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def openapi_index() -> Obj:
    gvs = [("", "v1"), *GROUP_VERSIONS.items()]
    return {"paths": {_gv_path(g, v): {"serverRelativeURL": f"/openapi/v3/{_gv_path(g, v)}"
                                       f"?hash={HASH}"} for g, v in gvs}}


def openapi_document(path: str) -> Obj | None:
    """The OpenAPI v3 document of a group version path ("api/v1", "apis/apps/v1")."""
    parts = path.strip("/").split("/")
    if parts[:1] == ["api"] and len(parts) == 2:
        group, version = "", parts[1]
    elif parts[:1] == ["apis"] and len(parts) == 3:
        group, version = parts[1], parts[2]
    else:
        return None
    if (group and GROUP_VERSIONS.get(group) != version) or (not group and version != "v1"):
        return None
    paths: Obj = {}
    for res in RESOURCES:
        if res.group != group:
            continue
        where = f"/{_gv_path(group, version)}/" + (
            f"namespaces/{{namespace}}/{res.plural}/{{name}}" if res.namespaced
            else f"{res.plural}/{{name}}")
        operation = {
            "operationId": f"patch{res.kind}",
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": {"group": group, "version": version,
                                                "kind": res.kind},
            "parameters": [{"name": name, "in": "query", "schema": {"type": "string"}}
                           for name in ("dryRun", "fieldManager", "fieldValidation", "force")],
            "responses": {"200": {"description": "OK"}},
        }
        paths[where] = {"patch": operation}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.4"},
            "paths": paths, "components": {"schemas": {}}}


def openapi_v2() -> Obj:
    """A Swagger 2.0 document without definitions: kubectl's client-side validation (apply,
    create --dry-run=client) fetches /openapi/v2 first and refuses when it is missing; with
    no definition for a kind it validates nothing for it, as for a CRD without a schema."""
    return {"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.32.4"},
            "paths": {}, "definitions": {}}


def _field(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field (wire type 2)."""
    return bytes([number << 3 | 2, len(payload)]) + payload


# The same document as gnostic's openapi_v2.Document in protobuf, as kubectl asks for it:
# swagger (1) "2.0", info (2) {title (1), version (2)}, paths (8) empty.
OPENAPI_V2_PROTO_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
OPENAPI_V2_PROTO = (_field(1, b"2.0") + _field(2, _field(1, b"Kubernetes")
                                              + _field(2, b"v1.32.4")) + _field(8, b""))
