"""Fuzz test (issue 6): generated malformed runbooks and variable values give located errors.

Every generated runbook is a bundled one (`examples/hello.yaml`, the CreatorBridge deploy
and rollback runbooks) with one mutation that makes it certainly invalid (see
`fuzz_structural.py` and `fuzz_text.py`): deleted, duplicated, renamed or retyped keys, bad
indentation, tabs, unknown step kinds, bad references, durations, patterns, identifiers,
unicode, truncation, control characters, binary garbage, huge numbers. The loader must
refuse each with `LoadFailed`, whose every error is one line `file:line:col: message`,
and raise nothing else. Every generated variable value is wrong for its declaration (or
names no variable); the error must name the variable. A sample goes through the real CLI
in a subprocess. Hypothesis is derandomized, so CI sees the same inputs every time.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runbook.cli.main import CliError, resolve_run_inputs
from runbook.format.loader import LoadFailed, load
from runbook.format.variables import parse_assignments, resolve
from steps import default_registry
from tests.unit.fuzz_inputs import BUNDLED, ROOT, Case, RandomPick, base, one
from tests.unit.fuzz_structural import STRUCTURAL
from tests.unit.fuzz_text import SYNTACTIC
from tests.unit.fuzz_values import bad_assignment, bad_value, var_runbooks

REG = default_registry()
WORK = Path(os.environ.get("TMPDIR", "/tmp")) / f"runbook-fuzz-{os.getpid()}"
SEEN: dict[str, set[str]] = {"runbooks": set(), "variables": set()}
BY_KIND: Counter[str] = Counter()
MIN_INPUTS = 1000


def fuzz_settings(n: int) -> settings:
    return settings(max_examples=n, derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


class DrawPick:
    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw

    def index(self, n: int) -> int:
        return self.draw(st.integers(0, n - 1))


@st.composite
def mutated(draw: st.DrawFn, bases: tuple[str, ...], mutators: tuple[object, ...]) -> Case:
    pick = DrawPick(draw)
    mutate = one(pick, mutators)
    return mutate(pick, base(one(pick, bases)))  # type: ignore[operator]


def workdir() -> Path:
    """A folder with the rollback runbook, so the deploy runbook's `rollback:` resolves."""
    if not WORK.exists():
        WORK.mkdir(parents=True)
        shutil.copy(BUNDLED["rollback"], WORK / BUNDLED["rollback"].name)
    return WORK


def write(case: Case) -> Path:
    path = workdir() / f"{case.base}-fuzz.yaml"
    path.write_bytes(case.content())
    return path


def assert_located(lines: list[str], path: Path, n_lines: int) -> None:
    pattern = re.compile(rf"^{re.escape(str(path))}:(\d+):(\d+): (\S.*)$")
    for line in lines:
        m = pattern.match(line)
        assert m, f"not a located one-line error: {line!r}"
        assert 1 <= int(m.group(1)) <= n_lines + 1 and int(m.group(2)) >= 1, line
        assert "Traceback" not in line


def check_refused(case: Case) -> None:
    """The loader refuses `case` with located one-line errors, and raises nothing else."""
    content = case.content()
    SEEN["runbooks"].add(hashlib.sha256(content).hexdigest())
    BY_KIND[case.what.split(" ")[0]] += 1
    path = write(case)
    try:
        load(path, REG)
    except LoadFailed as e:
        errors = e.errors
    else:
        raise AssertionError(f"loaded without error: {case.base}: {case.what}")
    assert errors, case.what
    shown = [str(err) for err in errors]
    for s in shown:
        assert len(s.splitlines()) == 1, f"{case.what}: error spans lines: {s!r}"
    assert_located(shown, path, content.count(b"\n") + 1)


# -- runbooks, in process ---------------------------------------------------------

@fuzz_settings(350)
@given(mutated(("hello",), STRUCTURAL))
def test_structural_mutations_of_hello(case: Case) -> None:
    check_refused(case)


@fuzz_settings(200)
@given(mutated(("hello",), SYNTACTIC))
def test_syntactic_mutations_of_hello(case: Case) -> None:
    check_refused(case)


@fuzz_settings(160)
@given(mutated(("deploy", "rollback"), STRUCTURAL))
def test_structural_mutations_of_creatorbridge(case: Case) -> None:
    check_refused(case)


@fuzz_settings(90)
@given(mutated(("deploy", "rollback"), SYNTACTIC))
def test_syntactic_mutations_of_creatorbridge(case: Case) -> None:
    check_refused(case)


# -- variable values, in process ----------------------------------------------------

