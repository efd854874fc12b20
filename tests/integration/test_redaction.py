"""Secrets never reach files the session writes: a step printing secret values whole, split
across two output chunks, and inside a URL's password."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbook.format.loader import load_text
from runbook.journal.sqlite import Journal
from runbook.session.operator import Operator
from runbook.session.report import build, to_json, to_markdown
from runbook.session.run import Run
from steps import default_registry

TOKEN = "tok-3f9a8c7e1d2b"
PASSWORD = "pw-Q7xZ2mL9"

RB = """
runbook: 1
title: Redaction
variables:
  API_TOKEN: {secret: true}
  DB_URL: {secret: false}
environments:
  local: {}
phases:
  - id: p
    title: P
    sections:
      - id: s
        title: S
        items:
          - id: leak
            kind: check
            title: Print secrets
            uses: shell
            with:
              script: |
                echo "whole: ${API_TOKEN}"
                printf 'split: tok-3f9a'; sleep 0.3; printf '8c7e1d2b and more\\n'
                echo "url: ${DB_URL}"
                echo "${API_TOKEN}" >&2
                exit 3
"""


@pytest.mark.parametrize("kind", ["check", "action"])  # an action runs in a detached supervisor
def test_no_secret_in_any_file_or_report(tmp_path: Path, kind: str) -> None:
    reg = default_registry()
    rb = load_text(RB.replace("kind: check", f"kind: {kind}"), str(tmp_path / "r.yaml"), reg)
    journal = Journal(tmp_path / "state" / "journal.db")
    url = f"postgresql://deploy:{PASSWORD}@db.example:5432/app"
    run = Run.start(journal, rb, "local", {"API_TOKEN": TOKEN, "DB_URL": url}, reg,
                    Operator("eve", "h", ""), dry_run=False)
    seen: list[str] = []
    result = run.execute("leak", listener=lambda item, lines: seen.extend(lines))
    assert result.outcome.value == "failed"
    assert run.detaches(rb.item("leak")) is (kind == "action")
    log = (run.dir / "logs" / "leak.log").read_text()
    assert "whole: •••" in log and "split: ••• and more" in log
    assert "url: postgresql://deploy:•••@db.example:5432/app" in log
    report = build(run.meta, journal.events(run.meta.id), rb)
    texts = [log, "\n".join(seen), to_markdown(report), to_json(report)]
    for path in [*tmp_path.rglob("*")]:
        if path.is_file():
            texts.append(path.read_bytes().decode("utf-8", "replace"))
    for text in texts:
        assert TOKEN not in text
        assert PASSWORD not in text
