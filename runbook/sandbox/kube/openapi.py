"""A minimal OpenAPI v3 index: enough for kubectl to see server-side field validation.

kubectl apply/create validate with the server (`fieldValidation=Strict`) when the group
version's document shows a PATCH operation for the kind taking that query parameter;
without any document it refuses to validate. Schemas are not served: for strategic merge
kubectl then falls back to its compiled-in types.
"""

from __future__ import annotations

from .common import Obj
from .resources import GROUP_VERSIONS, RESOURCES

HASH = "E5A1B2C3D4F60718293A4B5C6D7E8F90"


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def index() -> Obj:
    gvs = [("", "v1"), *GROUP_VERSIONS.items()]
    return {"paths": {_gv_path(g, v): {"serverRelativeURL": f"/openapi/v3/{_gv_path(g, v)}"
                                       f"?hash={HASH}"} for g, v in gvs}}


def document(path: str) -> Obj | None:
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
