"""Label selectors (=, ==, !=, in, notin, exists, !key) and field selectors (=, ==, !=)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .common import Obj, dig, labels_of
from .errors import bad_request

_SET_RE = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*(?:(notin|in)\s*\((.*)\))?\s*$")
_EQ_RE = re.compile(r"^\s*([A-Za-z0-9_./-]+)\s*(==|=|!=)\s*([A-Za-z0-9_.-]*)\s*$")


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        return not present or value not in self.values  # "!=", "notin"


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p for p in (q.strip() for q in parts) if p]


def parse_labels(text: str | None) -> tuple[Requirement, ...]:
    if not text:
        return ()
    out = []
    for part in _split_top(text):
        eq = _EQ_RE.match(part)
        if eq:
            op = "!=" if eq.group(2) == "!=" else "="
            out.append(Requirement(eq.group(1), op, (eq.group(3),)))
            continue
        m = _SET_RE.match(part)
        if not m:
            raise bad_request(f"unable to parse requirement: found '{part}', expected: "
                              "'=', '!=', '==', 'in', notin'")
        bang, key, op, values = m.groups()
        if op:
            vals = tuple(v.strip() for v in values.split(",") if v.strip())
            out.append(Requirement(key, op, vals))
        else:
            out.append(Requirement(key, "!" if bang else "exists"))
    return tuple(out)


def labels_match(reqs: tuple[Requirement, ...], obj: Obj) -> bool:
    if not reqs:
        return True
    labels = labels_of(obj)
    return all(r.matches(labels) for r in reqs)


def selector_from_match(selector: Obj | None) -> tuple[Requirement, ...]:
    """A LabelSelector object (matchLabels, matchExpressions) as requirements."""
    if not selector:
        return ()
    out = [Requirement(str(k), "=", (str(v),))
           for k, v in (selector.get("matchLabels") or {}).items()]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expr in selector.get("matchExpressions") or []:
        out.append(Requirement(str(expr.get("key")), ops.get(str(expr.get("operator")), "in"),
                               tuple(str(v) for v in expr.get("values") or [])))
    return tuple(out)


def selector_string(selector: Obj | None) -> str:
    """A LabelSelector object as a selector string ("app=x,tier in (a,b)")."""
    parts = []
    for r in selector_from_match(selector):
        if r.op == "=":
            parts.append(f"{r.key}={r.values[0]}")
        elif r.op in ("in", "notin"):
            parts.append(f"{r.key} {r.op} ({','.join(r.values)})")
        else:
            parts.append(r.key if r.op == "exists" else f"!{r.key}")
    return ",".join(parts)


@dataclass(frozen=True)
class FieldRequirement:
    path: str
    equal: bool
    value: str

    def matches(self, obj: Obj) -> bool:
        found = dig(obj, self.path)
        text = "" if found is None else (str(found).lower() if isinstance(found, bool)
                                         else str(found))
        return (text == self.value) == self.equal


def parse_fields(text: str | None, allowed: tuple[str, ...], kind: str) -> tuple[FieldRequirement, ...]:
    if not text:
        return ()
    out = []
    for part in _split_top(text):
        m = re.match(r"^\s*([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
        if not m:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        path, op, value = m.groups()
        if path not in ("metadata.name", "metadata.namespace") and path not in allowed:
            raise bad_request(f'"{path}" is not a known field selector: only "metadata.name", '
                              f'"metadata.namespace"' + (f" for {kind}" if kind else ""))
        out.append(FieldRequirement(path, op != "!=", value))
    return tuple(out)


def fields_match(reqs: tuple[FieldRequirement, ...], obj: Obj) -> bool:
    return all(r.matches(obj) for r in reqs)
