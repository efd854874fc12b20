"""The gate-test runbook shared by the state property tests and the gate unit tests.

Its automated items are `shell` argv [true] / [false]; phase one has a confirm, a passing
and a failing check, an action that needs the check, a note, an optional item and an item
for another environment; phase two a choice with two branches and a watch.
"""

from __future__ import annotations

from typing import Any

from runbook.format.loader import load_text
from runbook.format.model import Runbook
from runbook.rules.state import RunState, Status
from runbook.session.operator import Operator
from steps import default_registry

REG = default_registry()
ENV = "local"
ACTOR = "tester@host"
OPERATOR = Operator("tester", "host", "")

TEXT = """\
runbook: 1
title: Gates
environments:
  local: {namespace: default}
  prod: {namespace: prod}
phases:
  - id: one
    title: One
    sections:
      - id: s1
        title: S1
        items:
          - {id: c1, title: Confirm one}
          - {id: ok, kind: check, title: OK, uses: shell, with: {argv: ["true"]}}
          - {id: bad, kind: check, title: Bad, uses: shell, with: {argv: ["false"]}}
          - {id: act, kind: action, title: Act, uses: shell, with: {argv: ["true"]}, needs: [ok]}
          - {id: n1, kind: note, title: A note}
          - {id: opt, title: Optional, required: false}
          - {id: prodonly, title: Prod only, when: {env: [prod]}}
  - id: two
    title: Two
    sections:
      - id: s2
        title: S2
        items:
          - id: how
            kind: choice
            title: How
            options:
              - id: a
                title: A
                items:
                  - {id: a1, kind: action, title: A1, uses: shell, with: {argv: ["true"]}}
              - id: b
                title: B
                items:
                  - {id: b1, title: B1}
          - {id: onlyb, title: Only B, when: {choice: how, option: b}}
          - {id: w, kind: wait, title: Watch, for: 0s}
  - id: three
    title: Three
    sections:
      - id: s3
        title: S3
        items:
          - {id: c3, title: Last}
"""

RB: Runbook = load_text(TEXT, "runbooks/gates.yaml", REG)


def settled(state: RunState) -> dict[str, tuple[Any, ...]]:
    """What a fold from scratch must give: a running item is interrupted."""
    out = {}
    for iid, s in state.items.items():
        status = s.status
        if status is Status.RUNNING:
            status = Status.NEEDS_RECONCILE if s.mutating_run else Status.PENDING
        out[iid] = (status, s.attempts, s.choice, s.reason, s.actor, s.cosigned_by)
    return out
