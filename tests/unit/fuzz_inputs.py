"""Malformed runbooks for the fuzz test: the bundled runbooks, ready to be mutated.

A mutation (`fuzz_structural.py`, `fuzz_text.py`) takes a `Pick` (where its choices come
from: a hypothesis `draw`, or a seeded `random.Random` for the CLI sample) and a `Base`
(one bundled runbook: its text and its parsed data), and returns a `Case`: the bad file
(text, or bytes for binary garbage) and what was done to it. Every mutation is chosen so
that the result cannot be a valid runbook (a deleted *required* key, an *unknown* key, a
value of a type the key never takes, ...), so the test can demand an error for every one.

Structural mutations edit the parsed data and dump it again; syntactic ones (duplicate
key lines, indentation, tabs, truncation, binary garbage) edit the original text. This
module holds what both need: the bases, with the positions the text mutations aim at.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol, TypeVar

import yaml

from tests.unit.fuzz_schema import role_of

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = {
    "hello": ROOT / "runbooks" / "examples" / "hello.yaml",
    "deploy": ROOT / "runbooks" / "creatorbridge-deploy.yaml",
    "rollback": ROOT / "runbooks" / "creatorbridge-rollback.yaml",
}
NULL = "tag:yaml.org,2002:null"
T = TypeVar("T")
Path_ = tuple[Any, ...]


class Pick(Protocol):
    def index(self, n: int) -> int: ...


def one(pick: Pick, seq: Sequence[T]) -> T:
    return seq[pick.index(len(seq))]


class RandomPick:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def index(self, n: int) -> int:
        return self.rng.randrange(n)


@dataclass(frozen=True)
class Case:
    base: str
    what: str
    text: str | None = None
    data: bytes | None = None

    def content(self) -> bytes:
        return self.data if self.data is not None else (self.text or "").encode("utf-8")


@dataclass(frozen=True)
class Base:
    name: str
    path: Path
    text: str
    tree: Any
    mappings: tuple[tuple[Path_, str], ...]  # (path, role) of every mapping with a known role
    key_lines: tuple[int, ...]  # 0-based lines holding a block-mapping key (not `- key:`)
    flow_spans: tuple[tuple[int, int], ...]  # [start, end) of flow collections
    quoted_spans: tuple[tuple[int, int], ...]  # [start, end) of quoted scalars
    scalar_values: tuple[int, ...]  # offsets of plain scalar values on their key's line
    phases_end: int  # offset just past the `phases:` key


@cache
def base(name: str) -> Base:
    path = BUNDLED[name]
    text = path.read_text(encoding="utf-8")
    tree = yaml.safe_load(text)
    mappings: list[tuple[Path_, str]] = []
    _walk(tree, (), mappings)
    key_lines, flows, quoted, scalars = _spans(text)
    return Base(name, path, text, tree, tuple(mappings), key_lines, flows, quoted, scalars,
                text.index("\nphases:") + len("\nphases:"))


def _walk(node: Any, path: Path_, out: list[tuple[Path_, str]]) -> None:
    if isinstance(node, dict):
        role = role_of(path)
        if role is not None:
            out.append((path, role))
        for k, v in node.items():
            _walk(v, (*path, k), out)
    elif isinstance(node, list):
        for n, v in enumerate(node):
            _walk(v, (*path, n), out)


Spans = tuple[tuple[int, int], ...]


def _spans(text: str) -> tuple[tuple[int, ...], Spans, Spans, tuple[int, ...]]:
    lines = text.splitlines()
    keys: set[int] = set()
    flows: list[tuple[int, int]] = []
    quoted: list[tuple[int, int]] = []
    scalars: list[int] = []

    def visit(n: yaml.Node) -> None:
        if isinstance(n, yaml.MappingNode):
            if n.flow_style:
                flows.append((n.start_mark.index, n.end_mark.index))
            for k, v in n.value:
                line = lines[k.start_mark.line]
                if not n.flow_style and not line.lstrip().startswith("- "):
                    keys.add(k.start_mark.line)
                if isinstance(v, yaml.ScalarNode) and v.style is None and v.tag != NULL \
                        and v.start_mark.line == k.start_mark.line:
                    scalars.append(v.start_mark.index)
                visit(v)
        elif isinstance(n, yaml.SequenceNode):
            if n.flow_style:
                flows.append((n.start_mark.index, n.end_mark.index))
            for v in n.value:
                visit(v)
        elif isinstance(n, yaml.ScalarNode) and n.style in ("'", '"'):
            quoted.append((n.start_mark.index, n.end_mark.index))

    visit(yaml.compose(text, Loader=yaml.SafeLoader))
    return tuple(sorted(keys)), tuple(flows), tuple(quoted), tuple(scalars)


def dump(tree: Any) -> str:
    return yaml.dump(tree, Dumper=yaml.CSafeDumper, sort_keys=False, allow_unicode=True,
                     width=10**6)


def update(tree: Any, path: Path_, fn: Callable[[Any], Any]) -> Any:
    """A copy of `tree` with the node at `path` replaced by fn(node); copies only the path."""
    if not path:
        return fn(tree)
    head, rest = path[0], path[1:]
    if isinstance(tree, dict):
        return {**tree, head: update(tree.get(head), rest, fn)}
    copy = list(tree)
    copy[head] = update(tree[head], rest, fn)
    return copy


def get(tree: Any, path: Path_) -> Any:
    for p in path:
        tree = tree[p]
    return tree
