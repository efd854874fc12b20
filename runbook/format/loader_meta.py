"""Loader, first half: variables, environments and policies, services, contacts, env checklist."""

from __future__ import annotations

import re

import yaml

from runbook.format.model import (
    Contact,
    Environment,
    EnvVarSpec,
    Policy,
    Service,
    Variable,
    VarType,
    Window,
)
from runbook.format.services import DependencyCycle, startup_levels
from runbook.format.variables import VariableError, check_value
from runbook.format.yamlnodes import Doc, describe, suggest

VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")


def parse_variables(doc: Doc, node: yaml.Node) -> list[Variable]:
    keys = ("type", "pattern", "choices", "required", "default", "prompt", "secret", "env")
    out: list[Variable] = []
    for name, (knode, vnode) in (doc.mapping(node, "variables") or {}).items():
        if not VAR_NAME.match(name):
            doc.error(knode, f"variable name {name!r} must be letters, digits and '_'")
            continue
        m = doc.mapping(vnode, f"variable {name}", keys)
        if m is None:
            continue
        f: dict[str, object] = {}
        if "type" in m:
            t = doc.string(m["type"][1], "type")
            if t is not None and t not in {x.value for x in VarType}:
                doc.error(m["type"][1], f"unknown variable type {t!r}"
                                        f"{suggest(t, [x.value for x in VarType])}")
            elif t is not None:
                f["type"] = VarType(t)
        if "pattern" in m:
            pat = doc.string(m["pattern"][1], "pattern")
            try:
                if pat is not None:
                    re.compile(pat)
                    f["pattern"] = pat
            except re.error as e:
                doc.error(m["pattern"][1], f"bad pattern for {name}: {e}")
        if "choices" in m:
            f["choices"] = tuple(s for s, _ in doc.strings(m["choices"][1], "choices"))
        for key in ("required", "secret"):
            if key in m:
                f[key] = bool(doc.boolean(m[key][1], key))
        for key in ("prompt", "env"):
            if key in m:
                f[key] = doc.string(m[key][1], key) or ""
        if "default" in m:
            dn = m["default"][1]
            dv = doc.value(dn) if isinstance(dn, yaml.ScalarNode) else None
            if dv is None:
                doc.error(dn, f"default of {name} must be a single value, not {describe(dn)}")
            else:
                f["default"] = str(dv).lower() if isinstance(dv, bool) else str(dv)
            f.setdefault("required", False)
        var = Variable(name=name, pos=doc.pos(knode), **f)  # type: ignore[arg-type]
        if var.type is VarType.CHOICE and not var.choices:
            doc.error(vnode, f"variable {name} has type choice but no choices")
        if var.default is not None:
            try:
                check_value(var, var.default)
            except VariableError as e:
                why = str(e).removeprefix(f"{name}: ")
                doc.error(m["default"][1], f"default of {name}: {why}")
        out.append(var)
    return out


def parse_environments(doc: Doc, node: yaml.Node) -> list[Environment]:
    keys = ("namespace", "context", "production", "values", "policy", "notify_webhook")
    out: list[Environment] = []
    for name, (knode, vnode) in (doc.mapping(node, "environments") or {}).items():
        m = doc.mapping(vnode, f"environment {name}", keys)
        if m is None:
            continue
        f: dict[str, object] = {}
        for key in ("namespace", "context", "notify_webhook"):
            if key in m:
                f[key] = doc.string(m[key][1], f"{name}.{key}") or ""
        if "production" in m:
            f["production"] = bool(doc.boolean(m["production"][1], "production"))
        if "values" in m:
            vm = doc.mapping(m["values"][1], f"{name}.values") or {}
            f["values"] = tuple((k, s) for k, (_, v) in vm.items()
                                if (s := doc.string(v, f"{name}.values.{k}", True)) is not None)
        if "policy" in m:
            pol = _policy(doc, m["policy"][1], name)
            if pol is not None:
                f["policy"] = pol
        out.append(Environment(name=name, pos=doc.pos(knode), **f))  # type: ignore[arg-type]
    if not out:
        doc.error(node, "environments must name at least one environment")
    return out


