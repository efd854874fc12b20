"""The runbook model: frozen dataclasses, every node keeps its source position."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Pos:
    """Where a node came from: file, 1-based line and column."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


NOWHERE = Pos("<none>", 0, 0)


class ItemKind(enum.StrEnum):
    CONFIRM = "confirm"  # a person checks it
    CHECK = "check"  # automated, read-only
    ACTION = "action"  # automated, mutating
    CHOICE = "choice"  # one of several branches
    WAIT = "wait"  # a timed watch period
    NOTE = "note"  # information only


class VarType(enum.StrEnum):
    STRING = "string"
    INT = "int"
    BOOL = "bool"
    CHOICE = "choice"


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    type: VarType = VarType.STRING
    pattern: str | None = None
    choices: tuple[str, ...] = ()
    required: bool = True
    default: str | None = None
    prompt: str = ""
    secret: bool = False
    env: str | None = None  # read the value from this environment variable
    pos: Pos = NOWHERE


@dataclass(frozen=True, slots=True)
class Window:
    """A maintenance window: weekdays (0=Monday) and a UTC time range. None = any time."""

    days: tuple[int, ...]
    start_minute: int  # minutes after midnight, in `tz`
    end_minute: int
    tz: str = "UTC"
    pos: Pos = NOWHERE


@dataclass(frozen=True, slots=True)
class Policy:
    window: Window | None = None  # None: any time
    notice_hours: int = 0  # advance notice required for planned maintenance
    notice_s: float = 0.0  # the same, in seconds, as written (`notice: 24h`)
    typed_confirmation: bool = False  # type the env name before the first mutating item
    two_person_all_mutating: bool = False
    two_person_items: tuple[str, ...] = ()
    lock: bool = False  # hold a Kubernetes Lease in the namespace while a real run lives
    pos: Pos = NOWHERE


@dataclass(frozen=True, slots=True)
class Environment:
    name: str
    namespace: str = ""
    context: str = ""
    values: tuple[tuple[str, str], ...] = ()  # per-environment values, ${env.KEY}
    policy: Policy = field(default_factory=Policy)
    production: bool = False
    notify_webhook: str | None = None
    pos: Pos = NOWHERE

    def value(self, key: str) -> str | None:
        for k, v in self.values:
            if k == key:
                return v
        return None


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    port: int | None = None
    health: str | None = None  # health path, e.g. /v1/auth/health
    expect: tuple[tuple[str, str], ...] = ()  # expected JSON body fields
    depends_on: tuple[str, ...] = ()
    infrastructure: bool = False  # not deployed by this runbook (PostgreSQL, Redis, ...)
    migrations: bool = False
    title: str = ""
    pos: Pos = NOWHERE


@dataclass(frozen=True, slots=True)
class Contact:
    role: str
    name: str
    channel: str
    pos: Pos = NOWHERE


@dataclass(frozen=True, slots=True)
class EnvVarSpec:
    """One line of the environment-variable checklist."""

    name: str
    description: str = ""
    services: tuple[str, ...] = ()  # empty: required for all services
    secret: str | None = None  # the Kubernetes Secret that holds it
    config_map: str | None = None  # or the ConfigMap
    sensitive: bool = True
    pos: Pos = NOWHERE


@dataclass(frozen=True, slots=True)
class Option:
    """One branch of a choice item."""

    id: str
    title: str
    help: str = ""
    recommended: bool = False
    items: tuple[Item, ...] = ()
    pos: Pos = NOWHERE


