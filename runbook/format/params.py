"""What a step kind declares, as far as a runbook's text is concerned: its parameters.

The loader checks every `with:` against these declarations before anything runs, and
`runbook schema` describes them; neither needs to know how a step runs. So the
declarations live with the format, and the runtime contract (the context a step gets,
its result, cancelling) stays in `runbook.execute.stepkind`, whose `StepKind` extends
`KindDeclaration` and whose `StepRegistry` is a `KindCatalog`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol


class ParamType(enum.StrEnum):
    STR = "string"
    INT = "integer"
    NUMBER = "number"
    BOOL = "boolean"
    STR_LIST = "string-list"
    DURATION = "duration"  # "30s", "5m", "1h", or a number of seconds
    MAP = "map"  # string -> string


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    type: ParamType = ParamType.STR
    required: bool = False
    default: Any = None
    doc: str = ""
    choices: tuple[str, ...] = ()
    shell_quoted: bool = False  # rendered into a shell script: each value is shell-quoted


class KindDeclaration(Protocol):
    """What a step kind says of itself: its name, its parameters, what it may be used for."""

    name: ClassVar[str]
    doc: ClassVar[str]
    params: ClassVar[tuple[Param, ...]]
    implemented: ClassVar[bool]  # False: runs only in dry run ("would run: ...")
    read_only: ClassVar[bool]  # True: may be used by check items

    def check(self, params: Mapping[str, Any]) -> list[str]:
        """Errors in the combination of parameters (each names the parameter)."""
        ...


class KindCatalog(Protocol):
    """The step kinds a runbook may use, by name (the step registry)."""

    def get(self, name: str) -> KindDeclaration | None: ...

    def names(self) -> list[str]: ...

    def kinds(self) -> Sequence[KindDeclaration]: ...
