"""Hang-up: the terminal of the TUI goes away (SIGHUP) while a long Helm step runs.

tmux plays the SSH session: killing the tmux session hangs up the TUI's terminal. The
stand-in `helm` (a script on PATH, counting its revisions in a file) takes seconds; it
runs in a detached supervisor, so it completes, its result and full output are
journaled, and `runbook resume` in a new terminal shows them. It ran once.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from runbook.journal.sqlite import Journal
from runbook.rules.events import Ev
from tests.tui.test_tmux_smoke import TMUX, Tmux, runbook_command

pytestmark = [pytest.mark.skipif(TMUX is None, reason="tmux is not installed"),
              pytest.mark.timeout(120)]

HELM = """#!/bin/bash
state="$HELM_STANDIN_STATE"
case "$1" in
  status)
    [ -f "$state" ] || exit 1
    echo "{\\"version\\": $(cat "$state")}" ;;
  upgrade)
    for i in $(seq 1 40); do echo "upgrade progress $i"; sleep 0.1; done
    n=$(( $(cat "$state" 2>/dev/null || echo 1) + 1 ))
    echo "$n" > "$state"
    echo "$n" >> "$state.runs"
    echo "Release \\"web\\" has been upgraded. Happy Helming! revision $n" ;;
  *) echo "stand-in helm: $*" >&2; exit 2 ;;
esac
"""

RUNBOOK = """\
runbook: 1
title: Hang-up test
environments:
  local: {namespace: default}
phases:
  - id: deploy
    title: Deploy
    sections:
      - id: helm
        title: Helm
        items:
          - id: upgrade
            kind: action
            title: Helm upgrade of web
            uses: helm.upgrade
            with: {release: web, chart: ./chart, namespace: default, timeout: 5m}
"""


def journal_events(db: Path) -> list[tuple[str, str | None, dict[str, object]]]:
    if not db.exists():
        return []
    j = Journal(db)
    try:
        return [(e.kind.value, e.item, e.data) for m in j.sessions() for e in j.events(m.id)]
    finally:
        j.close()


def wait_for(ok: object, what: str, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not ok():  # type: ignore[operator]
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_hangup_while_helm_runs_then_resume_shows_the_real_result(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helm = bin_dir / "helm"
    helm.write_text(HELM)
    helm.chmod(0o755)
    state_file = tmp_path / "helm-revision"
    state_file.write_text("1\n")
    rb = tmp_path / "hangup.yaml"
    rb.write_text(RUNBOOK)
    state = tmp_path / "state"
    db = state / "journal.db"
    env = ["env", f"RUNBOOK_STATE_DIR={state}", "RUNBOOK_OPERATOR=oncall",
           f"PATH={bin_dir}:{os.environ['PATH']}", f"HELM_STANDIN_STATE={state_file}"]
    cmd = shlex.join([*env, *runbook_command(), "run", str(rb), "--env", "local"])
    socket = f"runbook-hup-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    t = Tmux(socket, "first")
    try:
        t.start(f"cd {shlex.quote(str(tmp_path))} && {cmd}")
        t.wait_all("Helm upgrade of web", "r Run ", timeout=30)
        t.send("r")
        t.wait_screen(re.compile(r"upgrade progress [3-9]\b"), timeout=30)
        t.tmux("kill-session", "-t", "first")  # the SSH connection drops: SIGHUP
    finally:
        t.kill()
    hung_up_at = time.monotonic()

    # nobody is watching: the step goes on, and its result lands in the journal
    wait_for(lambda: any(k == Ev.ITEM_RESULT.value for k, _, _ in journal_events(db)),
             "the helm result")
    assert time.monotonic() - hung_up_at > 0.5  # it was still running when the TUI went away
    events = journal_events(db)
    result = next(d for k, i, d in events if k == Ev.ITEM_RESULT.value and i == "upgrade")
    assert result["outcome"] == "passed", result
    assert result["facts"] == {"pid": result["facts"]["pid"],  # type: ignore[index]
                               "helm_before": {"release": "web", "namespace": "default",
                                               "revision": 1},
                               "helm_after": {"release": "web", "namespace": "default",
                                              "revision": 2}}
    assert Path(f"{state_file}.runs").read_text().split() == ["2"]  # it ran once
    sid = next(p.name for p in (state / "sessions").iterdir())
    log = (state / "sessions" / sid / "logs" / "upgrade.log").read_text().splitlines()
    assert [ln for ln in log if ln.startswith("upgrade progress")] == \
        [f"upgrade progress {i}" for i in range(1, 41)]
    assert log[-1] == "release web: revision after = 2"
    no_tui = subprocess.run(["pgrep", "-f", f"run {rb}"], capture_output=True, check=False)
    assert no_tui.stdout == b"", "the TUI outlived its terminal"

    # a new terminal: resume shows the real result and the full output
    cmd = shlex.join([*env, *runbook_command(), "resume", sid])
    t = Tmux(socket + "-2", "second")
    try:
        t.start(f"cd {shlex.quote(str(tmp_path))} && {cmd}")
        s = t.wait_row("Helm upgrade of web", "✔", timeout=30)
        t.send("2")  # the Log tab (a narrow terminal shows the detail first)
        s = t.wait_all("upgrade: 43 lines", "revision after = 2", "upgrade progress 40",
                       timeout=10)
        assert "Happy Helming! revision 2" in s
    finally:
        t.kill()
    kinds = [(k, i) for k, i, _ in journal_events(db)]
    assert kinds.count((Ev.ITEM_INTENT.value, "upgrade")) == 1
    assert (Ev.SESSION_RESUMED.value, None) in kinds
