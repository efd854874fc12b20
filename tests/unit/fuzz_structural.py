"""Structural mutations for the fuzz test: edit a bundled runbook's data, dump it again.

Each is certain to make the runbook invalid: a deleted *required* key, a key renamed to
one no mapping of that kind accepts, a value of a type its key never takes, an unknown
kind or step kind, a reference to nothing, a bad duration, pattern, identifier or
variable declaration, a number far out of range.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tests.unit.fuzz_inputs import Base, Case, Path_, Pick, dump, get, one, update
from tests.unit.fuzz_schema import BAD_DURATIONS, BAD_REGEXES, REQUIRED, ROLES, WRONG


def _mapping(pick: Pick, b: Base, roles: Sequence[str]) -> tuple[Path_, str, dict[str, Any]]:
    sites = [(p, r) for p, r in b.mappings if r in roles]
    path, role = one(pick, sites)
    return path, role, get(b.tree, path)


def delete_required(pick: Pick, b: Base) -> Case:
    sites = [(p, r) for p, r in b.mappings if set(REQUIRED.get(r, ())) & set(get(b.tree, p))]
    path, role = one(pick, sites)
    key = one(pick, [k for k in REQUIRED[role] if k in get(b.tree, path)])
    tree = update(b.tree, path, lambda m: {k: v for k, v in m.items() if k != key})
    return Case(b.name, f"delete required {role}.{key}", dump(tree))


def item_key_for_kind(pick: Pick, b: Base) -> Case:
    """Delete what an item's kind needs: uses (check/action), for (wait), options (choice)."""
    needs = {"check": "uses", "action": "uses", "wait": "for", "choice": "options"}
    sites = [p for p, r in b.mappings if r == "item" and get(b.tree, p).get("kind") in needs]
    path = one(pick, sites)
    key = needs[get(b.tree, path)["kind"]]
    tree = update(b.tree, path, lambda m: {k: v for k, v in m.items() if k != key})
    return Case(b.name, f"delete {key} of a {get(b.tree, path)['kind']} item", dump(tree))


SUFFIXES = ("x", "_", "2", "é", "\u200b", "s_", "-old")


def rename_key(pick: Pick, b: Base) -> Case:
    path, role, m = _mapping(pick, b, [*ROLES, "with"])
    key = one(pick, list(m))
    new = one(pick, [key + s for s in SUFFIXES] + [key.upper() + "_"])
    tree = update(b.tree, path, lambda mm: {(new if k == key else k): v for k, v in mm.items()})
    return Case(b.name, f"rename {role}.{key} -> {new!r}", dump(tree))


def retype(pick: Pick, b: Base) -> Case:
    sites = [(p, r) for p, r in b.mappings if r in ROLES and set(ROLES[r]) & set(get(b.tree, p))]
    path, role = one(pick, sites)
    key = one(pick, [k for k in get(b.tree, path) if k in ROLES[role]])
    value = one(pick, WRONG[ROLES[role][key]])
    tree = update(b.tree, (*path, key), lambda _: value)
    return Case(b.name, f"retype {role}.{key} = {value!r}"[:120], dump(tree))


def unknown_name(pick: Pick, b: Base) -> Case:
    """An unknown item kind, step kind or variable type."""
    field, roles = one(pick, [("kind", ["item"]), ("uses", ["item"]), ("type", ["variable"])])
    sites = [(p, r) for p, r in b.mappings if r in roles]
    if field != "kind":
        sites = [(p, r) for p, r in sites if field in get(b.tree, p)] or sites
    path, _ = one(pick, sites)
    value = one(pick, ["shel", "k8s.rollout", "confirmed", "Check", "checks", "ｃｈｅｃｋ", "",
                       "integer", "str", "http.get", "wait ", "note\u200b"])
    if field == "uses":
        tree = update(b.tree, path, lambda m: {**m, "kind": "check", "uses": value})
    else:
        tree = update(b.tree, (*path, field), lambda _: value)
    return Case(b.name, f"unknown {field} {value!r}", dump(tree))


def _ids(b: Base, role: str) -> list[str]:
    return [get(b.tree, p)["id"] for p, r in b.mappings if r == role and "id" in get(b.tree, p)]


