"""Issue 11, item 1, the way the user met it: `runbook rehearse` in a real terminal (tmux).

The deploy run, then in the same process the rollback run ("rehearse the rollback? y"),
a detached step in the second (the Helm rollback: a `runbook _step` supervisor that opens
the journal, writes and closes it), an override with a reason after it, the next phase;
then `runbook sessions` from another process. Before the fix, the second run's journal
opening dropped the process's SQLite locks, the supervisor's close took itself for the last
connection and deleted the WAL, and from then on the TUI committed into a deleted file:
its screen showed the override, every other process did not.

The run then goes on to the end (a branch whose items are overridden and skipped with
reasons, the checks, "completed") and, from fresh processes, `runbook sessions` and
`runbook report` must have every event the app had; the fold check that every UI test ends
with (tests/fold_check.py) compares each item with what the app had, from its dump.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fold_check import FoldWatch
from tests.tui.test_tmux_smoke import EXITED, TMUX, Tmux, runbook_command

pytestmark = [pytest.mark.skipif(TMUX is None, reason="tmux is not installed"),
              pytest.mark.timeout(900)]

WIDTH, HEIGHT = 160, 48
WORLD_START_S = 240.0  # the rehearsal world: emulator, PostgreSQL primary and replica, Redis
STEP_S = 60.0  # one key's effect, on a loaded machine
GLYPHS = "○◐✔✘↷⚑◌⚠—⊘"


def row_glyph(screen: str, title: str) -> str:
    """The status glyph of the item list's row showing `title` ('' if no row shows it)."""
    for line in screen.splitlines():
        at = line.find(title)
        if at < 0:
            continue
        cells = line[:at].rsplit("│", 1)[-1].split()
        if cells and cells[0] in GLYPHS:
            return cells[0]
    return ""


