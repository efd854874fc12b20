"""Smoke test of the real TUI in a real terminal: `runbook run` inside a detached tmux.

Keys go in with `tmux send-keys`, the screen comes back with `tmux capture-pane -p`,
and every step waits (polling, with a timeout) for what a person would see. The
tmux server has its own socket (`tmux -L`), so no other session is ever touched.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from runbook.journal.sqlite import Journal
from runbook.rules.events import Ev

TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(
    TMUX is None, reason="tmux is not installed (apt-get install tmux): the smoke test drives "
                         "the TUI in a real terminal through tmux")

ROOT = Path(__file__).resolve().parents[2]
HELLO = ROOT / "runbooks" / "examples" / "hello.yaml"
WIDTH, HEIGHT = 100, 30
EXITED = "runbook exited with status"


def runbook_command() -> list[str]:
    script = Path(sys.executable).with_name("runbook")
    return [str(script)] if script.exists() else [sys.executable, "-m", "runbook"]


class Tmux:
    def __init__(self, socket: str, session: str) -> None:
        assert TMUX is not None
        self.base = [TMUX, "-L", socket, "-f", "/dev/null"]
        self.session = session
        self.socket_path = ""
        self.env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}

    def tmux(self, *args: str) -> str:
        done = subprocess.run([*self.base, *args], capture_output=True, text=True, timeout=10,
                              env=self.env, check=False)
        if done.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def start(self, command: str) -> None:
        self.tmux("new-session", "-d", "-s", self.session, "-x", str(WIDTH), "-y", str(HEIGHT),
                  command)
        self.socket_path = self.tmux("display-message", "-p", "#{socket_path}").strip()

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.session)

    def send(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.session, *keys)

    def wait_screen(self, text: str | re.Pattern[str], timeout: float = 10.0) -> str:
        """Poll the screen until it shows `text` (a substring or a regex); return it."""
        return self.wait(lambda s: (text.search(s) is not None) if isinstance(text, re.Pattern)
                         else text in s, repr(text), timeout)

    def wait_all(self, *texts: str, timeout: float = 10.0) -> str:
        """Poll until every one of `texts` is on the screen (the app paints in parts)."""
        return self.wait(lambda s: all(x in s for x in texts), " and ".join(map(repr, texts)),
                         timeout)

    def wait_row(self, title: str, glyph: str, timeout: float = 10.0) -> str:
        """Poll until the item list's row of `title` shows the status `glyph`."""
        return self.wait(lambda s: glyph in row(s, title), f"{glyph} on the row of {title!r}",
                         timeout)

    def wait(self, ok: object, what: str, timeout: float) -> str:
        end = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if ok(screen):  # type: ignore[operator]
                return screen
            if time.monotonic() > end:
                raise AssertionError(f"not on screen after {timeout}s: {what}\n{screen}")
            time.sleep(0.05)

    def kill(self) -> None:
        subprocess.run([*self.base, "kill-server"], capture_output=True, timeout=10, env=self.env,
                       check=False)
        if self.socket_path:  # tmux leaves its socket file behind
            Path(self.socket_path).unlink(missing_ok=True)


def row(screen: str, title: str) -> str:
    """The item list's line (inside its │ border) that shows `title`, or ''."""
    for line in screen.splitlines():
        if line.startswith("│") and title in line:
            return line
    return ""