def bad_reference(pick: Pick, b: Base) -> Case:
    items = [p for p, r in b.mappings if r == "item"]
    path = one(pick, items)
    kind = one(pick, ["needs-unknown", "needs-self", "needs-later", "depends-on", "foreach",
                      "when-choice", "when-env", "template"])
    ids = set(_ids(b, "item"))
    ghost = one(pick, ["nope", "look-aroun", "deploy-method2", "x", "backup_databases"])
    while ghost in ids:
        ghost += "-x"
    item = get(b.tree, path)
    if kind == "needs-self":
        tree = update(b.tree, path, lambda m: {**m, "needs": [item["id"]]})
    elif kind == "needs-later":
        later = [p for p in items if p[1] > path[1]]
        if not later:
            return bad_reference(pick, b)
        tree = update(b.tree, path, lambda m: {**m, "needs": [get(b.tree, one(pick, later))["id"]]})
    elif kind == "depends-on":
        svc = one(pick, [p for p, r in b.mappings if r == "service"])
        tree = update(b.tree, svc, lambda m: {**m, "depends_on": [*m.get("depends_on", []), ghost]})
    elif kind == "foreach":
        tree = update(b.tree, path, lambda m: {**m, "foreach": [ghost]})
    elif kind == "when-choice":
        tree = update(b.tree, path, lambda m: {**m, "when": {"choice": ghost, "option": "x"}})
    elif kind == "when-env":
        tree = update(b.tree, path, lambda m: {**m, "when": {"env": ["prod-eu"]}})
    elif kind == "template":
        ref = one(pick, ["${NOPE}", "${env.nokey}", "${service.name}", "${session.user}",
                         "${VERSION", "${a.b}", "${}"])
        if ref == "${service.name}" and "foreach" in item:
            ref = "${service.colour}"
        tree = update(b.tree, path, lambda m: {**m, "title": f"{m['title']} {ref}"})
    else:
        tree = update(b.tree, path, lambda m: {**m, "needs": [ghost]})
    return Case(b.name, f"bad reference: {kind}", dump(tree))


def bad_duration(pick: Pick, b: Base) -> Case:
    role, key = one(pick, [("item", "timeout"), ("section", "expected"), ("item", "expected"),
                           ("wait", "for"), ("policy", "notice")])
    sites = [p for p, r in b.mappings if r == role] if role != "wait" else \
        [p for p, r in b.mappings if r == "item" and get(b.tree, p).get("kind") == "wait"]
    if not sites:
        sites = [p for p, r in b.mappings if r == "item"]
        key = "timeout"
    path = one(pick, sites)
    value = one(pick, BAD_DURATIONS + (["30-10m", "5m-1m", "10 to 2 min"] if key == "expected" else []))
    tree = update(b.tree, path, lambda m: {**m, key: value})
    return Case(b.name, f"bad duration {key}: {value!r}", dump(tree))


def bad_variable(pick: Pick, b: Base) -> Case:
    decl = one(pick, [
        {"pattern": one(pick, BAD_REGEXES)},
        {"type": "int", "default": one(pick, ["abc", "1.5", "one", "0x10", "1e3"])},
        {"type": "bool", "default": one(pick, ["perhaps", "2", "truthy", "nope"])},
        {"type": "choice", "choices": ["a", "b"], "default": one(pick, ["c", "A", "a ", ""])},
        {"type": "choice"},
        {"pattern": "[0-9]+", "default": one(pick, ["x1", "1 ", "", "１２"])},
        {"type": one(pick, ["integer", "number", "list", "secret"])},
    ])
    name = one(pick, ["FUZZ_VAR", "NEW_VERSION", "GREETING", "APP_DIR"])
    variables = {**(b.tree.get("variables") or {}), name: decl}
    tree = {**b.tree, "variables": variables}
    return Case(b.name, f"bad variable {name}: {decl!r}", dump(tree))


def bad_ident(pick: Pick, b: Base) -> Case:
    role = one(pick, ["item", "phase", "section", "service", "option"])
    key = "name" if role == "service" else "id"
    path, _, m = _mapping(pick, b, [role])
    value = str(m.get(key, "x"))
    new = one(pick, [value + "é", value.upper() + "X", "-" + value, value + " x", value + "\u200b",
                     "Ωmega", value.replace("-", "/") + "/", "", "_" + value, value + "!"])
    tree = update(b.tree, (*path, key), lambda _: new)
    return Case(b.name, f"bad {role} {key} {new!r}", dump(tree))


def huge_number(pick: Pick, b: Base) -> Case:
    big = one(pick, [10**30, 2**64, 10**400, 70000, float("inf"), float("nan"), -(10**30)])
    role, key = one(pick, [("service", "port"), ("item", "retries"), ("top", "runbook"),
                           ("item", "timeout"), ("section", "expected"), ("wait", "for"),
                           ("policy", "notice")])
    if role == "wait":
        sites = [p for p, r in b.mappings if r == "item" and get(b.tree, p).get("kind") == "wait"]
    else:
        sites = [p for p, r in b.mappings if r == role]
    if not sites:
        role, key = "item", "timeout"
        sites = [p for p, r in b.mappings if r == "item"]
    if key == "runbook" and not isinstance(big, int):
        big = 10**30
    if key not in ("port", "runbook") and big == 70000:
        big = 10**9  # 70000 is a fine duration, and too many retries only from 101
    if key == "port" and isinstance(big, float):
        big = 65536
    path = one(pick, sites)
    tree = update(b.tree, path, lambda m: {**m, key: big})
    return Case(b.name, f"huge {role}.{key} = {big!r}"[:80], dump(tree))


STRUCTURAL = (delete_required, item_key_for_kind, rename_key, retype, unknown_name,
              bad_reference, bad_duration, bad_variable, bad_ident, huge_number)
