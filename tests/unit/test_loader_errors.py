"""Located loader errors: a table of bad runbooks, each one problem away from a valid base.

Every case is the valid BASE below with one small edit, and the exact
`runbooks/bad.yaml:LINE:COL: message` the loader must report (the only error).
Line numbers refer to the edited text; the comments in BASE give the original
line numbers, and an edit that inserts a line shifts everything after it.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runbook.format.loader import LoadFailed, load, load_text
from runbook.format.model import ItemKind
from steps import default_registry

PATH = "runbooks/bad.yaml"
REG = default_registry()

BASE = """\
runbook: 1
title: Base runbook
variables:
  VERSION:
    pattern: '[0-9]+\\.[0-9]+'
    default: "1.0"
environments:
  staging:
    namespace: stg
    values: {registry: reg.example}
  prod:
    namespace: prd
    values: {registry: reg.example, only_prod: x}
    policy:
      window: {days: [mon, tue], start: "09:00", end: "17:00"}
services:
  - {name: db, infrastructure: true}
  - {name: api, port: 8080, depends_on: [db]}
phases:
  - id: prepare
    title: Prepare
    sections:
      - id: checks
        title: Checks
        items:
          - id: look
            title: Look around
          - id: probe
            kind: check
            title: Probe
            uses: shell
            with: {argv: [echo, "${VERSION}"]}
  - id: deploy
    title: Deploy
    sections:
      - id: act
        title: Act
        items:
          - id: how
            kind: choice
            title: How
            options:
              - {id: fast, title: Fast}
              - {id: slow, title: Slow}
          - id: roll
            kind: action
            title: Roll
            uses: shell
            foreach: services
            with: {argv: [echo, "${service.name}"]}
            needs: [probe]
          - id: watch
            kind: wait
            title: Watch
            for: 1m