@dataclass(frozen=True, slots=True)
class Condition:
    """When an item applies. All given parts must hold."""

    envs: tuple[str, ...] = ()  # only in these environments
    choice: str | None = None  # only when choice item `choice` ...
    option: str | None = None  # ... chose this option
    pos: Pos = NOWHERE


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    title: str
    kind: ItemKind
    help: str = ""
    required: bool = True
    uses: str | None = None  # step kind name for check/action items
    params: tuple[tuple[str, Any], ...] = ()  # raw (templated) parameters
    timeout_s: float | None = None
    expected: tuple[float, float] | None = None  # expected duration range in seconds
    retries: int = 0
    needs: tuple[str, ...] = ()
    when: Condition | None = None
    options: tuple[Option, ...] = ()  # choice items
    wait_s: float | None = None  # wait items
    two_person: bool = False
    notice: bool = False  # confirms the advance notice of the environment's `notice` policy
    service: str | None = None  # set on items expanded by foreach
    template_id: str | None = None  # the id before foreach expansion
    phase: str = ""
    section: str = ""
    branch: tuple[str, str] | None = None  # (choice item id, option id) for branch items
    pos: Pos = NOWHERE

    @property
    def mutating(self) -> bool:
        return self.kind is ItemKind.ACTION

    @property
    def automated(self) -> bool:
        return self.kind in (ItemKind.CHECK, ItemKind.ACTION)

    def param(self, key: str, default: Any = None) -> Any:
        for k, v in self.params:
            if k == key:
                return v
        return default


@dataclass(frozen=True, slots=True)
class Section:
    id: str
    title: str
    items: tuple[Item, ...]
    expected: tuple[float, float] | None = None
    help: str = ""
    pos: Pos = NOWHERE


@dataclass(frozen=True, slots=True)
class Phase:
    id: str
    title: str
    sections: tuple[Section, ...]
    help: str = ""
    pos: Pos = NOWHERE

    def items(self) -> tuple[Item, ...]:
        """Every item of the phase, branch items included, in document order."""
        out: list[Item] = []
        for section in self.sections:
            for item in section.items:
                out.append(item)
                for option in item.options:
                    out.extend(option.items)
        return tuple(out)


@dataclass(frozen=True, slots=True)
class Runbook:
    path: str
    content_hash: str
    title: str
    version: str
    owners: tuple[str, ...]
    description: str
    variables: tuple[Variable, ...]
    environments: tuple[Environment, ...]
    services: tuple[Service, ...]
    contacts: tuple[Contact, ...]
    env_checklist: tuple[EnvVarSpec, ...]
    phases: tuple[Phase, ...]
    secret_keys: tuple[str, ...] = ()  # names of keys whose values are secrets
    rollback: str | None = None  # path of the rollback runbook, relative to this one
    # the text it was loaded from: a detached step's supervisor loads exactly the same
    source: str = field(default="", repr=False, compare=False)

    def all_items(self) -> tuple[Item, ...]:
        return tuple(i for p in self.phases for i in p.items())

    def item(self, item_id: str) -> Item:
        entry = _INDEXES.get(id(self))
        if entry is None or entry[0] is not self:
            if len(_INDEXES) > 64:
                _INDEXES.clear()
            entry = (self, {i.id: i for i in self.all_items()})
            _INDEXES[id(self)] = entry
        return entry[1][item_id]

    def environment(self, name: str) -> Environment:
        for e in self.environments:
            if e.name == name:
                return e
        raise KeyError(name)

    def variable(self, name: str) -> Variable | None:
        for v in self.variables:
            if v.name == name:
                return v
        return None

    def service(self, name: str) -> Service:
        for s in self.services:
            if s.name == name:
                return s
        raise KeyError(name)

    def expected_total(self) -> tuple[float, float]:
        """Sum of the expected durations of sections (or their items)."""
        lo = hi = 0.0
        for p in self.phases:
            for s in p.sections:
                if s.expected:
                    lo += s.expected[0]
                    hi += s.expected[1]
                    continue
                for i in s.items:
                    if i.expected:
                        lo += i.expected[0]
                        hi += i.expected[1]
        return lo, hi


# item id -> Item, per runbook (kept with the runbook itself so a reused id() never matches)
_INDEXES: dict[int, tuple[Runbook, dict[str, Item]]] = {}