def _policy(doc: Doc, node: yaml.Node, env: str) -> Policy | None:
    keys = ("window", "notice", "typed_confirmation", "two_person", "lock")
    m = doc.mapping(node, f"{env}.policy", keys)
    if m is None:
        return None
    f: dict[str, object] = {}
    if "window" in m:
        f["window"] = _window(doc, m["window"][1], env)
    if "notice" in m:
        notice = doc.duration(m["notice"][1], "notice")
        if notice is not None:
            f["notice_s"] = notice
            f["notice_hours"] = int(notice // 3600)
    for key in ("typed_confirmation", "lock"):
        if key in m:
            f[key] = bool(doc.boolean(m[key][1], key))
    if "two_person" in m:
        tp = m["two_person"][1]
        if isinstance(tp, yaml.ScalarNode) and tp.value == "all-mutating":
            f["two_person_all_mutating"] = True
        else:
            f["two_person_items"] = tuple(s for s, _ in doc.strings(tp, "two_person"))
    return Policy(pos=doc.pos(node), **f)  # type: ignore[arg-type]


def _window(doc: Doc, node: yaml.Node, env: str) -> Window | None:
    if isinstance(node, yaml.ScalarNode) and node.value == "any":
        return None
    m = doc.mapping(node, f"{env}.policy.window", ("days", "start", "end", "tz"),
                    ("days", "start", "end"))
    if m is None or not {"days", "start", "end"} <= set(m):
        return None
    days: list[int] = []
    for d, n in doc.strings(m["days"][1], "days"):
        word = d.strip().lower()
        key = word[:3]
        if key not in DAYS or not FULL_DAYS[DAYS.index(key)].startswith(word):
            doc.error(n, f"unknown day {d!r} (use mon, tue, wed, thu, fri, sat, sun)")
        else:
            days.append(DAYS.index(key))
    if not days and isinstance(m["days"][1], yaml.SequenceNode) and not m["days"][1].value:
        doc.error(m["days"][1], "window days must name at least one day")
    minutes: list[int] = []
    for key in ("start", "end"):
        tnode = m[key][1]
        # the source text: YAML 1.1 reads an unquoted 17:30 as the number 1050
        s = str(tnode.value) if isinstance(tnode, yaml.ScalarNode) else describe(tnode)
        if not HHMM.match(s):
            doc.error(m[key][1], f"window {key} must be HH:MM (24-hour), not {s!r}")
            return None
        hh, mm = s.split(":")
        minutes.append(int(hh) * 60 + int(mm))
    tz = doc.string(m["tz"][1], "tz") if "tz" in m else "UTC"
    if tz is None:
        return None
    if tz != "UTC":
        try:
            from zoneinfo import ZoneInfo
            ZoneInfo(tz or "")
        except Exception:
            doc.error(m["tz"][1], f"unknown time zone {tz!r}")
            return None
    if minutes[0] == minutes[1]:
        doc.error(m["end"][1], "window end must differ from its start")
        return None
    return Window(tuple(days), minutes[0], minutes[1], tz or "UTC", doc.pos(node))


def parse_services(doc: Doc, node: yaml.Node) -> list[Service]:
    keys = ("name", "title", "port", "health", "expect", "depends_on", "infrastructure",
            "migrations")
    out: list[Service] = []
    nodes: dict[str, yaml.Node] = {}
    dep_nodes: dict[str, dict[str, yaml.Node]] = {}  # service -> dependency -> its node
    for snode in doc.sequence(node, "services") or []:
        m = doc.mapping(snode, "service", keys, ("name",))
        if m is None or "name" not in m:
            continue
        name = doc.ident(m["name"][1], "service name")
        if name is None:
            continue
        if name in nodes:
            doc.error(m["name"][1], f"duplicate service {name!r}")
            continue
        nodes[name] = m["name"][1]
        f: dict[str, object] = {}
        if "title" in m:
            f["title"] = doc.string(m["title"][1], "title") or ""
        if "port" in m:
            f["port"] = doc.integer(m["port"][1], "port", 1, 65535)
        if "health" in m:
            h = doc.string(m["health"][1], "health")
            if h is not None and not h.startswith("/"):
                doc.error(m["health"][1], f"health path must start with '/', not {h!r}")
            f["health"] = h
        if "expect" in m:
            em = doc.mapping(m["expect"][1], "expect") or {}
            f["expect"] = tuple((k, str(doc.value(v))) for k, (_, v) in em.items())
        if "depends_on" in m:
            deps = doc.strings(m["depends_on"][1], "depends_on")
            f["depends_on"] = tuple(s for s, _ in deps)
            dep_nodes[name] = {s: n for s, n in reversed(deps)}
        for key in ("infrastructure", "migrations"):
            if key in m:
                f[key] = bool(doc.boolean(m[key][1], key))
        out.append(Service(name=name, pos=doc.pos(snode), **f))  # type: ignore[arg-type]
    for s in out:
        for d in s.depends_on:
            if d not in nodes:
                doc.error(dep_nodes[s.name][d], f"service {s.name!r} depends on unknown "
                                                f"service {d!r}{suggest(d, list(nodes))}")
    try:
        startup_levels(out)
    except DependencyCycle as e:
        first, then = e.cycle[0], e.cycle[1]
        doc.error(dep_nodes.get(first, {}).get(then, nodes.get(first, node)), f"services: {e}")
    return out


def parse_contacts(doc: Doc, node: yaml.Node) -> list[Contact]:
    out: list[Contact] = []
    for cnode in doc.sequence(node, "contacts") or []:
        m = doc.mapping(cnode, "contact", ("role", "name", "channel"), ("role", "name", "channel"))
        if m is None or len(m) < 3:
            continue
        vals = [doc.string(m[k][1], k) for k in ("role", "name", "channel")]
        if all(v is not None for v in vals):
            out.append(Contact(str(vals[0]), str(vals[1]), str(vals[2]), doc.pos(cnode)))
    return out


def parse_checklist(doc: Doc, node: yaml.Node, services: list[Service]) -> list[EnvVarSpec]:
    keys = ("name", "description", "services", "secret", "config_map", "sensitive")
    known = {s.name for s in services}
    out: list[EnvVarSpec] = []
    for enode in doc.sequence(node, "env_checklist") or []:
        m = doc.mapping(enode, "env_checklist entry", keys, ("name",))
        if m is None or "name" not in m:
            continue
        name = doc.string(m["name"][1], "name")
        f: dict[str, object] = {}
        if "description" in m:
            f["description"] = doc.string(m["description"][1], "description", True) or ""
        if "services" in m:
            svc = doc.strings(m["services"][1], "services")
            for s, n in svc:
                if s not in known:
                    doc.error(n, f"unknown service {s!r}{suggest(s, sorted(known) or ['(none)'])}")
            f["services"] = tuple(s for s, _ in svc)
        for key in ("secret", "config_map"):
            if key in m:
                f[key] = doc.string(m[key][1], key)
        if "secret" in f and "config_map" in f:
            doc.error(enode, f"{name}: give either secret or config_map, not both")
        if "sensitive" in m:
            f["sensitive"] = bool(doc.boolean(m["sensitive"][1], "sensitive"))
        if name:
            out.append(EnvVarSpec(name=name, pos=doc.pos(enode), **f))  # type: ignore[arg-type]
    return out
