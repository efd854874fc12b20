"""Variable values from the command line, the environment or a prompt: a table of values
each declaration refuses (with the one-line message naming the variable) or accepts."""

from __future__ import annotations

import pytest

from runbook.format.model import Variable, VarType
from runbook.format.variables import VariableError, check_value, parse_assignments, resolve
from tests.unit.fuzz_values import var_runbooks

NAME = Variable("NAME")
NOTE = Variable("NOTE", required=False)
COUNT = Variable("COUNT", VarType.INT)
FLAG = Variable("FLAG", VarType.BOOL)
TOKEN = Variable("TOKEN", pattern="[A-Za-z0-9]{8,}", secret=True)

REFUSED = [
    pytest.param(NAME, "", "NAME: a value is required (it is empty)", id="required-empty"),
    pytest.param(NAME, "a\rb", "NAME: value must be one line", id="carriage-return"),
    pytest.param(NOTE, "a\nb", "NOTE: value must be one line", id="newline"),
    pytest.param(COUNT, "١٢", "COUNT: '١٢' is not a whole number", id="int-non-ascii-digits"),
    pytest.param(COUNT, "9" * 25, f"COUNT: '{'9' * 25}' is too large (at most {2**63 - 1})",
                 id="int-too-large"),
    pytest.param(COUNT, "-" + "9" * 5000, f"COUNT: '-{'9' * 56}...' is too large "
                                          f"(at most {2**63 - 1})", id="int-thousands-of-digits"),
    pytest.param(FLAG, "", "FLAG: a value is required (it is empty)", id="bool-empty"),
    pytest.param(TOKEN, "short", "TOKEN: (secret value) does not match pattern [A-Za-z0-9]{8,}",
                 id="secret-not-shown"),
]


@pytest.mark.parametrize(("var", "value", "message"), REFUSED)
def test_refused(var: Variable, value: str, message: str) -> None:
    with pytest.raises(VariableError) as exc:
        check_value(var, value)
    assert str(exc.value) == message


@pytest.mark.parametrize(("var", "value", "normal"), [
    (NOTE, "", ""), (COUNT, " -5 ", "-5"), (COUNT, str(2**63 - 1), str(2**63 - 1)),
    (FLAG, "Yes", "true"), (FLAG, "off", "false"), (NAME, "  spaced  ", "  spaced  "),
])
def test_accepted(var: Variable, value: str, normal: str) -> None:
    assert check_value(var, value) == normal


@pytest.mark.parametrize("pair", ["=x", " =x", "\t=x", "NAME", ""])
def test_assignment_without_a_name(pair: str) -> None:
    values, errors = parse_assignments([pair])
    assert values == {} and len(errors) == 1 and errors[0].endswith(": expected NAME=VALUE")


def test_an_empty_environment_variable_counts_as_unset() -> None:
    rb = var_runbooks()["deploy"]
    from dataclasses import replace
    rb = replace(rb, variables=tuple(replace(v, env="NEW_VERSION_ENV") if v.name == "NEW_VERSION"
                                     else v for v in rb.variables))
    values, errors, missing = resolve(rb, {}, {"NEW_VERSION_ENV": ""})
    assert "NEW_VERSION" in missing and not errors
    values, errors, missing = resolve(rb, {}, {"NEW_VERSION_ENV": "v1.2.3"})
    assert values["NEW_VERSION"] == "v1.2.3" and not errors and not missing