class Rehearsal:
    """The tmux session running `runbook rehearse`, and what its process had (its dumps)."""

    def __init__(self, t: Tmux, watch: FoldWatch, state: Path) -> None:
        self.t = t
        self.watch = watch
        self.state = state

    def keys(self, *keys: str) -> None:
        self.t.send(*keys)

    def type(self, text: str) -> None:
        self.t.tmux("send-keys", "-t", self.t.session, "-l", text)

    def screen_has(self, *texts: str | re.Pattern[str], timeout: float = STEP_S) -> str:
        return self.t.wait(lambda s: all((x.search(s) is not None) if isinstance(x, re.Pattern)
                                         else x in s for x in texts),
                           " and ".join(map(repr, texts)), timeout)

    def row_shows(self, title: str, glyphs: str, timeout: float = STEP_S) -> str:
        screen = self.t.wait(lambda s: row_glyph(s, title) in glyphs and row_glyph(s, title) != "",
                             f"one of {glyphs} on the row of {title!r}", timeout)
        return row_glyph(screen, title)

    def app(self, session: str) -> dict[str, Any] | None:
        """What the rehearsal's process had of `session`, as its last dump says."""
        for view in self.watch.views():
            if view["session"] == session:
                return view
        return None

    def app_until(self, session: str, ok: Callable[[dict[str, Any]], bool], what: str,
                  timeout: float = STEP_S) -> dict[str, Any]:
        end = time.monotonic() + timeout
        while True:
            view = self.app(session)
            if view is not None and ok(view):
                return view
            if time.monotonic() > end:
                raise AssertionError(f"the app did not get to: {what} (it has "
                                     f"{view and view['items']})\n{self.t.screen()}")
            time.sleep(0.1)

    def status(self, session: str, item: str, wanted: tuple[str, ...]) -> dict[str, Any]:
        return self.app_until(session, lambda v: v["items"][item]["status"] in wanted,
                              f"{item} {' or '.join(wanted)}")

    def fresh(self, *args: str) -> str:
        """A `runbook` command in a new process, on the rehearsal's journal."""
        done = subprocess.run([*runbook_command(), *args], capture_output=True, text=True,
                              timeout=60, env={**os.environ, "RUNBOOK_STATE_DIR": str(self.state)},
                              check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def sessions(self) -> dict[str, tuple[int, str]]:
        """`runbook sessions`: session id -> (events, last event kind)."""
        out = {}
        for line in self.fresh("sessions").splitlines():
            m = re.match(r"(\S+) .*\((\d+) events, last (\S+)\)$", line)
            if m:
                out[m[1]] = (int(m[2]), m[3])
        return out

    def report(self, session: str) -> dict[str, Any]:
        return dict(json.loads(self.fresh("report", session, "--format", "json")))

    def override(self, title: str, reason: str) -> None:
        self.keys("o")
        self.screen_has(f"Override {title[:24]}")  # (a long title wraps in the modal)
        self.type(reason)
        self.keys("Enter")

    def skip(self, title: str, reason: str) -> None:
        self.keys("s")
        self.screen_has(f"Skip {title[:24]}")
        self.type(reason)
        self.keys("Enter")


def supervisors_of(folder: Path) -> list[int]:
    """`runbook _step` processes started from `folder` (their cwd is the TUI's)."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if b"_step" in argv and Path(cwd) == folder.resolve():
            out.append(int(pid))
    return out


def wait_for(ok: Callable[[], bool], what: str, timeout: float = STEP_S) -> None:
    end = time.monotonic() + timeout
    while not ok():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_rehearse_deploy_then_rollback_keeps_every_event_visible_to_every_process(
        tmp_path: Path, fold_check: FoldWatch) -> None:
    state = tmp_path / "state"
    cmd = shlex.join(["env", f"RUNBOOK_STATE_DIR={state}", "RUNBOOK_OPERATOR=rehearser",
                      *runbook_command(), "rehearse"])
    shell = f"cd {shlex.quote(str(tmp_path))} && {cmd}; echo \"{EXITED} $?\"; sleep 600"
    t = Tmux(f"runbook-rehearse-{os.getpid()}-{uuid.uuid4().hex[:8]}", "rehearse")
    r = Rehearsal(t, fold_check, state)
    try:
        t.tmux("new-session", "-d", "-s", t.session, "-x", str(WIDTH), "-y", str(HEIGHT), shell)
        t.socket_path = t.tmux("display-message", "-p", "#{socket_path}").strip()

        # the deploy run: the version, one confirmation, quit
        r.screen_has("Start the run", "NEW_VERSION", timeout=WORLD_START_S)
        r.type("v2.4.3")
        r.keys("Enter")
        s = r.screen_has(re.compile(r"\b0/\d+ required done"), "─ Maintenance window notice ─")
        deploy = re.search(r"session (\S+-sandbox-\S+)", s)
        assert deploy, s
        deploy_sid = deploy[1]
        r.keys("c")
        r.screen_has(re.compile(r"\b1/\d+ required done"))
        r.status(deploy_sid, "advance-notice-given", ("confirmed",))
        r.keys("q")
        r.screen_has("rehearse the rollback")

        # the rollback run, in the same process
        r.keys("y", "Enter")
        s = r.screen_has("CreatorBridge platform rollback", "─ Announce ─",
                         re.compile(r"\b0/\d+ required done"))
        rollback = re.search(r"session (\S+-sandbox-\S+)", s)
        assert rollback and rollback[1] != deploy_sid, s
        sid = rollback[1]
        r.keys("c")
        r.screen_has(re.compile(r"\b1/\d+ required done"))
        r.keys("]")
        r.screen_has("─ Quick Rollback (< 5 min) ─")
        r.keys("r")  # on the choice: its modal
        r.screen_has("Enter to choose")
        r.keys("Down", "Enter")  # the Helm rollback
        r.app_until(sid, lambda v: v["items"]["rollback-method"]["choice"] == "helm",
                    "the Helm rollback chosen")
        r.keys("Home", *["Down"] * 13)
        r.screen_has("id helm-rollback")

        # the detached step: its supervisor opens the journal, writes, closes it
        r.keys("r")
        glyph = r.row_shows("Rollback Helm release", "✔✘")
        app = r.status(sid, "helm-rollback", ("failed", "passed"))
        assert [e for e in app["events"] if e[1] == "item.intent" and e[2] == "helm-rollback"]
        wait_for(lambda: not supervisors_of(tmp_path), "the supervisor to exit")

        # after it: an override with a reason, the next phase
        if glyph == "✘":  # (it fails in a fresh world: no Helm revision was recorded)
            r.override("Rollback Helm release creatorbridge",
                       "rehearsal: no recorded revision, rolled back by hand")
            r.row_shows("Rollback Helm release", "⚑")
        r.keys("n")
        r.screen_has("phase 2/3", "─ Database Rollback ─")
        app = r.app_until(sid, lambda v: v["events"][-1][1] == "phase.entered",
                          "the next phase")

        # `runbook sessions` (the user's next command), from another process: every event
        fold_check.verify()  # the fold check, now: each item as the app has it
        listed = r.sessions()
        had = {v["session"]: v["last_seq"] for v in fold_check.views()}
        assert listed[sid] == (app["last_seq"], "phase.entered"), (listed, app["events"])
        assert listed[deploy_sid][0] == had[deploy_sid]
        report = r.report(sid)
        assert report["outcome"] == "unfinished"
        if glyph == "✘":
            assert ["item.overridden", "helm-rollback", "rehearser@" + os.uname().nodename,
                    "rehearsal: no recorded revision, rolled back by hand"] in \
                [[o["what"], o["item"], o["actor"], o["reason"]] for o in report["overrides"]]

        # on to the end: the database branch, overridden and skipped with reasons
        r.keys("c")
        r.screen_has("Enter to choose")
        r.keys("Down", "Enter")  # yes: its items become the ones to do
        r.app_until(sid, lambda v: v["items"]["database-rollback-needed"]["choice"] == "yes",
                    "the database branch chosen")
        for item, title, how in [
                ("scale-down-all", "Scale down services (all deployments to 0 replicas)", "o"),
                ("restore-database", "Restore database from backup", "o"),
                ("scale-asset-for-reset", "Start one asset-service pod for the migration reset",
                 "s"),
                ("migrate-reset", "Rollback migrations (if migration scripts support down)", "s"),
                ("scale-up-all", "Scale services back up", "o")]:
            r.keys("Down")
            r.screen_has(f"id {item}")
            reason = f"rehearsal: {item} not needed"
            if how == "o":
                r.override(title, reason)
                r.status(sid, item, ("overridden",))
            else:
                r.skip(title, reason)
                r.status(sid, item, ("skipped",))
        r.keys("n")
        r.screen_has("phase 3/3", "─ Verification ─")

        # the checks run in the TUI's own process; what fails is overridden with a reason
        for item, title in [("rollback-pods-running", "All pods running"),
                            ("rollback-health-endpoints", "All health endpoints responding")]:
            r.screen_has(f"id {item}")
            r.keys("r")
            if r.row_shows(title, "✔✘") == "✘":
                r.override(title, f"rehearsal: {item} failed in the sandbox")
                r.status(sid, item, ("overridden",))
            r.keys("Down")
        r.screen_has("id rollback-announced-done")
        r.keys("c")
        r.status(sid, "rollback-announced-done", ("confirmed",))
        r.keys("n")
        app = r.app_until(sid, lambda v: v["finished"], "the session finished")
        r.screen_has("completed")  # the "Done" notice
        r.keys("q")
        s = r.screen_has(EXITED, timeout=WORLD_START_S)
        assert f"{EXITED} 0" in s and "rehearsal world stopped" in s, s
    finally:
        t.kill()

    # fresh processes see what the app had: every event, the overrides and skips with their
    # reasons, every item's status, the outcome
    had = {v["session"]: v for v in fold_check.views()}
    listed = r.sessions()
    assert listed[sid] == (had[sid]["last_seq"], "session.finished")
    assert listed[deploy_sid] == (had[deploy_sid]["last_seq"], had[deploy_sid]["events"][-1][1])
    report = r.report(sid)
    assert report["outcome"] == "completed" == had[sid]["outcome"]
    assert {i["id"]: i["status"] for i in report["items"]} == \
        {i: v["status"] for i, v in had[sid]["items"].items()}
    reasons = {(o["what"], o["item"]): o["reason"] for o in report["overrides"]}
    for item in ("scale-down-all", "restore-database", "scale-up-all"):
        assert reasons[("item.overridden", item)] == f"rehearsal: {item} not needed"
    for item in ("scale-asset-for-reset", "migrate-reset"):
        assert reasons[("item.skipped", item)] == f"rehearsal: {item} not needed"
    assert [[o["what"], o["item"], o["actor"], o["reason"]] for o in report["overrides"]] == \
        had[sid]["overrides"]
    deploy_report = r.report(deploy_sid)
    assert deploy_report["outcome"] == "unfinished" == had[deploy_sid]["outcome"]
    assert {i["id"]: i["status"] for i in deploy_report["items"]}["advance-notice-given"] == \
        "confirmed"
