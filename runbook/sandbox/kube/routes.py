"""URL paths to resources: /api/v1/..., /apis/{group}/{version}/..., namespaced or not."""

from __future__ import annotations

from dataclasses import dataclass

from .resources import NAMESPACE, Resource, lookup


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
