"""The two-person rule: named items wait for a co-sign by a different user."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbook.format.loader import load_text
from runbook.journal.sqlite import Journal
from runbook.session.operator import Operator
from runbook.session.run import Refused, Run
from steps import default_registry

RB = """
runbook: 1
title: Two person
environments:
  production:
    production: true
    policy: {two_person: [migrate, roll]}
  everything:
    policy: {two_person: all-mutating}
phases:
  - id: p
    title: P
    sections:
      - id: s
        title: S
        items:
          - {id: look, title: Look}
          - {id: migrate, kind: action, title: Migrate, uses: shell, with: {argv: ["true"]}}
          - {id: roll, kind: action, title: Roll, uses: shell, foreach: [a], with: {argv: ["true"]}}
          - {id: check, kind: check, title: Check, uses: shell, with: {argv: ["true"]}}
services:
  - {name: a}
"""


def start(tmp_path: Path, env: str = "production", dry_run: bool = False) -> Run:
    rb = load_text(RB, "tp.yaml", default_registry())
    return Run.start(Journal(tmp_path / "j.db"), rb, env, {}, default_registry(),
                     Operator("alice", "jump1", ""), dry_run)


def test_named_items_wait_for_a_different_user(tmp_path: Path) -> None:
    run = start(tmp_path)
    run.confirm("look")  # not under the rule
    assert run.execute("check").outcome.value == "passed"
    with pytest.raises(Refused, match="two-person rule: a second operator"):
        run.execute("migrate")
    with pytest.raises(Refused, match="two-person rule"):
        run.execute("roll[a]")  # foreach items follow their template's id
    with pytest.raises(Refused, match="alice is driving this session"):
        run.cosign("migrate", "alice@jump2")  # same user from another host: refused
    run.cosign("migrate", "bob@jump1")
    assert run.state.items["migrate"].cosigned_by == "bob@jump1"
    assert run.execute("migrate").outcome.value == "passed"
    with pytest.raises(Refused, match="already co-signed"):
        run.cosign("migrate", "carol@jump1")
    with pytest.raises(Refused, match="does not need a co-sign"):
        run.cosign("check", "bob@jump1")
    run.override("roll[a]", "bob unreachable; approved by phone by the lead")  # the way out
    assert run.state.items["roll[a]"].status.value == "overridden"


def test_all_mutating_and_dry_run(tmp_path: Path) -> None:
    run = start(tmp_path, "everything")
    with pytest.raises(Refused, match="two-person"):
        run.execute("migrate")
    assert run.execute("check").outcome.value == "passed"  # read-only: not under the rule
    dry = start(tmp_path / "d", "production", dry_run=True)
    assert dry.execute("migrate").outcome.value == "dry-run"  # nothing mutates: exempt