@fuzz_settings(300)
@given(bad_value())
def test_bad_variable_values_name_the_variable(given_value: tuple[str, str, str]) -> None:
    book, name, value = given_value
    SEEN["variables"].add(f"{book}\0{name}\0{value}")
    rb = var_runbooks()[book]
    values, errors, _ = resolve(rb, {name: value}, {})
    assert name not in values
    mine = [e for e in errors if e.startswith(f"{name}: ")]
    assert mine, f"{name}={value!r}: no error names the variable: {errors}"
    var = rb.variable(name)
    if var is not None and var.secret and len(value) >= 4:
        assert all(value not in e and repr(value) not in e for e in errors)
    env = rb.environments[0].name
    with pytest.raises(CliError) as exc:  # the same value through the CLI's own resolution
        resolve_run_inputs(rb, env, [f"{name}={value}"], interactive=False)
    assert f"{name}: " in str(exc.value)


@fuzz_settings(60)
@given(bad_assignment())
def test_malformed_var_assignments_are_refused(pair: str) -> None:
    SEEN["variables"].add(f"--var\0{pair}")
    _, errors = parse_assignments([pair])
    assert errors and all(e.startswith("--var ") for e in errors)
    with pytest.raises(CliError, match=r"^--var "):
        resolve_run_inputs(var_runbooks()["hello"], "local", [pair], interactive=False)


# -- a sample through the real CLI --------------------------------------------------

def cli(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RUNBOOK_STATE_DIR": str(state), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "runbook", *args], cwd=ROOT, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)


def cli_sample() -> list[tuple[Case, str]]:
    out = []
    for seed in range(20):
        pick = RandomPick(seed)
        mutate = one(pick, (*STRUCTURAL, *SYNTACTIC))
        case = mutate(pick, base(one(pick, ("hello", "rollback", "deploy"))))
        out.append((case, "validate" if seed % 2 else "run"))
    return out


CLI_VARS = [
    ("examples/hello.yaml", "local", "GREETING=hello 42"),
    ("examples/hello.yaml", "local", "GREETING="),
    ("examples/hello.yaml", "local", "GREETNG=hello"),
    ("examples/hello.yaml", "local", "GREETING"),
    ("examples/hello.yaml", "local", "=hello"),
    ("creatorbridge-deploy.yaml", "staging", "NEW_VERSION=latest"),
    ("creatorbridge-deploy.yaml", "staging", "NEW_VERSION=v1.2.3\nrm -rf /"),
    ("creatorbridge-deploy.yaml", "staging", "NEW_VERSION=v1.2"),
    ("creatorbridge-deploy.yaml", "staging", "APP_DIR=/tmp/a b"),
    ("creatorbridge-rollback.yaml", "staging", "BACKUP_FILE=/tmp/x y.dump"),
]


def test_a_sample_through_the_cli(tmp_path: Path) -> None:
    state = tmp_path / "state"
    for n, (case, command) in enumerate(cli_sample()):
        path = tmp_path / f"{n}-{case.base}.yaml"
        path.write_bytes(case.content())
        if case.base == "deploy":
            shutil.copy(BUNDLED["rollback"], tmp_path / BUNDLED["rollback"].name)
        args = ["validate", str(path)] if command == "validate" else \
            ["run", str(path), "--env", "staging", "--headless", "--dry-run"]
        p = cli(*args, state=state)
        what = f"{command} {case.base}: {case.what}"
        assert p.returncode == 2, f"{what}: exit {p.returncode}\n{p.stderr}"
        assert "Traceback" not in p.stdout + p.stderr, what
        lines = p.stderr.splitlines()
        located = [x for x in lines if not x.startswith("runbook: ")]
        assert located, f"{what}: no located error in {p.stderr!r}"
        assert_located(located, path, case.content().count(b"\n") + 1)
        assert all(x == f"runbook: {len(located)} error(s) in {path}" for x in lines
                   if x.startswith("runbook: ")), what
        assert not p.stdout, what
        SEEN["runbooks"].add(hashlib.sha256(case.content()).hexdigest())
    for rel, env, pair in CLI_VARS:
        p = cli("run", f"runbooks/{rel}", "--env", env, "--headless", "--dry-run", "--var", pair,
                state=state)
        name = pair.split("=", 1)[0].strip() if "=" in pair else ""
        assert p.returncode == 2, f"--var {pair!r}: exit {p.returncode}\n{p.stderr}"
        assert "Traceback" not in p.stdout + p.stderr
        assert len(p.stderr.splitlines()) == 1, p.stderr
        assert p.stderr.startswith(f"runbook: {name}: " if name else "runbook: --var "), p.stderr
        SEEN["variables"].add(f"cli\0{rel}\0{pair}")
    assert not (state / "crash.log").exists()


def test_at_least_a_thousand_distinct_inputs() -> None:
    """Runs last in this module: the inputs the tests above generated, counted."""
    if not all(SEEN.values()):
        pytest.skip("run the whole module to count its inputs")
    total = sum(len(s) for s in SEEN.values())
    print(f"\nfuzz inputs: {len(SEEN['runbooks'])} malformed runbooks, "
          f"{len(SEEN['variables'])} bad variable values = {total}; by mutation: "
          + ", ".join(f"{k} {v}" for k, v in sorted(BY_KIND.items())))
    assert total >= MIN_INPUTS


def teardown_module() -> None:
    shutil.rmtree(WORK, ignore_errors=True)
