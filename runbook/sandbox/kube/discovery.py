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


def api_groups() -> Obj:
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group(name) for name in GROUP_VERSIONS]}


def api_group(name: str) -> Obj | None:
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
