"""The advance-notice rule (`policy.notice`) as a pre-flight item: when the notice was due,
and a confirmation that says who sent it."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from runbook.cli.headless import Headless
from runbook.format.loader import LoadFailed, load, load_text
from runbook.format.model import Policy, Window
from runbook.journal.sqlite import Journal
from runbook.rules.events import Ev
from runbook.rules.state import NOTICE_NOTE, Status, initial
from runbook.rules.transitions import refusal
from runbook.rules.window import notice_due
from runbook.session.operator import Operator
from runbook.session.run import Refused, Run
from steps import default_registry

REG = default_registry()
ROOT = Path(__file__).resolve().parents[2]
WED_10 = 1736935200.0  # Wednesday 2025-01-15 10:00:00 UTC
H = 3600.0
SUNDAY = Policy(window=Window((6,), 2 * 60, 6 * 60, "UTC"), notice_hours=24, notice_s=24 * H)


def test_notice_due_before_the_next_window() -> None:
    due = notice_due(SUNDAY, WED_10)
    assert due is not None
    assert due.window_start == WED_10 + 3 * 24 * H + 16 * H  # Sun 2025-01-19 02:00 UTC
    assert due.due == due.window_start - 24 * H
    assert due.text == ("notice due by Sat 2025-01-18 02:00 UTC "
                        "(24h before the window at Sun 2025-01-19 02:00)")
    assert due.short == "notice due by Sat 18 Jan 02:00 UTC"


def test_notice_due_inside_the_window_is_for_that_window() -> None:
    sunday_3am = WED_10 + 3 * 24 * H + 17 * H
    due = notice_due(SUNDAY, sunday_3am)
    assert due is not None and due.short == "notice due by Sat 18 Jan 02:00 UTC"


def test_notice_due_in_the_window_time_zone() -> None:
    berlin = replace(SUNDAY, window=Window((6,), 2 * 60, 6 * 60, "Europe/Berlin"),
                     notice_s=36 * H)
    due = notice_due(berlin, WED_10)
    assert due is not None
    assert due.text == ("notice due by Fri 2025-01-17 14:00 Europe/Berlin "
                        "(36h before the window at Sun 2025-01-19 02:00)")


def test_no_notice_without_a_rule_or_a_window() -> None:
    assert notice_due(replace(SUNDAY, notice_s=0.0), WED_10) is None
    assert notice_due(replace(SUNDAY, window=None), WED_10) is None


def test_the_bundled_deploy_has_the_notice_as_a_gated_pre_flight_item() -> None:
    rb = load(ROOT / "runbooks" / "creatorbridge-deploy.yaml", REG)
    prod = rb.environment("production").policy
    assert prod.notice_s == 24 * H and prod.notice_hours == 24
    item = rb.item("advance-notice-given")
    assert item.notice and item.required and item.kind.value == "confirm"
    assert item.phase == rb.phases[0].id  # pre-flight: it blocks the deployment phase
    assert "due by Saturday 02:00 UTC" in item.help and "who sent it" in item.help
    assert initial(rb, "production").items[item.id].note_required == NOTICE_NOTE
    for env in ("staging", "sandbox"):  # no notice rule there: an ordinary confirmation
        assert initial(rb, env).items[item.id].note_required == ""


def test_confirming_the_notice_needs_who_sent_it() -> None:
    rb = load(ROOT / "runbooks" / "creatorbridge-deploy.yaml", REG)
    state = initial(rb, "production")
    why = refusal(rb, state, Ev.ITEM_CONFIRMED, "advance-notice-given", {}, "alice")
    assert why == ("confirming it needs a note saying who sent the notice, and where "
                   "(or override it with that as the reason)")
    assert refusal(rb, state, Ev.ITEM_CONFIRMED, "advance-notice-given", {"note": "  "},
                   "alice") == why
    assert refusal(rb, state, Ev.ITEM_CONFIRMED, "advance-notice-given",
                   {"note": "bob, status page + #engineering, Fri 09:00"}, "alice") is None
    assert refusal(rb, state, Ev.ITEM_OVERRIDDEN, "advance-notice-given",
                   {"reason": "bob sent it"}, "alice") is None
    assert refusal(rb, initial(rb, "staging"), Ev.ITEM_CONFIRMED, "advance-notice-given", {},
                   "alice") is None


BASE = """
runbook: 1
title: Notice
environments:
  prod:
    policy: {window: {days: [wed], start: "09:00", end: "11:00"}, notice: 24h}
phases:
  - id: p
    title: P
    sections:
      - id: s
        title: S
        items:
          - {id: notice, title: Notice given, notice: true}
"""


@pytest.mark.parametrize(("item", "message"), [
    ("{id: notice, kind: check, title: N, uses: shell, with: {argv: ['true']}, notice: true}",
     "budget.yaml:14:86: 'notice' is only for confirm items, not check items"),
    ("{id: notice, title: N, notice: maybe}",
     "budget.yaml:14:44: notice must be true or false, not the string 'maybe'"),
])
def test_notice_key_errors(item: str, message: str) -> None:
    text = BASE.replace("{id: notice, title: Notice given, notice: true}", item)
    with pytest.raises(LoadFailed) as exc:
        load_text(text, "budget.yaml", REG)
    assert [str(e) for e in exc.value.errors] == [message]


def test_headless_shows_when_it_was_due_and_asks_who(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("runbook.cli.headless.time", SimpleNamespace(time=lambda: WED_10))
    path = tmp_path / "notice.yaml"
    path.write_text(BASE)
    run = Run.start(Journal(tmp_path / "j.db"), load(path, REG), "prod", {}, REG,
                    Operator("alice", "host", ""), dry_run=False)
    answers = iter(["y", "", "y", "bob, on the status page and in #engineering"])
    out = io.StringIO()
    assert Headless(run, lambda q: next(answers), out).main() == 0
    assert "    notice due by Tue 2025-01-14 09:00 UTC (24h before the window at " \
           "Wed 2025-01-15 09:00)" in out.getvalue().splitlines()
    st = run.state.items["notice"]
    assert st.status is Status.CONFIRMED and st.reason == "bob, on the status page and in " \
                                                         "#engineering"
    with pytest.raises(Refused):  # and the rule holds whoever drives the run
        Run.start(Journal(tmp_path / "k.db"), run.runbook, "prod", {}, REG,
                  Operator("carol", "host", ""), dry_run=False).confirm("notice")
