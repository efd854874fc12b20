"""Bad variable values for the fuzz test: for each declared variable, values its declaration
refuses (by an oracle written here from the format's rules, not by the code under test),
and names that are no variable at all."""

from __future__ import annotations

import re
from functools import cache

from hypothesis import strategies as st

from runbook.format.loader import load, load_text
from runbook.format.model import Runbook, Variable, VarType
from steps import default_registry
from tests.unit.fuzz_inputs import BUNDLED

TYPES = r"""
runbook: 1
title: Variable types
variables:
  COUNT: {type: int, default: "3"}
  REPLICAS: {type: int}
  ENABLED: {type: bool}
  COLOUR: {type: choice, choices: [red, green, blue]}
  TAG: {pattern: 'v[0-9]+\.[0-9]+\.[0-9]+'}
  TOKEN: {secret: true, pattern: '[A-Za-z0-9]{8,}'}
  NAME: {prompt: Your name}
  NOTE: {required: false}
environments:
  local: {namespace: default}
phases:
  - id: one
    title: One
    sections:
      - id: s
        title: S
        items:
          - {id: look, title: "Look at ${COUNT} ${ENABLED} ${COLOUR} ${TAG} ${NAME} ${NOTE}"}
"""
TRUE_FALSE = ("true", "yes", "1", "on", "false", "no", "0", "off")
BREAKS = ("\n", "\r", "\r\n", "\x00")
INT64 = 2**63


@cache
def var_runbooks() -> dict[str, Runbook]:
    reg = default_registry()
    out = {name: load(BUNDLED[name], reg) for name in ("hello", "deploy", "rollback")}
    out["types"] = load_text(TYPES, "types.yaml", reg)
    return out


def acceptable(var: Variable, value: str) -> bool:
    """The format's rules (runbooks/README.md, variables), written independently."""
    if any(b in value for b in BREAKS):
        return False
    if var.required and value == "":
        return False
    if var.type is VarType.INT:
        s = value.strip()
        if not re.fullmatch(r"-?[0-9]+", s) or abs(int(s)) >= INT64:
            return False
        value = s
    elif var.type is VarType.BOOL:
        if value.strip().lower() not in TRUE_FALSE:
            return False
        value = "true" if value.strip().lower() in TRUE_FALSE[:4] else "false"
    elif var.type is VarType.CHOICE and value not in var.choices:
        return False
    return not var.pattern or re.fullmatch(var.pattern, value) is not None


def _near_misses(var: Variable) -> list[str]:
    """Values that look almost right: the common mistakes."""
    common = ["", " ", "\t", "latest", "v1.2", "1.2.3 ", " v1.2.3", "v1.2.3\n", "١٢", "9" * 30,
              "-" + "9" * 20, "1e3", "0x1F", "1.0", "+-1", "TRUE ", "yess", "Red", "red\x00",
              "a b", "$(reboot)", "${NEW_VERSION}", "'; DROP TABLE x; --", "é" * 40, "\u202e1.2.3"]
    return [v for v in common + [c.upper() for c in var.choices] if not acceptable(var, v)]


@st.composite
def bad_value(draw: st.DrawFn) -> tuple[str, str, str]:
    """(runbook, variable name, value) where the value must be refused, naming the variable."""
    book = draw(st.sampled_from(sorted(var_runbooks())))
    rb = var_runbooks()[book]
    names = [v.name for v in rb.variables]
    name = draw(st.sampled_from([*names, "?"]))
    if name == "?":  # no such variable: any value
        unknown = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,15}", fullmatch=True)
        return book, draw(unknown.filter(lambda n: n not in names)), draw(st.text(max_size=20))
    var = rb.variable(name)
    assert var is not None
    multiline = st.builds(lambda a, b, c: a + b + c, st.text(max_size=10),
                          st.sampled_from(BREAKS), st.text(max_size=10))
    value = draw(st.one_of(
        st.text(max_size=40).filter(lambda v: not acceptable(var, v)),
        st.sampled_from(_near_misses(var)),
        multiline,
    ))
    return book, name, value


@st.composite
def bad_assignment(draw: st.DrawFn) -> str:
    """A `--var` argument that is not NAME=VALUE."""
    return draw(st.one_of(
        st.text(max_size=20).filter(lambda s: "=" not in s),
        st.builds(lambda sp, v: sp + "=" + v, st.sampled_from(["", " ", "  ", "\t"]),
                  st.text(max_size=10)),
    ))