"""
# Lines of BASE: 1 runbook, 2 title, 5 pattern, 6 default, 13 prod values, 15 window,
# 17 db, 18 api, 26 look, 28 probe, 29 probe kind, 31 probe uses, 32 probe with, 39 how,
# 42 options, 43 fast, 44 slow, 45 roll, 48 roll uses, 49 foreach, 50 roll with,
# 51 needs, 52 watch, 53 watch kind, 55 for.

PROBE = '            uses: shell\n            with: {argv: [echo, "${VERSION}"]}\n'


def edit(*pairs: tuple[str, str]) -> str:
    """BASE with each `old` (which must occur exactly once) replaced by `new`."""
    text = BASE
    for old, new in pairs:
        assert text.count(old) == 1, f"edit target not unique: {old!r}"
        text = text.replace(old, new)
    return text


def probe_uses(kind: str, with_: str) -> str:
    """BASE with the probe item using another step kind."""
    return edit((PROBE, f"            uses: {kind}\n            with: {with_}\n"))


def loc(line: int, col: int, message: str) -> str:
    return f"{PATH}:{line}:{col}: {message}"


CASES = [
    # -- the file itself ----------------------------------------------------
    pytest.param(edit(("title: Base runbook", "title: Base: runbook")),
                 loc(2, 12, "YAML syntax: mapping values are not allowed here"),
                 id="yaml-syntax"),
    pytest.param(edit(('with: {argv: [echo, "${VERSION}"]}', 'with: {argv: [echo, "${VERSION}"]')),
                 loc(33, 3, "YAML syntax: expected ',' or '}', but got '-' (while parsing a flow "
                            "mapping that starts at line 32)"),
                 id="yaml-unclosed-flow-mapping"),
    pytest.param(edit(("    namespace: stg", "\tnamespace: stg")),
                 loc(9, 1, "YAML syntax: tab character; indent with spaces, not tabs"),
                 id="tab-indentation"),
    pytest.param("", loc(1, 1, "empty file: a runbook needs title and phases"), id="empty-file"),
    pytest.param("# only a comment\n\n",
                 loc(1, 1, "empty file: a runbook needs title and phases"), id="comments-only"),
    pytest.param("- title: x\n- phases: []\n",
                 loc(1, 1, "runbook must be a mapping, not a list"), id="top-level-list"),
    pytest.param("just words\n",
                 loc(1, 1, "runbook must be a mapping, not the string 'just words'"),
                 id="top-level-scalar"),
    pytest.param(edit(("title: Base runbook", "title: !fancy Base runbook")),
                 loc(2, 8, "cannot read this value: could not determine a constructor for the "
                           "tag '!fancy'"),
                 id="unknown-yaml-tag"),
    pytest.param(edit(("title: Base runbook", "title: !!int Base runbook")),
                 loc(2, 8, "cannot read this value: 'Base runbook' is not a valid !!int"),
                 id="explicit-tag-that-does-not-fit"),
    # -- top level ----------------------------------------------------------
    pytest.param(edit(("title: Base runbook\n", "title: Base runbook\ndescripton: hi\n")),
                 loc(3, 1, "unknown key 'descripton' in runbook (did you mean 'description'?)"),
                 id="unknown-top-level-key"),
    pytest.param(edit(("title: Base runbook\n", "")),
                 loc(1, 1, "runbook is missing required key 'title'"), id="missing-title"),
    pytest.param(BASE[:BASE.index("phases:")],
                 loc(1, 1, "runbook is missing required key 'phases'"), id="missing-phases"),
    pytest.param(BASE[:BASE.index("phases:")] + "phases: []\n",
                 loc(19, 9, "a runbook needs at least one phase"), id="no-phases"),
    pytest.param(edit(("runbook: 1", "runbook: 2")),
                 loc(1, 10, "unsupported format version 2 (this tool reads version 1)"),
                 id="format-version-2"),
    # -- variables ----------------------------------------------------------
    pytest.param(edit(("pattern: '[0-9]+\\.[0-9]+'", "pattern: '[0-9'")),
                 loc(5, 14, "bad pattern for VERSION: unterminated character set at position 0"),
                 id="bad-regex"),
    pytest.param(edit(('default: "1.0"', 'default: "one"')),
                 loc(6, 14, "default of VERSION: 'one' does not match pattern [0-9]+\\.[0-9]+"),
                 id="default-fails-pattern"),
    pytest.param(edit(('default: "1.0"', "default: [1, 2]")),
                 loc(6, 14, "default of VERSION must be a single value, not a list"),
                 id="default-not-a-value"),
    # -- environments and policies ------------------------------------------
    pytest.param(edit(('start: "09:00"', 'start: "25:00"')),
                 loc(15, 41, "window start must be HH:MM (24-hour), not '25:00'"),
                 id="window-hour-25"),
    pytest.param(edit(("[mon, tue]", "[mon, tus]")),
                 loc(15, 28, "unknown day 'tus' (use mon, tue, wed, thu, fri, sat, sun)"),
                 id="unknown-weekday"),
    pytest.param(edit(("[mon, tue]", "[monkey, tue]")),
                 loc(15, 23, "unknown day 'monkey' (use mon, tue, wed, thu, fri, sat, sun)"),
                 id="weekday-with-a-day-prefix"),
    # -- services -----------------------------------------------------------
    pytest.param(edit(("depends_on: [db]", "depends_on: [dbb]")),
                 loc(18, 42, "service 'api' depends on unknown service 'dbb' "
                             "(did you mean 'db'?)"),
                 id="depends-on-unknown-service"),
    pytest.param(edit(("{name: db, infrastructure: true}",
                       "{name: db, infrastructure: true, depends_on: [api]}")),
                 loc(17, 51, "services: dependency cycle: db -> api -> db"),
                 id="service-dependency-cycle"),
    pytest.param(edit(("foreach: services", "foreach: [api, web]")),
                 loc(49, 28, "foreach names unknown service 'web' (expected one of: api)"),
                 id="foreach-unknown-service"),
    # -- items --------------------------------------------------------------
    pytest.param(edit(("kind: wait", "kind: wiat")),
                 loc(53, 19, "unknown item kind 'wiat' (did you mean 'wait'?)"),
                 id="unknown-item-kind"),
    pytest.param(edit((PROBE, PROBE.replace("shell", "shel"))),
                 loc(31, 19, "unknown step kind 'shel' (did you mean 'shell'?)"),
                 id="unknown-step-kind"),
    pytest.param(edit(('{argv: [echo, "${VERSION}"]}', '{argv: [echo, "${VERSION}"], cwdir: /t}')),
                 loc(32, 48, "unknown parameter 'cwdir' for step kind 'shell' "
                             "(did you mean 'cwd'?)"),
                 id="unknown-parameter"),
    pytest.param(probe_uses("k8s.rollout-status", "{timeout: 5m}"),
                 loc(32, 19, "step kind 'k8s.rollout-status' needs parameter 'deployment'"),
                 id="missing-required-parameter"),
    pytest.param(probe_uses("k8s.rollout-status", "{deployment: yes}"),
                 loc(32, 32, "parameter 'deployment' of k8s.rollout-status must be a string, "
                             'not a boolean (quote it: "yes")'),
                 id="bool-for-string-parameter"),
    pytest.param(probe_uses("k8s.logs", "{selector: app=api, tail: lots}"),
                 loc(32, 45, "parameter 'tail' of k8s.logs must be a whole number, "
                             "not the string 'lots'"),
                 id="string-for-integer-parameter"),
    pytest.param(edit(("- id: watch", "- id: look")),
                 loc(52, 17, "duplicate id 'look' (first used at line 26)"), id="duplicate-id"),
    pytest.param(edit(("            title: Watch\n",
                       "            title: Watch\n            title: Watch again\n")),
                 loc(55, 13, "duplicate key 'title' in item (first at line 54)"),
                 id="duplicate-key"),
    pytest.param(edit(("needs: [probe]", "needs: [prob]")),
                 loc(51, 20, "needs unknown item 'prob' (did you mean 'probe'?)"),
                 id="dangling-needs"),
    pytest.param(edit(("            title: Look around\n",
                       "            title: Look around\n            needs: [probe]\n"),
                      (PROBE, PROBE + "            needs: [look]\n")),
                 loc(28, 20, "dependency cycle: look -> probe -> look"), id="needs-cycle"),
    pytest.param(edit(("            title: Look around\n",
                       "            title: Look around\n            needs: [watch]\n")),
                 loc(28, 20, "needs 'watch', which comes in a later phase"),
                 id="needs-later-phase"),
    pytest.param(edit(('[echo, "${VERSION}"]', '[echo, "${NOPE}"]')),
                 loc(32, 33, "undefined variable ${NOPE} (expected one of: VERSION)"),
                 id="undefined-variable"),
    pytest.param(edit(('[echo, "${VERSION}"]', '[echo, "${VERSIN}"]')),
                 loc(32, 33, "undefined variable ${VERSIN} (did you mean 'VERSION'?)"),
                 id="misspelt-variable"),
    pytest.param(edit(('[echo, "${VERSION}"]', '[echo, "${service.name}"]')),
                 loc(32, 33, "${service.name} can only be used in an item with foreach"),
                 id="service-ref-outside-foreach"),
    pytest.param(edit(('[echo, "${VERSION}"]', '[echo, "${env.only_prod}"]')),
                 loc(32, 33, "${env.only_prod}: 'only_prod' is not defined in every environment "
                             "(missing in staging)"),
                 id="env-value-not-in-every-env"),
    pytest.param(edit(('[echo, "${VERSION}"]', '[echo, "${VERSION"]')),
                 loc(32, 33, "malformed reference near '${VERSION'"), id="malformed-reference"),
    pytest.param(edit(("              - {id: slow, title: Slow}\n", "")),
                 loc(43, 15, "a choice needs at least two options"), id="choice-one-option"),
    pytest.param(edit(("- {id: fast, title: Fast}",
                       "- id: fast\n"
                       "                title: Fast\n"
                       "                items:\n"
                       "                  - id: inner\n"
                       "                    kind: choice\n"
                       "                    title: Inner\n"
                       "                    options: [{id: x, title: X}, {id: y, title: Y}]")),
                 loc(47, 27, "a choice cannot be nested inside another choice's option"),
                 id="choice-in-choice"),
    pytest.param(edit(("            for: 1m", "            for: 1m\n"
                                          "            when: {choice: look, option: fast}")),
                 loc(56, 19, "when.choice 'look' is not a choice item"),
                 id="when-choice-not-a-choice"),
    pytest.param(edit(("            for: 1m", "            for: 1m\n"
                                          "            when: {choice: how, option: medium}")),
                 loc(56, 19, "choice 'how' has no option 'medium'"),
                 id="when-option-unknown"),
    pytest.param(probe_uses("k8s.set-image", "{deployment: api, image: x}"),
                 loc(29, 19, "step kind 'k8s.set-image' changes things: use kind: action, "
                             "not check"),
                 id="check-with-mutating-step-kind"),
    pytest.param(edit(("            uses: shell\n            foreach", "            foreach")),
                 loc(46, 19, "an action item needs 'uses' (the step kind to run)"),
                 id="action-without-uses"),
    pytest.param(edit(("            for: 1m\n", "")),
                 loc(53, 19, "a wait item needs 'for' (how long to watch, e.g. 30m)"),
                 id="wait-without-for"),
    pytest.param(edit(("for: 1m", "for: 10 parsecs")),
                 loc(55, 18, "for: unknown unit 'parsecs' in '10 parsecs' (use s, m or h)"),
                 id="bad-duration"),
    pytest.param(edit(("for: 1m", "for: [1m]")),
                 loc(55, 18, "for must be a duration such as 30s, 15m or 1h30m, not a list"),
                 id="duration-not-a-value"),
    pytest.param(edit(('{argv: [echo, "${VERSION}"]}', '{argv: [echo], script: "echo hi"}')),
                 loc(32, 19, "shell needs exactly one of 'argv' or 'script'"),
                 id="shell-argv-and-script"),
    pytest.param(edit(("            title: Look around\n",
                       "            title: Look around\n            retries: 2\n")),
                 loc(28, 13, "'retries' is only for check and action items, not confirm items"),
                 id="retries-on-confirm"),
    # -- found by the fuzz test (tests/unit/test_fuzz_inputs.py) -------------------
    pytest.param(edit(("title: Base runbook", "title: Base\x00runbook")),
                 loc(2, 12, "character U+0000 is not allowed in YAML (a control or non-character "
                            "code point)"),
                 id="nul-character"),
    pytest.param(edit(('end: "17:00"}', 'end: "17:00"}\n      notice: [24h]')),
                 loc(16, 15, "notice must be a duration such as 30s, 15m or 1h30m, not a list"),
                 id="notice-not-a-value"),
    pytest.param(edit(("for: 1m", "for: " + "9" * 40)),
                 loc(55, 18, "for: 999999999999... (40 digits) seconds is longer than a year"),
                 id="duration-huge-number"),
    pytest.param(edit(("for: 1m", "for: .inf")), loc(55, 18, "for: not a duration: inf"),
                 id="duration-infinite"),
    pytest.param(edit(("port: 8080", "port: 80800")),
                 loc(18, 23, "port must be at most 65535, not 80800"), id="port-too-large"),
    pytest.param(edit(("            title: Probe\n",
                       "            title: Probe\n            retries: 1000\n")),
                 loc(31, 22, "retries must be at most 100, not 1000"), id="retries-too-many"),
    pytest.param(edit(("[mon, tue]", "[]")),
                 loc(15, 22, "window days must name at least one day"), id="window-no-days"),
    pytest.param(edit(("foreach: services", "foreach: !each services")),
                 loc(49, 22, "cannot read this value: could not determine a constructor for the "
                             "tag '!each'"),
                 id="unknown-tag-on-a-keyword"),
    pytest.param(edit(('with: {argv: [echo, "${VERSION}"]}', "with: {argv: " + "[" * 70 + "]" * 70 + "}")),
                 loc(32, 82, "nested more than 64 levels deep"), id="absurd-nesting"),
    pytest.param(edit(("runbook: 1\n", "runbook: 1\nversion:\n")),
                 loc(2, 9, "version must be a string, not empty"), id="version-empty"),
    pytest.param(edit(("runbook: 1\n", "runbook: 1\nrollback: " + "r" * 300 + ".yaml\n")),
                 loc(2, 11, f"rollback runbook '{'r' * 77}...' not found next to this file"),
                 id="rollback-name-too-long"),
    pytest.param(probe_uses("k8s.node-capacity", "{headroom: .nan}"),
                 loc(32, 30, "parameter 'headroom' of k8s.node-capacity must be a (finite) number, "
                             "not float .nan"),
                 id="number-not-finite"),
]


def errors_of(text: str) -> list[str]:
    with pytest.raises(LoadFailed) as exc:
        load_text(text, PATH, REG)
    return [str(e) for e in exc.value.errors]


def test_base_is_valid() -> None:
    rb = load_text(BASE, PATH, REG)
    assert [i.id for i in rb.all_items()] == ["look", "probe", "how", "roll[api]", "watch"]


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_bad_runbook_reports_one_located_error(text: str, expected: str) -> None:
    assert errors_of(text) == [expected]


# -- several problems at once ---------------------------------------------

def test_all_problems_are_reported_at_once_sorted_by_line() -> None:
    text = edit(
        ("for: 1m", "for: 10 parsecs"),                          # line 56 after the insert
        ("needs: [probe]", "needs: [prob]"),                     # line 52
        ("              - {id: slow, title: Slow}\n",             # options: line 43
         "              - {id: slow, title: Slow, recommended: maybe}\n"),
        ("[mon, tue]", "[mon, tus]"),                            # line 16
        ('default: "1.0"', 'default: "one"'),                    # line 7
        ("title: Base runbook\n", "title: Base runbook\ndescripton: hi\n"),  # line 3
    )
    with pytest.raises(LoadFailed) as exc:
        load_text(text, PATH, REG)
    got = [str(e) for e in exc.value.errors]
    assert got == [
        loc(3, 1, "unknown key 'descripton' in runbook (did you mean 'description'?)"),
        loc(7, 14, "default of VERSION: 'one' does not match pattern [0-9]+\\.[0-9]+"),
        loc(16, 28, "unknown day 'tus' (use mon, tue, wed, thu, fri, sat, sun)"),
        loc(45, 54, "recommended must be true or false, not the string 'maybe'"),
        loc(52, 20, "needs unknown item 'prob' (did you mean 'probe'?)"),
        loc(56, 18, "for: unknown unit 'parsecs' in '10 parsecs' (use s, m or h)"),
    ]
    assert str(exc.value).splitlines() == got  # the exception's text is sorted too


def test_choice_with_one_option_is_reported_alongside_other_errors() -> None:
    text = edit(("              - {id: slow, title: Slow}\n", ""), ("kind: wait", "kind: wiat"))
    assert errors_of(text) == [
        loc(43, 15, "a choice needs at least two options"),
        loc(52, 19, "unknown item kind 'wiat' (did you mean 'wait'?)"),
    ]


# -- things that look wrong but are fine --------------------------------------

def test_unquoted_window_times_are_read_as_written() -> None:
    # YAML 1.1 reads an unquoted 17:00 as the base-60 number 1020
    rb = load_text(edit(('end: "17:00"', "end: 17:00")), PATH, REG)
    window = rb.environment("prod").policy.window
    assert window is not None
    assert (window.start_minute, window.end_minute) == (9 * 60, 17 * 60)


def test_full_and_abbreviated_weekday_names() -> None:
    rb = load_text(edit(("[mon, tue]", "[Monday, tues, thurs, SUN]")), PATH, REG)
    window = rb.environment("prod").policy.window
    assert window is not None
    assert window.days == (0, 1, 3, 6)


def test_needs_on_a_foreach_item_means_all_its_expansions() -> None:
    text = edit(("            for: 1m\n", "            for: 1m\n            needs: [roll]\n"))
    rb = load_text(text, PATH, REG)
    assert rb.item("watch").needs == ("roll",)
    assert rb.item("watch").kind is ItemKind.WAIT


# -- the file cannot be read: one located error, never another exception ----

def test_missing_file(tmp_path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(LoadFailed) as exc:
        load(path, REG)
    assert [str(e) for e in exc.value.errors] == [
        f"{path}:1:1: cannot read: No such file or directory"]


def test_directory_instead_of_file(tmp_path) -> None:
    with pytest.raises(LoadFailed) as exc:
        load(tmp_path, REG)
    assert len(exc.value.errors) == 1
    assert str(exc.value).startswith(f"{tmp_path}:1:1: cannot read: ")


def test_not_utf8(tmp_path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(BASE.replace("Base runbook", "Caf\xe9").encode("latin-1"))
    with pytest.raises(LoadFailed) as exc:
        load(path, REG)
    assert [str(e) for e in exc.value.errors] == [
        f"{path}:2:11: not UTF-8 text: byte 0xe9 at offset 21"]


def test_not_utf8_after_multibyte_text(tmp_path) -> None:
    path = tmp_path / "mixed.yaml"
    path.write_bytes("title: ünïcode\n".encode() + b"phases: \xff\n")
    with pytest.raises(LoadFailed) as exc:
        load(path, REG)
    assert [str(e) for e in exc.value.errors] == [
        f"{path}:2:9: not UTF-8 text: byte 0xff at offset 25"]


def test_valid_file_on_disk(tmp_path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(BASE, encoding="utf-8")
    assert load(path, REG).title == "Base runbook"


# -- no input makes the loader raise anything but LoadFailed ------------------

TOKENS = ["[", "]", "{", "}", ",", ":", "- ", " ", "\n", "\t", "'", '"', "!!int ", "!!float ",
          "!!timestamp ", "!!set ", "!custom ", "&a ", "*a", "<<: ", "${", "$${", "~", "yes",
          "[]", "{}", "services", "probe", "roll", "-5", "2024-01-01", "12:30", "\xff"]


@st.composite
def mangled(draw: st.DrawFn) -> str:
    text = BASE
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text) - 1))
        op = draw(st.sampled_from(["insert", "delete", "replace", "drop-line", "dup-line"]))
        if op in ("drop-line", "dup-line"):
            lines = text.splitlines(keepends=True)
            n = draw(st.integers(0, len(lines) - 1))
            lines[n:n + 1] = [] if op == "drop-line" else [lines[n], lines[n]]
            text = "".join(lines)
            continue
        cut = draw(st.integers(1, 6)) if op != "insert" else 0
        tok = draw(st.sampled_from(TOKENS)) if op != "delete" else ""
        text = text[:i] + tok + text[i + cut:]
    return text


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mangled())
def test_mangled_runbooks_fail_only_with_located_errors(text: str) -> None:
    try:
        load_text(text, PATH, REG)
    except LoadFailed as e:
        assert e.errors
        for err in e.errors:
            assert str(err).startswith(f"{PATH}:")
            assert err.pos.line >= 1 and err.pos.col >= 1
            assert err.message.strip()
