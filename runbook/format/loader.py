"""YAML -> model. Validates everything before anything runs.

Errors read `file.yaml:12:5: message`; all of them are collected and raised
together as `LoadFailed`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from pathlib import Path

import yaml

from runbook.format.loader_items import ItemContext, parse_phases
from runbook.format.loader_meta import (
    parse_checklist,
    parse_contacts,
    parse_environments,
    parse_services,
    parse_variables,
)
from runbook.format.model import ItemKind, Phase, Pos, Runbook
from runbook.format.params import KindCatalog
from runbook.format.yamlnodes import Doc, LoadError, LoadFailed, suggest

TOP_KEYS = (
    "runbook", "title", "version", "owners", "description", "variables", "environments",
    "services", "contacts", "env_checklist", "secret_keys", "rollback", "phases",
)
FORMAT_VERSION = 1

__all__ = ["LoadError", "LoadFailed", "load", "load_text"]


def load(path: str | Path, registry: KindCatalog) -> Runbook:
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise LoadFailed([LoadError(_pos0(str(path)), f"cannot read: {e.strerror}")]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        before = data[:e.start].decode("utf-8", "replace")
        line = before.count("\n") + 1
        col = len(before) - (before.rfind("\n") + 1) + 1
        raise LoadFailed([LoadError(Pos(str(path), line, col), f"not UTF-8 text: byte "
                                    f"0x{data[e.start]:02x} at offset {e.start}")]) from None
    return load_text(text, str(path), registry)


def load_text(text: str, path: str, registry: KindCatalog) -> Runbook:
    # (surrogatepass: a lone surrogate, which no file decodes to, is refused below, located)
    content_hash = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return replace(_load_text(text, path, content_hash, registry), source=text)


def _load_text(text: str, path: str, content_hash: str, registry: KindCatalog) -> Runbook:
    # libyaml (C) composes ~10x faster; any problem is re-read by the Python parser so
    # the located message is the same whichever parser is installed
    rb, c_error, c_errors = _fast(text, path, content_hash, registry)
    if rb is not None:
        return rb
    if c_error is not None and "nesting depth" in str(c_error.problem):
        raise LoadFailed([_syntax_error(path, text, c_error)])  # Python's parser would recurse
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as e:  # a character YAML does not allow, anywhere
        raise LoadFailed([_reader_error(path, text, e)]) from None
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as e:
        raise LoadFailed([_syntax_error(path, text, e)]) from None
    except yaml.YAMLError as e:
        raise LoadFailed([LoadError(_pos0(path), "YAML: " + " ".join(str(e).split()))]) from None
    except RecursionError:  # nested deeper than Python's parser can follow
        raise LoadFailed(c_errors or [LoadError(_pos0(path), "YAML syntax: nested too deeply")]) \
            from None
    finally:
        loader.dispose()
    doc = Doc(path, loader)
    if root is None:
        raise LoadFailed([LoadError(_pos0(path), "empty file: a runbook needs title and phases")])
    rb = _parse(doc, root, content_hash, registry)
    if doc.errors or rb is None:
        raise LoadFailed(doc.errors)
    return rb


def _fast(text: str, path: str, content_hash: str, registry: KindCatalog) \
        -> tuple[Runbook | None, yaml.MarkedYAMLError | None, list[LoadError]]:
    """The runbook read with libyaml when it has no problem at all; else the C parser's
    syntax error or the errors found, for when the Python parser cannot say better."""
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is None:
        return None, None, []
    c_loader = None
    try:
        c_loader = fast(text)
        root = c_loader.get_single_node()
    except yaml.YAMLError as e:
        if c_loader is not None:
            c_loader.dispose()
        return None, e if isinstance(e, yaml.MarkedYAMLError) else None, []
    c_loader.dispose()
    doc = Doc(path, c_loader)
    return _parse_checked(doc, root, content_hash, registry), None, doc.errors


def _parse_checked(doc: Doc, root: yaml.Node | None, content_hash: str,
                   registry: KindCatalog) -> Runbook | None:
    """The runbook when the fast parse finds no problem at all; else None (read again)."""
    if root is None:
        return None
    try:
        rb = _parse(doc, root, content_hash, registry)
    except yaml.YAMLError:
        return None
    return rb if rb is not None and not doc.errors else None


def _parse(doc: Doc, root: yaml.Node, content_hash: str, registry: KindCatalog) -> Runbook | None:
    if not doc.check_tree(root):
        return None
    m = doc.mapping(root, "runbook", TOP_KEYS, ("title", "phases"))
    if m is None:
        return None
    if "runbook" in m:
        fmt = doc.integer(m["runbook"][1], "runbook (format version)")
        if fmt is not None and fmt != FORMAT_VERSION:
            doc.error(m["runbook"][1], f"unsupported format version {fmt} (this tool reads "
                                       f"version {FORMAT_VERSION})")
    title = doc.string(m["title"][1], "title") if "title" in m else None
    version = (doc.string(m["version"][1], "version") or "") if "version" in m else ""
    owners = tuple(s for s, _ in doc.strings(m["owners"][1], "owners")) if "owners" in m else ()
    desc = (doc.string(m["description"][1], "description", True) or "") if "description" in m else ""
    variables = parse_variables(doc, m["variables"][1]) if "variables" in m else []
    envs = parse_environments(doc, m["environments"][1]) if "environments" in m else []
    services = parse_services(doc, m["services"][1]) if "services" in m else []
    contacts = parse_contacts(doc, m["contacts"][1]) if "contacts" in m else []
    checklist = parse_checklist(doc, m["env_checklist"][1], services) if "env_checklist" in m else []
    secret_keys = tuple(s for s, _ in doc.strings(m["secret_keys"][1], "secret_keys")) \
        if "secret_keys" in m else ()
    rollback = None
    if "rollback" in m:
        rollback = doc.string(m["rollback"][1], "rollback")
        if rollback and not _is_file(Path(doc.path).parent, rollback):
            shown = repr(rollback) if len(rollback) <= 80 else repr(rollback[:77] + "...")
            doc.error(m["rollback"][1], f"rollback runbook {shown} not found next to this file")
    env_keys: set[str] = set.intersection(*[{k for k, _ in e.values} for e in envs]) if envs else set()
    ctx = ItemContext(
        registry=registry,
        variables={v.name for v in variables},
        env_keys=env_keys,
        env_values={e.name: {k for k, _ in e.values} for e in envs},
        env_names={e.name for e in envs},
        services=services,
    )
    phases = parse_phases(doc, m["phases"][1], ctx) if "phases" in m else []
    _cross_check(doc, phases, ctx)
    for e in envs:
        for name in e.policy.two_person_items:
            if name not in ctx.ids:
                doc.error(e.policy.pos, f"two_person names unknown item {name!r}")
    if not envs and "environments" not in m:
        doc.error(root, "runbook is missing required key 'environments'")
    if title is None:
        return None
    return Runbook(
        path=doc.path, content_hash=content_hash, title=title, version=version, owners=owners,
        description=desc, variables=tuple(variables), environments=tuple(envs),
        services=tuple(services), contacts=tuple(contacts), env_checklist=tuple(checklist),
        phases=tuple(phases), secret_keys=secret_keys, rollback=rollback,
    )


def _cross_check(doc: Doc, phases: list[Phase], ctx: ItemContext) -> None:
    """References between items: needs, when.choice, cycles, phase order."""
    phase_of: dict[str, int] = {}
    items = {}
    for n, p in enumerate(phases):
        for it in p.items():
            items[it.id] = it
            phase_of[it.id] = n
            if it.template_id:
                phase_of.setdefault(it.template_id, n)
    graph: dict[str, list[str]] = {}
    for iid, it in items.items():
        deps: list[str] = []
        node = ctx.needs_nodes.get(it.template_id or iid)
        for need in it.needs:
            if need in ctx.templates:  # a foreach item: all of its expansions
                targets = [t for t in ctx.templates[need] if t in items]
                if not targets:
                    continue  # it expanded to nothing (no services, or errors reported there)
            elif need in items:
                targets = [need]
            else:
                known = sorted({i.template_id or i.id for i in items.values()} - {need})
                doc.error(node or it.pos, f"needs unknown item {need!r}"
                                          f"{suggest(need, known or ['(none)'])}")
                continue
            if phase_of[need] > phase_of[iid] and node is not None:
                doc.error(node, f"needs {need!r}, which comes in a later phase")
            deps.extend(targets)
        graph[iid] = deps
        if it.when and it.when.choice:
            wnode = ctx.when_nodes.get(it.template_id or iid)
            choice = items.get(it.when.choice)
            if choice is None or choice.kind is not ItemKind.CHOICE:
                if wnode is not None:
                    doc.error(wnode, f"when.choice {it.when.choice!r} is not a choice item")
            elif it.when.option not in {o.id for o in choice.options} and wnode is not None:
                doc.error(wnode, f"choice {choice.id!r} has no option {it.when.option!r}")
    _cycles(doc, graph, ctx)


def _cycles(doc: Doc, graph: dict[str, list[str]], ctx: ItemContext) -> None:
    state: dict[str, int] = {}
    reported: set[str] = set()

    def visit(n: str, path: list[str]) -> None:
        state[n] = 1
        for d in graph.get(n, []):
            if state.get(d) == 1:
                cyc = [*path[path.index(d):], d] if d in path else [n, d]
                key = min(cyc)
                if key not in reported:
                    reported.add(key)
                    # located at the first item of the cycle as shown (it needs the next)
                    node = ctx.needs_nodes.get(re.sub(r"\[.*\]$", "", cyc[0])) \
                        or ctx.needs_nodes.get(re.sub(r"\[.*\]$", "", n))
                    if node is not None:
                        doc.error(node, "dependency cycle: " + " -> ".join(cyc))
            elif state.get(d) is None:
                visit(d, [*path, d])
        state[n] = 2

    for n in graph:
        if n not in state:
            visit(n, [n])


def _syntax_error(path: str, text: str, e: yaml.MarkedYAMLError) -> LoadError:
    mark = e.problem_mark or e.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = (e.problem or e.context or "invalid YAML").strip()
    if mark is not None and text[mark.index:mark.index + 1] == "\t":
        problem = "tab character; indent with spaces, not tabs"
    elif e.context and e.context_mark and e.problem_mark \
            and e.context_mark.line != e.problem_mark.line:
        problem += f" ({e.context} that starts at line {e.context_mark.line + 1})"
    return LoadError(Pos(path, line, col), f"YAML syntax: {problem}")


def _reader_error(path: str, text: str, e: yaml.reader.ReaderError) -> LoadError:
    before = text[:e.position]
    line = before.count("\n") + 1
    col = e.position - (before.rfind("\n") + 1) + 1
    char = e.character if isinstance(e.character, str) else chr(e.character)
    return LoadError(Pos(path, line, col), f"character U+{ord(char):04X} is not allowed in "
                                           "YAML (a control or non-character code point)")


def _is_file(folder: Path, name: str) -> bool:
    try:
        return (folder / name).is_file()
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte
        return False


def _pos0(path: str) -> Pos:
    return Pos(path, 1, 1)
