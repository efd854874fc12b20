"""RBAC for the emulator: a role file decides what the kubeconfig's user may do.

A real cluster rarely lets a runbook's service account do everything: reading secrets, the
nodes or another namespace is often forbidden, and a step must say what it could not see
instead of failing on the first 403. With a role file loaded, every resource request is
authorized like the API server's RBAC authorizer does (verb, API group, resource with its
subresource, namespace, name), and a denial answers 403 with the real `Status` wording:

    pods "web-1" is forbidden: User "runbook" cannot create resource "pods/exec" in API
    group "" in the namespace "shop"

The file holds Role and ClusterRole objects (JSON, or YAML when PyYAML is installed): a
ClusterRole's rules apply everywhere (cluster-scoped kinds too), a Role's only in its
`metadata.namespace`. Discovery, /version, /healthz and OpenAPI stay open, as the
`system:discovery` role makes them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import Obj
from .errors import ApiError
from .resources import Route

DEFAULT_USER = "system:serviceaccount:creatorbridge-sandbox:runbook"


@dataclass(frozen=True)
class Rule:
    groups: frozenset[str]
    resources: frozenset[str]
    verbs: frozenset[str]
    names: frozenset[str] = frozenset()

    def allows(self, verb: str, group: str, resource: str, name: str) -> bool:
        return (("*" in self.groups or group in self.groups)
                and ("*" in self.resources or resource in self.resources
                     or f"{resource.split('/')[0]}/*" in self.resources)
                and ("*" in self.verbs or verb in self.verbs)
                and (not self.names or name in self.names))


def _rules(doc: Obj) -> list[Rule]:
    out = []
    for raw in doc.get("rules") or []:
        out.append(Rule(frozenset(str(g) for g in raw.get("apiGroups") or []),
                        frozenset(str(r) for r in raw.get("resources") or []),
                        frozenset(str(v) for v in raw.get("verbs") or []),
                        frozenset(str(n) for n in raw.get("resourceNames") or [])))
    return out


def _documents(text: str) -> list[Obj]:
    try:
        data: Any = json.loads(text)
        docs = data if isinstance(data, list) else [data]
    except ValueError:
        import yaml  # the file is YAML (PyYAML ships with runbook; the emulator stays stdlib)
        docs = [d for d in yaml.safe_load_all(text) if d]
    flat: list[Obj] = []
    for d in docs:
        flat += list(d.get("items") or []) if d.get("kind") == "List" else [d]
    return flat


class Rbac:
    """The rules of one user: cluster-wide, and per namespace."""

    def __init__(self, documents: list[Obj], user: str = DEFAULT_USER) -> None:
        self.user = user
        self.cluster: list[Rule] = []
        self.namespaced: dict[str, list[Rule]] = {}
        for doc in documents:
            kind = doc.get("kind")
            if kind == "ClusterRole":
                self.cluster += _rules(doc)
            elif kind == "Role":
                ns = str((doc.get("metadata") or {}).get("namespace") or "default")
                self.namespaced.setdefault(ns, []).extend(_rules(doc))
            else:
                raise ValueError(f"role file: {kind!r} is not a Role or ClusterRole")

    @classmethod
    def load(cls, path: str | Path, user: str = DEFAULT_USER) -> Rbac:
        return cls(_documents(Path(path).read_text()), user)

    def allowed(self, verb: str, group: str, resource: str, namespace: str | None,
                name: str) -> bool:
        rules = list(self.cluster)
        if namespace:
            rules += self.namespaced.get(namespace, [])
        return any(r.allows(verb, group, resource, name) for r in rules)

    def check(self, method: str, route: Route, watch: bool) -> None:
        """Raise the API server's 403 if this request is not allowed."""
        res = route.res
        if res is None:
            return
        verb = request_verb(method, route, watch)
        resource = f"{res.plural}/{route.sub}" if route.sub else res.plural
        namespace = route.namespace if res.namespaced else None
        if self.allowed(verb, res.group, resource, namespace, route.name):
            return
        raise forbidden(self.user, verb, res.group, res.plural, resource, namespace,
                        route.name)


def request_verb(method: str, route: Route, watch: bool) -> str:
    """The RBAC verb of a request, as the API server's RequestInfo resolves it."""
    if route.sub == "exec":
        return "create"  # pods/exec needs create, also over a GET WebSocket upgrade
    if method == "GET":
        if watch:
            return "watch"
        return "get" if route.name else "list"
    if method == "DELETE" and not route.name:
        return "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(
        method, method.lower())


def forbidden(user: str, verb: str, group: str, plural: str, resource: str,
              namespace: str | None, name: str) -> ApiError:
    what = f"{plural}.{group}" if group else plural
    subject = f'{what} "{name}"' if name else what
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    message = (f'{subject} is forbidden: User "{user}" cannot {verb} resource "{resource}" '
               f'in API group "{group}" {scope}')
    details: Obj = {"kind": plural}
    if name:
        details = {"name": name, **details}
    if group:
        details["group"] = group
    return ApiError(403, message, "Forbidden", details)
