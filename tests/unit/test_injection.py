"""No shell injection through variables: values reach commands as literal text.

Hostile values are run through real `shell` items (argv, and scripts with the
reference unquoted, in double quotes, in single quotes, in a here-document, in
a command substitution, through an environment variable). The working
directory and HOME are tmp_path, so even a successful injection could only
touch files there; the tests check that none was created and that the value
shows up verbatim in the item's log.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runbook.format.loader import load_text
from runbook.format.model import Runbook
from runbook.format.template import TemplateError, render_script
from runbook.format.variables import resolve
from runbook.journal.sqlite import Journal
from runbook.rules.events import Ev
from runbook.session.operator import Operator
from runbook.session.run import Run
from steps import default_registry

pytestmark = pytest.mark.timeout(60)

REG = default_registry()
OPERATOR = Operator("tester", "host", "")

HOSTILE = [
    pytest.param("$(touch pwned); rm -rf ~", id="command-substitution"),
    pytest.param("`touch pwned`", id="backticks"),
    pytest.param("; touch pwned", id="semicolon"),
    pytest.param("$HOME", id="dollar-home"),
    pytest.param("${HOME}", id="braced-home"),
    pytest.param("x' ; touch pwned; echo '", id="single-quote-breakout"),
    pytest.param('x" ; touch pwned; echo "', id="double-quote-breakout"),
    pytest.param('\\"; touch pwned #', id="backslash-quote"),
    pytest.param("a && touch pwned || touch pwned > pwned", id="operators-and-redirect"),
    pytest.param("*", id="glob"),
    pytest.param("  two  spaces  ", id="spaces"),
]

# (item id, `with` of a shell item, the line the item must print)
ITEMS: list[tuple[str, dict[str, Any], str]] = [
    ("argv", {"argv": ["printf", "%s\\n", "${VALUE}"]}, "{v}"),
    ("argv-embedded", {"argv": ["printf", "%s\\n", "value=${VALUE}"]}, "value={v}"),
    ("script-bare", {"script": "printf '%s\\n' ${VALUE}"}, "{v}"),
    ("script-double", {"script": "printf '%s\\n' \"value=${VALUE}\""}, "value={v}"),
    ("script-single", {"script": "printf '%s\\n' 'value=${VALUE}'"}, "value={v}"),
    ("script-subst", {"script": "printf '%s\\n' \"$(printf '%s' \"${VALUE}\")\""}, "{v}"),
    ("script-heredoc", {"script": "cat <<EOF\n${VALUE}\nEOF"}, "{v}"),
    ("script-env", {"script": "printf '%s\\n' \"$RB_VALUE\"", "env": {"RB_VALUE": "${VALUE}"}},
     "{v}"),
]


def runbook_text(work: Path) -> str:
    items = []
    for iid, params, _ in ITEMS:
        with_ = {**params, "cwd": str(work)}
        with_["env"] = {**params.get("env", {}), "HOME": str(work / "home")}
        items.append({"id": iid, "kind": "check", "title": iid, "uses": "shell", "with": with_})
    lines = "".join(f"          - {json.dumps(i)}\n" for i in items)
    return (
        "runbook: 1\ntitle: Injection\n"
        "variables:\n"
        "  VALUE: {type: string}\n"
        "  TAG: {pattern: '[a-z0-9.-]+', default: v1}\n"
        "  TOKEN: {pattern: '[A-Za-z0-9]{8,}', secret: true, required: false}\n"
        "  COUNT: {type: int, default: '1'}\n"
        "environments:\n  local: {namespace: default}\n"
        "phases:\n  - id: p\n    title: P\n    sections:\n      - id: s\n        title: S\n"
        f"        items:\n{lines}"
    )


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "keep.txt").write_text("still here\n")
    return tmp_path


@pytest.fixture
def rb(work: Path) -> Runbook:
    return load_text(runbook_text(work), str(work / "injection.yaml"), REG)


def start(work: Path, rb: Runbook, given: dict[str, str]) -> tuple[Journal, Run]:
    values, errors, missing = resolve(rb, given, {})
    assert errors == [] and missing == []
    journal = Journal(work / "state" / "journal.db")
    return journal, Run.start(journal, rb, "local", values, REG, OPERATOR, dry_run=False)


def assert_nothing_injected(work: Path) -> None:
    made = sorted(p.name for p in work.iterdir())
    assert made == ["home", "injection.yaml", "state"] or made == ["home", "state"], made
    assert (work / "home" / "keep.txt").read_text() == "still here\n"


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_value_stays_literal(work: Path, rb: Runbook, value: str) -> None:
    journal, run = start(work, rb, {"VALUE": value})
    try:
        for iid, _, expected in ITEMS:
            result = run.execute(iid)
            assert result.outcome == "passed", (iid, result.message)
            ev = [e for e in journal.events(run.meta.id)
                  if e.kind is Ev.ITEM_RESULT and e.item == iid][-1]
            log = Path(ev.data["log"]).read_text(encoding="utf-8").splitlines()
            assert log == [expected.format(v=value)], iid
        assert_nothing_injected(work)
    finally:
        journal.close()


def test_value_that_would_end_a_heredoc_is_refused(work: Path, rb: Runbook) -> None:
    journal, run = start(work, rb, {"VALUE": "EOF"})
    try:
        result = run.execute("script-heredoc")
        assert result.outcome == "failed"
        assert result.message == ("cannot render parameters: a value would end the "
                                  "here-document <<EOF early")
        assert run.execute("script-double").outcome == "passed"  # elsewhere EOF is harmless
    finally:
        journal.close()


def test_multiline_env_value_cannot_end_a_heredoc() -> None:
    with pytest.raises(TemplateError, match="would end the here-document <<END early"):
        render_script("cat <<END\n${X}\nEND\n", {"X": "a\nEND\ntouch pwned"})


@pytest.mark.parametrize("value", ["a\ntouch pwned", "a\rb\nc", "nul\x00byte"])
def test_multiline_values_are_refused_by_the_variable_checker(work: Path, rb: Runbook,
                                                              value: str) -> None:
    values, errors, _ = resolve(rb, {"VALUE": value}, {})
    assert "VALUE" not in values
    assert errors == ["VALUE: value must be one line"]


# -- values refused before anything runs ------------------------------------

def test_value_failing_its_pattern_is_refused_naming_the_variable(rb: Runbook) -> None:
    values, errors, missing = resolve(rb, {"VALUE": "ok", "TAG": "v1; touch pwned"}, {})
    assert errors == ["TAG: 'v1; touch pwned' does not match pattern [a-z0-9.-]+"]
    assert "TAG" not in values
    assert values["VALUE"] == "ok"
    assert missing == []


def test_pattern_must_match_the_whole_value(rb: Runbook) -> None:
    _, errors, _ = resolve(rb, {"VALUE": "ok", "TAG": "v1\x0bx"}, {})
    assert errors == ["TAG: 'v1\\x0bx' does not match pattern [a-z0-9.-]+"]
    _, errors, _ = resolve(rb, {"VALUE": "ok", "TAG": "v1 $(id)"}, {})
    assert errors == ["TAG: 'v1 $(id)' does not match pattern [a-z0-9.-]+"]


def test_secret_value_is_not_shown_in_the_error(rb: Runbook) -> None:
    _, errors, _ = resolve(rb, {"VALUE": "ok", "TOKEN": "short$(x)"}, {})
    assert errors == ["TOKEN: (secret value) does not match pattern [A-Za-z0-9]{8,}"]
    assert "short" not in errors[0]


def test_value_from_the_environment_is_checked_too(rb: Runbook) -> None:
    rb2 = load_text(runbook_text(Path("/nonexistent")).replace(
        "  TAG: {pattern: '[a-z0-9.-]+', default: v1}",
        "  TAG: {pattern: '[a-z0-9.-]+', env: RB_TAG}"), "x.yaml", REG)
    values, errors, _ = resolve(rb2, {"VALUE": "ok"}, {"RB_TAG": "$(touch pwned)"})
    assert errors == ["TAG: '$(touch pwned)' does not match pattern [a-z0-9.-]+"]
    assert "TAG" not in values


def test_int_variable_refuses_commands(rb: Runbook) -> None:
    _, errors, _ = resolve(rb, {"VALUE": "ok", "COUNT": "1; touch pwned"}, {})
    assert errors == ["COUNT: '1; touch pwned' is not a whole number"]


def test_unknown_variable_is_named(rb: Runbook) -> None:
    _, errors, _ = resolve(rb, {"VALUE": "ok", "VALEU": "x"}, {})
    assert errors == ["VALEU: not a variable of this runbook (known: COUNT, TAG, TOKEN, VALUE)"]


# -- render_script on its own: where the value stands decides its quoting ------

@pytest.mark.parametrize(("script", "rendered"), [
    ("echo ${X}", "echo 'a b'\"'\"'c'"),
    ('echo "${X}"', "echo \"a b'c\""),
    ("echo '${X}'", "echo '''a b'\"'\"'c'''"),  # '' + the quoted value + ''
    ('echo "$(echo ${X})"', "echo \"$(echo 'a b'\"'\"'c')\""),
    ("# it's ${X}\necho ${X}", "# it's 'a b'\"'\"'c'\necho 'a b'\"'\"'c'"),
    ("echo $${X}", "echo ${X}"),
    ("cat <<'EOF'\n${X}\nEOF\necho ${X}", "cat <<'EOF'\na b'c\nEOF\necho 'a b'\"'\"'c'"),
])
def test_render_script_quotes_by_context(script: str, rendered: str) -> None:
    assert render_script(script, {"X": "a b'c"}) == rendered


@pytest.mark.parametrize(("script", "rendered"), [
    ('echo "${X}"', 'echo "\\$(id) \\`id\\` \\" \\\\"'),
    ("cat <<EOF\n${X}\nEOF", 'cat <<EOF\n\\$(id) \\`id\\` " \\\\\nEOF'),
])
def test_render_script_escapes_what_is_special_in_double_quotes(script: str,
                                                                rendered: str) -> None:
    assert render_script(script, {"X": '$(id) `id` " \\'}) == rendered


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="'\"\\`$(){}#<-; \n\tEOFab", max_size=60))
def test_render_script_leaves_a_script_without_references_alone(script: str) -> None:
    if "${" in script:  # `$${` is the escape of `${`; other `${` are not references
        script = script.replace("${", "$ {")
    assert render_script(script, {}) == script