@pytest.mark.timeout(90)
def test_tui_in_tmux_first_phase_to_finish(tmp_path: Path) -> None:
    state = tmp_path / "state"
    cmd = shlex.join(["env", f"RUNBOOK_STATE_DIR={state}", "RUNBOOK_OPERATOR=smoke",
                      *runbook_command(), "run", str(HELLO), "--env", "local"])
    # keep the pane after the app exits, to read its exit status and last words
    shell = f"cd {shlex.quote(str(tmp_path))} && {cmd}; echo \"{EXITED} $?\"; sleep 120"
    t = Tmux(f"runbook-smoke-{os.getpid()}-{uuid.uuid4().hex[:8]}", "smoke")
    try:
        t.start(shell)
        s = t.wait_all("LOCAL", "Hello runbook", "smoke@", "0/5 required done", "phase 1/2",
                       "─ Checks ─",  # the first section's title on the item list
                       "Say hello", "Look at the output", "r Run ", timeout=20)

        # too early: the phase is refused, with what blocks it
        t.send("n")
        s = t.wait_screen("Next phase refused")
        assert "say: not run yet" in s and "eyes: not confirmed" in s
        assert "phase 1/2" in s

        # run the check
        t.send("r")
        s = t.wait_row("Say hello", "✔")
        s = t.wait_screen("hello world")  # its output, in the log tab
        assert "1/5 required done" in t.screen()

        # move down (wait for the highlight to land: see the report), confirm
        t.send("Down")
        t.wait_screen("eyes: 0 lines")
        t.send("c")
        s = t.wait_row("Look at the output", "✔")
        assert "✔" in row(s, "Say hello")
        t.wait_screen("2/5 required done")

        # next phase: its first section
        t.send("n")
        s = t.wait_screen("─ Act ─")
        assert "phase 2/2" in s
        assert "How" in row(s, "How") and "Watch" in row(s, "Watch")

        # the choice: option 1 (Way A)
        t.send("c")
        s = t.wait_screen("Way B")
        assert "Way A" in s
        t.send("Enter")
        s = t.wait_row("How", "✔")
        assert "Way B" not in s
        assert "Step A for (api)" in s  # the branch of Way A

        # the branch action
        t.send("Down")
        t.wait_screen(re.compile(r"a1(\[api\])?: 0 lines"))
        t.send("r")
        s = t.wait_row("Step A for (api)", "✔")
        t.wait_screen(re.compile(r"^api$", re.M))

        # the wait item (2 s)
        t.send("Down")
        t.wait_screen("pause: 0 lines")
        t.send("r")
        s = t.wait_row("Watch", "✔", timeout=15)
        assert "5/5 required done" in t.wait_screen("5/5 required done")

        # last phase: n finishes the session
        t.send("n")
        s = t.wait_screen("completed")
        sid_match = re.search(r"session (\S+) completed", s)
        assert sid_match, s
        sid = sid_match.group(1)

        t.send("q")
        s = t.wait_screen(EXITED)
        assert f"{EXITED} 0" in s, s
        assert f"runbook report {sid}" in s
    finally:
        t.kill()

    journal = Journal(state / "journal.db")
    try:
        sessions = journal.sessions()
        assert [m.id for m in sessions] == [sid]
        meta = sessions[0]
        assert meta.operator == "smoke" and meta.env == "local" and not meta.dry_run
        events = [e for e in journal.events(sid) if e.kind is not Ev.ITEM_FACT]
    finally:
        journal.close()
    assert [(e.kind, e.item) for e in events] == [
        (Ev.SESSION_STARTED, None),
        (Ev.ITEM_STARTED, "say"), (Ev.ITEM_RESULT, "say"),
        (Ev.ITEM_CONFIRMED, "eyes"),
        (Ev.PHASE_ENTERED, None),
        (Ev.ITEM_CHOSEN, "how"),
        (Ev.ITEM_INTENT, "a1[api]"), (Ev.ITEM_RESULT, "a1[api]"),
        (Ev.ITEM_STARTED, "pause"), (Ev.ITEM_RESULT, "pause"),
        (Ev.SESSION_FINISHED, None),
    ]
    assert {e.actor.split("@")[0] for e in events} == {"smoke"}
    assert events[5].get("option") == "a"
    assert [e.get("outcome") for e in events if e.kind is Ev.ITEM_RESULT] == ["passed"] * 3
    assert events[-1].get("outcome") == "completed"

    report = subprocess.run([*runbook_command(), "report", sid], capture_output=True, text=True,
                            timeout=30, env={**os.environ, "RUNBOOK_STATE_DIR": str(state)},
                            check=False)
    assert report.returncode == 0, report.stderr
    out = report.stdout
    assert f"`{sid}`" in out and "smoke@" in out and "**Outcome:** completed" in out
    for title, status in [("Say hello", "passed"), ("Look at the output", "confirmed"),
                          ("How", "confirmed → a"), ("Step A for (api)", "passed"),
                          ("Watch", "passed")]:
        assert re.search(rf"^\| {re.escape(title)} \(`[^`]+`\) \| {re.escape(status)} \|", out,
                         re.M), (title, out)
