"""Reading YAML nodes with their positions, collecting located errors.

Every helper records a `file:line:col: message` error and returns None rather
than raising, so a whole document is checked in one pass and every problem is
reported at once.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from runbook.format.durations import DurationError, parse_duration, parse_range
from runbook.format.model import Pos

TAG = "tag:yaml.org,2002:"
ID_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
MAX_INT = 2**53 - 1  # beyond this a number loses precision in JSON (journal, report)
MAX_DURATION = 366 * 24 * 3600.0  # a year: anything longer is a mistake
MAX_DEPTH = 64  # a runbook nests about 15 levels; far deeper is garbage (and recursion)


@dataclass(frozen=True, slots=True, order=True)
class LoadError:
    pos: Pos
    message: str

    def __str__(self) -> str:
        return f"{self.pos}: {self.message}"


class LoadFailed(Exception):
    def __init__(self, errors: list[LoadError]) -> None:
        self.errors = sorted(errors, key=lambda e: (e.pos.file, e.pos.line, e.pos.col))
        super().__init__("\n".join(str(e) for e in self.errors))


class Doc:
    """One YAML file being read: its nodes, positions and the errors found."""

    def __init__(self, path: str, loader: yaml.SafeLoader) -> None:
        self.path = path
        self._loader = loader
        self.errors: list[LoadError] = []
        self._unreadable: set[int] = set()  # ids of nodes whose value could not be built

    def pos(self, node: yaml.Node) -> Pos:
        m = node.start_mark
        return Pos(self.path, m.line + 1, m.column + 1)

    def error(self, node: yaml.Node | Pos, message: str) -> None:
        if not isinstance(node, Pos) and id(node) in self._unreadable:
            return  # already reported: its value could not be read at all
        pos = node if isinstance(node, Pos) else self.pos(node)
        self.errors.append(LoadError(pos, message))

    def check_tree(self, root: yaml.Node) -> bool:
        """Report unknown tags (wherever they are) and absurd nesting; False if too deep."""
        known = type(self._loader).yaml_constructors
        seen: set[int] = set()
        stack: list[tuple[yaml.Node, int]] = [(root, 1)]
        while stack:
            node, depth = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            if depth > MAX_DEPTH:
                self.error(node, f"nested more than {MAX_DEPTH} levels deep")
                return False
            if node.tag not in known and node.tag not in (TAG + "merge", TAG + "value"):
                self.error(node, "cannot read this value: could not determine a constructor "
                                 f"for the tag {node.tag!r}")
                self._unreadable.add(id(node))
            if isinstance(node, yaml.SequenceNode):
                stack.extend((n, depth + 1) for n in node.value)
            elif isinstance(node, yaml.MappingNode):
                stack.extend((n, depth + 1) for kv in node.value for n in kv)
        return True

    # -- structure -------------------------------------------------------
    def mapping(
        self,
        node: yaml.Node,
        what: str,
        allowed: tuple[str, ...] | None = None,
        required: tuple[str, ...] = (),
    ) -> dict[str, tuple[yaml.Node, yaml.Node]] | None:
        """The keys of a mapping node -> (key node, value node), checked."""
        if not isinstance(node, yaml.MappingNode):
            self.error(node, f"{what} must be a mapping, not {describe(node)}")
            return None
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for knode, vnode in node.value:
            if not isinstance(knode, yaml.ScalarNode):
                self.error(knode, f"{what}: keys must be plain strings")
                continue
            key = str(knode.value)
            if key in out:
                first = self.pos(out[key][0])
                self.error(knode, f"duplicate key {key!r} in {what} (first at line {first.line})")
                continue
            if allowed is not None and key not in allowed:
                self.error(knode, f"unknown key {key!r} in {what}{suggest(key, allowed)}")
                continue
            out[key] = (knode, vnode)
        for key in required:
            if key not in out:
                self.error(node, f"{what} is missing required key {key!r}")
        return out

    def sequence(self, node: yaml.Node, what: str) -> list[yaml.Node] | None:
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, f"{what} must be a list, not {describe(node)}")
            return None
        return list(node.value)

    # -- scalars ---------------------------------------------------------
    def value(self, node: yaml.Node) -> Any:
        """The Python value of a node; None (and one error) if it cannot be built."""
        if id(node) in self._unreadable:
            return None
        try:
            return self._loader.construct_object(node, deep=True)
        except Exception as e:
            # an unknown tag (`!fancy x`), an alias that contains itself, or an explicit
            # tag its text does not fit (`!!int many` raises ValueError inside PyYAML)
            if isinstance(e, yaml.YAMLError):
                problem = getattr(e, "problem", None) or str(e)
            else:
                problem = f"{node.value!r} is not a valid {node.tag.replace(TAG, '!!')}"
            if "recursive" in problem:
                problem = "a value cannot contain itself (recursive alias)"
            self.error(node, f"cannot read this value: {problem}")
            self._unreadable.add(id(node))
            # the constructor keeps half-built state after a failure: reset it
            self._loader.recursive_objects = {}
            self._loader.state_generators = []
            self._loader.deep_construct = False
            return None

    def string(self, node: yaml.Node, what: str, allow_empty: bool = False) -> str | None:
        if not isinstance(node, yaml.ScalarNode) or node.tag == "tag:yaml.org,2002:null":
            self.error(node, f"{what} must be a string, not {describe(node)}")
            return None
        v = self.value(node)
        if isinstance(v, bool):
            self.error(node, f"{what} must be a string, not a boolean (quote it)")
            return None
        s = str(v)
        if not s.strip() and not allow_empty:
            self.error(node, f"{what} must not be empty")
            return None
        return s

    def boolean(self, node: yaml.Node, what: str) -> bool | None:
        v = self.value(node) if isinstance(node, yaml.ScalarNode) else None
        if not isinstance(v, bool):
            self.error(node, f"{what} must be true or false, not {describe(node)}")
            return None
        return v

    def integer(self, node: yaml.Node, what: str, minimum: int = 0,
                maximum: int = MAX_INT) -> int | None:
        v = self.value(node) if isinstance(node, yaml.ScalarNode) else None
        if not isinstance(v, int) or isinstance(v, bool):
            self.error(node, f"{what} must be a whole number, not {describe(node)}")
            return None
        if v < minimum:
            self.error(node, f"{what} must be at least {minimum}, not {_short(v)}")
            return None
        if v > maximum:
            self.error(node, f"{what} must be at most {maximum}, not {_short(v)}")
            return None
        return v

    def duration(self, node: yaml.Node, what: str) -> float | None:
        """Seconds: a number, or text like 30s, 15m, 1h30m; finite, at most a year."""
        raw = self.value(node) if isinstance(node, yaml.ScalarNode) else None
        if not isinstance(raw, str | int | float) or isinstance(raw, bool):
            self.error(node, f"{what} must be a duration such as 30s, 15m or 1h30m, "
                             f"not {describe(node)}")
            return None
        try:
            return _bounded(parse_duration(_finite(raw)), raw)
        except DurationError as e:
            self.error(node, f"{what}: {e}")
            return None

    def expected(self, node: yaml.Node) -> tuple[float, float] | None:
        """An expected duration: 15m, or a range such as 10-30m."""
        raw = self.value(node) if isinstance(node, yaml.ScalarNode) else None
        if not isinstance(raw, str | int | float) or isinstance(raw, bool):
            self.error(node, f"expected must be a duration or a range such as 10-30m, "
                             f"not {describe(node)}")
            return None
        try:
            lo, hi = parse_range(_finite(raw))
            return _bounded(lo, raw), _bounded(hi, raw)
        except DurationError as e:
            self.error(node, f"expected: {e}")
            return None

    def strings(self, node: yaml.Node, what: str) -> list[tuple[str, yaml.Node]]:
        """A list of strings (a single string is taken as a list of one)."""
        if isinstance(node, yaml.ScalarNode):
            s = self.string(node, what)
            return [(s, node)] if s is not None else []
        items = self.sequence(node, what)
        out: list[tuple[str, yaml.Node]] = []
        for n in items or []:
            s = self.string(n, f"each entry of {what}")
            if s is not None:
                out.append((s, n))
        return out

    def ident(self, node: yaml.Node, what: str) -> str | None:
        s = self.string(node, what)
        if s is not None and not ID_RE.match(s):
            self.error(node, f"{what} {s!r} must be lower-case letters, digits, '-', '_' or '.'")
            return None
        return s


def _short(n: int | str) -> str:
    s = str(n)
    if len(s) <= 24:
        return s
    return f"{s[:12]}... ({len(s)} digits)" if s.isdigit() else f"{s[:20]!r}..."


def _finite(raw: str | int | float) -> str | int | float:
    if isinstance(raw, float) and not math.isfinite(raw):
        raise DurationError(f"not a duration: {raw}")
    if isinstance(raw, int) and raw > MAX_DURATION:
        raise DurationError(f"{_short(raw)} seconds is longer than a year")
    return raw


def _bounded(seconds: float, raw: str | int | float) -> float:
    if not math.isfinite(seconds) or seconds > MAX_DURATION:
        shown = repr(raw) if len(str(raw)) <= 24 else _short(str(raw))
        raise DurationError(f"{shown} is longer than a year")
    return seconds


def describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    tag = node.tag.rsplit(":", 1)[-1]
    if tag == "null":
        return "empty"
    shown = str(node.value)
    shown = shown if len(shown) <= 30 else shown[:27] + "..."
    return {"str": f"the string {shown!r}"}.get(tag, f"{tag} {shown}")


def suggest(word: str, choices: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f" (expected one of: {', '.join(sorted(choices))})"


def walk_scalars(node: yaml.Node, _seen: set[int] | None = None) -> Iterator[yaml.ScalarNode]:
    seen = set() if _seen is None else _seen
    if id(node) in seen:  # an alias may refer back to its own parent
        return
    seen.add(id(node))
    if isinstance(node, yaml.ScalarNode):
        yield node
    elif isinstance(node, yaml.SequenceNode):
        for n in node.value:
            yield from walk_scalars(n, seen)
    elif isinstance(node, yaml.MappingNode):
        for _, v in node.value:
            yield from walk_scalars(v, seen)
