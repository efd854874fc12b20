"""Runbook variables: checking values against their declaration, resolving them for a run."""

from __future__ import annotations

import re
from collections.abc import Mapping

from runbook.format.model import Runbook, Variable, VarType

TRUE = ("true", "yes", "1", "on")
FALSE = ("false", "no", "0", "off")


INT64 = 2**63


class VariableError(ValueError):
    """A bad value; the message names the variable."""


def _short(value: str) -> str:
    return repr(value) if len(value) <= 60 else repr(value[:57] + "...")


def check_value(var: Variable, value: str) -> str:
    """The value, normalised, or VariableError saying why it is refused."""
    shown = "(secret value)" if var.secret else _short(value)
    if any(c in value for c in "\n\r\x00"):
        raise VariableError(f"{var.name}: value must be one line")
    if var.required and not value:
        raise VariableError(f"{var.name}: a value is required (it is empty)")
    if var.type is VarType.INT:
        if not re.fullmatch(r"-?[0-9]+", value.strip()):
            raise VariableError(f"{var.name}: {shown} is not a whole number")
        value = value.strip()
        if abs(int(value[:30])) >= INT64:
            raise VariableError(f"{var.name}: {shown} is too large (at most {INT64 - 1})")
    elif var.type is VarType.BOOL:
        low = value.strip().lower()
        if low not in TRUE + FALSE:
            raise VariableError(f"{var.name}: {shown} is not true or false")
        value = "true" if low in TRUE else "false"
    elif var.type is VarType.CHOICE and value not in var.choices:
        raise VariableError(f"{var.name}: {shown} is not one of {', '.join(var.choices)}")
    if var.pattern and not re.fullmatch(var.pattern, value):
        raise VariableError(f"{var.name}: {shown} does not match pattern {var.pattern}")
    return value


def resolve(
    runbook: Runbook, given: Mapping[str, str], environ: Mapping[str, str]
) -> tuple[dict[str, str], list[str], list[str]]:
    """Values for every variable: given, then from its `env`, then its default.

    Returns (values, errors, missing): errors name the variable; missing are
    required variables with no value (a form or prompt may ask for them).
    """
    values: dict[str, str] = {}
    errors: list[str] = []
    missing: list[str] = []
    known = {v.name for v in runbook.variables}
    for name in given:
        if name not in known:
            errors.append(f"{name}: not a variable of this runbook "
                          f"(known: {', '.join(sorted(known)) or 'none'})")
    for var in runbook.variables:
        raw = given.get(var.name)
        if raw is None and var.env:
            raw = environ.get(var.env) or None  # set but empty: as if unset
        if raw is None:
            raw = var.default
        if raw is None:
            if var.required:
                missing.append(var.name)
            continue
        try:
            values[var.name] = check_value(var, raw)
        except VariableError as e:
            errors.append(str(e))
    return values, errors, missing


def parse_assignments(pairs: list[str]) -> tuple[dict[str, str], list[str]]:
    """`K=V` strings from the command line."""
    out: dict[str, str] = {}
    errors: list[str] = []
    for p in pairs:
        k, sep, v = p.partition("=")
        if not sep or not k.strip():
            errors.append(f"--var {_short(p.split('=')[0])}: expected NAME=VALUE")
            continue
        out[k.strip()] = v
    return out, errors
