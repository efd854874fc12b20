"""Loader, second half: phases, sections and items (foreach, choice, params)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from runbook.format.model import Condition, Item, ItemKind, Option, Phase, Section, Service
from runbook.format.params import KindCatalog, Param, ParamType
from runbook.format.template import SCOPES, TemplateError, references
from runbook.format.yamlnodes import MAX_INT, Doc, suggest, walk_scalars

ITEM_KEYS = (
    "id", "title", "kind", "help", "required", "uses", "with", "timeout", "expected",
    "retries", "foreach", "needs", "when", "options", "for", "two_person", "notice",
)
MAX_RETRIES = 100
SERVICE_FIELDS = ("name", "port", "health", "title")
SESSION_FIELDS = ("dir", "id", "operator")
ENV_FIELDS = ("name", "namespace", "context")


@dataclass
class ItemContext:
    """What item parsing needs to know of the rest of the runbook."""

    registry: KindCatalog
    variables: set[str]
    env_keys: set[str]  # value keys defined in every environment
    env_names: set[str]
    services: list[Service]
    env_values: dict[str, set[str]] = field(default_factory=dict)  # env name -> its value keys
    ids: dict[str, yaml.Node] = field(default_factory=dict)  # id -> node of first use
    templates: dict[str, list[str]] = field(default_factory=dict)  # foreach id -> expanded ids
    needs_nodes: dict[str, yaml.Node] = field(default_factory=dict)
    when_nodes: dict[str, yaml.Node] = field(default_factory=dict)

    def deployable(self) -> list[Service]:
        return [s for s in self.services if not s.infrastructure]


def parse_phases(doc: Doc, node: yaml.Node, ctx: ItemContext) -> list[Phase]:
    phases: list[Phase] = []
    pnodes = doc.sequence(node, "phases")
    for pnode in pnodes or []:
        m = doc.mapping(pnode, "phase", ("id", "title", "help", "sections"), ("id", "title"))
        if m is None:
            continue
        pid = doc.ident(m["id"][1], "phase id") if "id" in m else None
        title = doc.string(m["title"][1], "phase title") if "title" in m else None
        sections = parse_sections(doc, m["sections"][1], ctx, pid or "") if "sections" in m else []
        if "sections" not in m:
            doc.error(pnode, "phase is missing required key 'sections'")
        _claim(doc, ctx, pid, m.get("id", (pnode, pnode))[1])
        hlp = _opt_str(doc, m, "help", "phase help")
        if pid and title:
            phases.append(Phase(pid, title, tuple(sections), hlp, doc.pos(pnode)))
    if pnodes == []:
        doc.error(node, "a runbook needs at least one phase")
    return phases


def parse_sections(doc: Doc, node: yaml.Node, ctx: ItemContext, phase: str) -> list[Section]:
    out: list[Section] = []
    keys = ("id", "title", "help", "expected", "items")
    for snode in doc.sequence(node, "sections") or []:
        m = doc.mapping(snode, "section", keys, ("id", "title", "items"))
        if m is None:
            continue
        sid = doc.ident(m["id"][1], "section id") if "id" in m else None
        _claim(doc, ctx, sid, m.get("id", (snode, snode))[1])
        title = doc.string(m["title"][1], "section title") if "title" in m else None
        expected = doc.expected(m["expected"][1]) if "expected" in m else None
        items: list[Item] = []
        if "items" in m:
            for inode in doc.sequence(m["items"][1], "items") or []:
                items.extend(parse_item(doc, inode, ctx, phase, sid or "", None))
        if sid and title:
            hlp = _opt_str(doc, m, "help", "section help")
            out.append(Section(sid, title, tuple(items), expected, hlp, doc.pos(snode)))
    return out


def parse_item(
    doc: Doc, node: yaml.Node, ctx: ItemContext, phase: str, section: str,
    branch: tuple[str, str] | None,
) -> list[Item]:
    m = doc.mapping(node, "item", ITEM_KEYS, ("id", "title"))
    if m is None:
        return []
    iid = doc.ident(m["id"][1], "item id") if "id" in m else None
    title = doc.string(m["title"][1], "item title") if "title" in m else None
    kind = _kind(doc, m)
    if kind is None or iid is None or title is None:
        return []
    fields: dict[str, Any] = {"help": _opt_str(doc, m, "help", "help")}
    fields["required"] = kind is not ItemKind.NOTE
    if "required" in m:
        fields["required"] = bool(doc.boolean(m["required"][1], "required"))
    if "timeout" in m:
        fields["timeout_s"] = doc.duration(m["timeout"][1], "timeout")
    if "expected" in m:
        fields["expected"] = doc.expected(m["expected"][1])
    if "retries" in m:
        fields["retries"] = doc.integer(m["retries"][1], "retries", maximum=MAX_RETRIES) or 0
    if "two_person" in m:
        fields["two_person"] = bool(doc.boolean(m["two_person"][1], "two_person"))
    if "notice" in m:
        fields["notice"] = bool(doc.boolean(m["notice"][1], "notice"))
        if kind is not ItemKind.CONFIRM:
            doc.error(m["notice"][0], f"'notice' is only for confirm items, not {kind} items")
    if "needs" in m:
        fields["needs"] = tuple(s for s, _ in doc.strings(m["needs"][1], "needs"))
        ctx.needs_nodes[iid] = m["needs"][1]
    if "when" in m:
        fields["when"] = _when(doc, m["when"][1], ctx)
        ctx.when_nodes[iid] = m["when"][1]
    _check_kind_keys(doc, m, kind, branch)
    if kind is ItemKind.WAIT:
        fields["wait_s"] = doc.duration(m["for"][1], "for") if "for" in m else None
    uses, params = _uses(doc, m, kind, ctx)
    fields["uses"] = uses
    fields["params"] = params
    services = _foreach(doc, m, ctx)
    if services is not None:
        _check_templates(doc, m, ctx, in_foreach=True)
        _claim(doc, ctx, iid, m["id"][1], template=True)
        ids = [f"{iid}[{s.name}]" for s in services]
        ctx.templates[iid] = ids
        return [
            Item(id=eid, title=f"{title} ({s.name})", kind=kind, phase=phase, section=section,
                 branch=branch, service=s.name, template_id=iid, pos=doc.pos(node), **fields)
            for eid, s in zip(ids, services, strict=True)
        ]
    _check_templates(doc, m, ctx, in_foreach=False)
    _claim(doc, ctx, iid, m["id"][1])
    options: tuple[Option, ...] = ()
    if kind is ItemKind.CHOICE and "options" in m:
        options = _options(doc, m, ctx, phase, section, iid)
    return [Item(id=iid, title=title, kind=kind, options=options, phase=phase, section=section,
                 branch=branch, pos=doc.pos(node), **fields)]


def _kind(doc: Doc, m: dict[str, tuple[yaml.Node, yaml.Node]]) -> ItemKind | None:
    if "kind" not in m:
        if "uses" in m:
            doc.error(m["uses"][0], "an item with 'uses' must say kind: check (read-only) "
                                    "or kind: action (mutating)")
            return None
        return ItemKind.CONFIRM
    k = doc.string(m["kind"][1], "kind")
    if k is None:
        return None
    try:
        return ItemKind(k)
    except ValueError:
        doc.error(m["kind"][1], f"unknown item kind {k!r}{suggest(k, [x.value for x in ItemKind])}")
        return None


def _check_kind_keys(doc: Doc, m: dict[str, tuple[yaml.Node, yaml.Node]], kind: ItemKind,
                     branch: tuple[str, str] | None) -> None:
    automated = kind in (ItemKind.CHECK, ItemKind.ACTION)
    if automated and "uses" not in m:
        doc.error(m["kind"][1], f"{_a(kind)} item needs 'uses' (the step kind to run)")
    if not automated:
        for key in ("uses", "with", "retries"):
            if key in m:
                doc.error(m[key][0], f"{key!r} is only for check and action items, "
                                     f"not {kind} items")
    if kind is ItemKind.WAIT and "for" not in m:
        doc.error(m["kind"][1], "a wait item needs 'for' (how long to watch, e.g. 30m)")
    if kind is not ItemKind.WAIT and "for" in m:
        doc.error(m["for"][0], "'for' is only for wait items")
    if kind is ItemKind.CHOICE:
        if "options" not in m:
            doc.error(m["kind"][1], "a choice item needs 'options'")
        if branch is not None:
            doc.error(m["kind"][1], "a choice cannot be nested inside another choice's option")
        if "foreach" in m:
            doc.error(m["foreach"][0], "a choice item cannot have foreach")
    elif "options" in m:
        doc.error(m["options"][0], "'options' is only for choice items")


def _uses(doc: Doc, m: dict[str, tuple[yaml.Node, yaml.Node]], kind: ItemKind,
          ctx: ItemContext) -> tuple[str | None, tuple[tuple[str, Any], ...]]:
    if "uses" not in m or kind not in (ItemKind.CHECK, ItemKind.ACTION):
        return None, ()
    name = doc.string(m["uses"][1], "uses")
    if name is None:
        return None, ()
    step = ctx.registry.get(name)
    if step is None:
        doc.error(m["uses"][1], f"unknown step kind {name!r}{suggest(name, ctx.registry.names())}")
        return None, ()
    if kind is ItemKind.CHECK and not step.read_only:
        doc.error(m["kind"][1], f"step kind {name!r} changes things: use kind: action, not check")
    given = doc.mapping(m["with"][1], f"'with' of {name}") if "with" in m else {}
    if given is None:
        return name, ()
    spec = {p.name: p for p in step.params}
    params: dict[str, Any] = {}
    for key, (knode, vnode) in given.items():
        p = spec.get(key)
        if p is None:
            doc.error(knode, f"unknown parameter {key!r} for step kind {name!r}"
                             f"{suggest(key, list(spec) or ['(none)'])}")
            continue
        value = _param_value(doc, vnode, p, name)
        if value is not None:
            params[key] = value
    for p in step.params:
        if p.name not in params and p.name not in given:
            if p.required:
                where = m["with"][1] if "with" in m else m["uses"][1]
                doc.error(where, f"step kind {name!r} needs parameter {p.name!r}")
            elif p.default is not None:
                params[p.name] = p.default
    where = m["with"][1] if "with" in m else m["uses"][1]
    for msg in step.check(params):
        doc.error(where, msg)
    return name, tuple(params.items())


def _param_value(doc: Doc, node: yaml.Node, p: Param, step: str) -> Any:
    what = f"parameter {p.name!r} of {step}"
    raw = doc.value(node)
    templated = isinstance(raw, str) and "${" in raw
    t = p.type
    if t is ParamType.STR_LIST:
        return tuple(s for s, _ in doc.strings(node, what))
    if t is ParamType.MAP:
        mm = doc.mapping(node, what)
        if mm is None:
            return None
        return tuple((k, s) for k, (_, v) in mm.items() if (s := doc.string(v, f"{what}[{k}]",
                                                                          True)) is not None)
    if not isinstance(node, yaml.ScalarNode) or raw is None:
        doc.error(node, f"{what} must be a single value, not {_describe(node)}")
        return None
    if templated:
        return raw
    if t is ParamType.STR:
        if isinstance(raw, bool):
            doc.error(node, f"{what} must be a string, not a boolean (quote it: \"{node.value}\")")
            return None
        s = str(raw)
        if p.choices and s not in p.choices:
            doc.error(node, f"{what} must be one of {', '.join(p.choices)}, not {s!r}")
            return None
        return s
    if t is ParamType.INT:
        return doc.integer(node, what)
    if t is ParamType.NUMBER:
        if isinstance(raw, bool) or not isinstance(raw, int | float) \
                or not abs(raw) <= MAX_INT:  # also refuses inf and nan
            doc.error(node, f"{what} must be a (finite) number, not {_describe(node)}")
            return None
        return float(raw)
    if t is ParamType.BOOL:
        return doc.boolean(node, what)
    if t is ParamType.DURATION:
        return doc.duration(node, what)
    return raw


def _describe(node: yaml.Node) -> str:
    from runbook.format.yamlnodes import describe
    return describe(node)


def _foreach(doc: Doc, m: dict[str, tuple[yaml.Node, yaml.Node]],
             ctx: ItemContext) -> list[Service] | None:
    if "foreach" not in m:
        return None
    node = m["foreach"][1]
    deploy = ctx.deployable()
    if isinstance(node, yaml.ScalarNode) and node.value in ("services", "services-reversed"):
        from runbook.format.services import DependencyCycle, startup_order
        try:
            ordered = [s for s in startup_order(ctx.services) if not s.infrastructure]
        except DependencyCycle:  # reported with the services; keep the declared order
            ordered = deploy
        return ordered if node.value == "services" else list(reversed(ordered))
    by_name = {s.name: s for s in ctx.services}
    out: list[Service] = []
    for name, n in doc.strings(node, "foreach"):
        if name not in by_name:
            doc.error(n, f"foreach names unknown service {name!r}"
                         f"{suggest(name, [s.name for s in deploy] or ['(none)'])}")
        else:
            out.append(by_name[name])
    if not out:
        doc.error(node, "foreach must be 'services', 'services-reversed' or a list of services")
    return out


def _when(doc: Doc, node: yaml.Node, ctx: ItemContext) -> Condition | None:
    m = doc.mapping(node, "when", ("env", "choice", "option"))
    if m is None:
        return None
    envs = tuple(s for s, _ in doc.strings(m["env"][1], "when.env")) if "env" in m else ()
    for e in envs:
        if e not in ctx.env_names:
            doc.error(m["env"][1], f"when.env names unknown environment {e!r}"
                                   f"{suggest(e, sorted(ctx.env_names) or ['(none)'])}")
    choice = doc.string(m["choice"][1], "when.choice") if "choice" in m else None
    option = doc.string(m["option"][1], "when.option") if "option" in m else None
    if (choice is None) != (option is None):
        doc.error(node, "when needs both 'choice' and 'option', or neither")
    return Condition(envs, choice, option, doc.pos(node))


def _options(doc: Doc, m: dict[str, tuple[yaml.Node, yaml.Node]], ctx: ItemContext,
             phase: str, section: str, choice_id: str) -> tuple[Option, ...]:
    out: list[Option] = []
    seen: set[str] = set()
    onodes = doc.sequence(m["options"][1], "options")
    for onode in onodes or []:
        om = doc.mapping(onode, "option", ("id", "title", "help", "recommended", "items"),
                         ("id", "title"))
        if om is None:
            continue
        oid = doc.ident(om["id"][1], "option id") if "id" in om else None
        if oid in seen:
            doc.error(om["id"][1], f"duplicate option id {oid!r}")
        title = doc.string(om["title"][1], "option title") if "title" in om else None
        items: list[Item] = []
        if "items" in om:
            for inode in doc.sequence(om["items"][1], "option items") or []:
                items.extend(parse_item(doc, inode, ctx, phase, section, (choice_id, oid or "")))
        rec = bool(doc.boolean(om["recommended"][1], "recommended")) if "recommended" in om else False
        if oid and title:
            seen.add(oid)
            out.append(Option(oid, title, _opt_str(doc, om, "help", "option help"), rec,
                              tuple(items), doc.pos(onode)))
    if onodes is not None and len(onodes) < 2:
        doc.error(m["options"][1], "a choice needs at least two options")
    return tuple(out)


def _check_templates(doc: Doc, m: dict[str, tuple[yaml.Node, yaml.Node]], ctx: ItemContext,
                     in_foreach: bool) -> None:
    for key in ("with", "title", "help"):
        if key not in m:
            continue
        for sn in walk_scalars(m[key][1]):
            if not isinstance(sn.value, str) or "$" not in sn.value:
                continue
            try:
                refs = list(references(sn.value))
            except TemplateError as e:
                doc.error(sn, str(e))
                continue
            for ref, _ in refs:
                msg = _check_ref(ref, ctx, in_foreach)
                if msg:
                    doc.error(sn, msg)


def _check_ref(ref: str, ctx: ItemContext, in_foreach: bool) -> str | None:
    if "." not in ref:
        if ref in ctx.variables:
            return None
        return f"undefined variable ${{{ref}}}{suggest(ref, sorted(ctx.variables) or ['(none)'])}"
    scope, key = ref.split(".", 1)
    if scope == "env":
        if key in ENV_FIELDS or key in ctx.env_keys:
            return None
        lacking = sorted(e for e, keys in ctx.env_values.items() if key not in keys)
        return (f"${{{ref}}}: {key!r} is not defined in every environment"
                f" (missing in {', '.join(lacking)})")
    if scope == "service":
        if not in_foreach:
            return f"${{{ref}}} can only be used in an item with foreach"
        return None if key in SERVICE_FIELDS else f"${{{ref}}}: services have no field {key!r}"
    if scope == "session":
        return None if key in SESSION_FIELDS else f"${{{ref}}}: sessions have no field {key!r}"
    return f"unknown scope {scope!r} in ${{{ref}}} (expected {', '.join(SCOPES)} or a variable)"


def _claim(doc: Doc, ctx: ItemContext, iid: str | None, node: yaml.Node,
           template: bool = False) -> None:
    if iid is None:
        return
    if iid in ctx.ids:
        first = doc.pos(ctx.ids[iid])
        doc.error(node, f"duplicate id {iid!r} (first used at line {first.line})")
        return
    ctx.ids[iid] = node


def _opt_str(doc: Doc, m: dict[str, tuple[yaml.Node, yaml.Node]], key: str, what: str) -> str:
    if key not in m:
        return ""
    return doc.string(m[key][1], what, allow_empty=True) or ""


def _a(kind: ItemKind) -> str:
    return f"an {kind}" if kind.value[0] in "aeiou" else f"a {kind}"

