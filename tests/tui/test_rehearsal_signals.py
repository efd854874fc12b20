"""The rehearsal world never outlives its terminal: `runbook rehearse` in tmux, ended at each
moment by closing the tmux session (the terminal hangs up: SIGHUP), by SIGTERM or by
SIGINT; then nothing of that world is left: no process (the TUI with the emulator and the
stand-in servers in it, PostgreSQL primary, replica and their backends, Redis, detached step
supervisors and step commands) and no folder. And after a `kill -9`, the next `runbook
rehearse` finds the marker and stops the orphaned world, saying what it stopped.

What belongs to the world is read from the world's marker while it runs and checked from
/proc independently of the product's own proof: the recorded pids and their children, any
process whose command line or working directory is in the world's folders, any process
whose environment carries the world's tag. Every wait polls with a generous deadline.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from runbook.journal.sqlite import Journal
from runbook.rules.events import Ev
from runbook.sandbox import servers
from tests.tui.test_tmux_smoke import TMUX, Tmux, runbook_command

pytestmark = [pytest.mark.skipif(TMUX is None, reason="tmux is not installed"),
              pytest.mark.timeout(420)]

EXITED = "rehearsal exited with status"
GONE_WITHIN = 180.0  # seconds for the whole world to go, on a loaded machine

SIGNAL_RUNBOOK = """\
runbook: 1
title: Signal rehearsal
rollback: back.yaml
variables:
  TAG: {pattern: 'v[0-9]+'}
environments:
  sandbox: {namespace: creatorbridge-sandbox}
phases:
  - id: one
    title: One
    sections:
      - id: s
        title: Steps
        items:
          - {id: long, kind: action, title: Long action, uses: shell, with: {argv: [sleep, "%(a)s"]}}
          - {id: look, kind: check, title: Long check, uses: shell, with: {argv: [sleep, "%(b)s"]}}
"""

ROLLBACK_RUNBOOK = """\
runbook: 1
title: Signal rollback
environments:
  sandbox: {namespace: creatorbridge-sandbox}
phases:
  - id: one
    title: One
    sections:
      - id: s
        title: Steps
        items:
          - {id: undo, kind: action, title: Undo it, uses: shell, with: {argv: [sleep, "%(a)s"]}}
"""


@pytest.fixture(autouse=True)
def _needs_servers() -> None:
    try:
        servers.pg_bindir()
    except servers.Unavailable as e:
        pytest.skip(str(e))


# -- what the world is, from /proc -------------------------------------------------------
def start_time(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    fields = raw[raw.rfind(")") + 2:].split()
    return "" if fields[0] in ("Z", "X") else fields[19]


def all_pids() -> Iterator[int]:
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            yield int(entry.name)


def ppid(pid: int) -> int:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(raw[raw.rfind(")") + 2:].split()[1])


@dataclass
class World:
    """A rehearsal world as its marker names it, with what /proc shows of it."""

    state: Path
    owner: int = 0
    tag: str = ""
    folders: list[str] = field(default_factory=list)
    seen: dict[int, str] = field(default_factory=dict)  # pid -> start time

    def marker(self) -> dict[str, object] | None:
        for path in (self.state / "sandbox").glob("*.json"):
            try:
                return dict(json.loads(path.read_text()))
            except (OSError, ValueError):
                return None  # being rewritten
        return None

    def wait_up(self, *names: str, timeout: float = 150.0) -> dict[str, object]:
        """Wait until the marker names the processes `names` (default: the three servers)."""
        want = set(names or ("postgres primary", "postgres replica", "redis"))
        end = time.monotonic() + timeout
        while True:
            m = self.marker()
            if m is not None and want <= {p["name"] for p in m["processes"]}:  # type: ignore[attr-defined]
                self.read(m)
                return m
            if time.monotonic() > end:
                raise AssertionError(f"the world's marker never named {sorted(want)}: {m}")
            time.sleep(0.1)

    def read(self, m: dict[str, object]) -> None:
        self.owner = int(m["owner"]["pid"])  # type: ignore[index]
        self.tag = str(m["tag"])
        self.folders = [str(f) for f in m["folders"]]  # type: ignore[attr-defined]
        self.seen[self.owner] = str(m["owner"]["started"])  # type: ignore[index]
        for p in m["processes"]:  # type: ignore[attr-defined]
            self.seen[int(p["pid"])] = str(p["started"])
        self.look()

    def look(self) -> set[int]:
        """Every live process of the world that /proc shows now (also remembered)."""
        found = {pid for pid, st in self.seen.items() if st and start_time(pid) == st}
        needle = f"RUNBOOK_SANDBOX_WORLD={self.tag}".encode()
        for pid in all_pids():
            if pid == os.getpid() or not start_time(pid):
                continue
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                cwd = os.readlink(f"/proc/{pid}/cwd")
                env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except (OSError, UnicodeDecodeError):
                continue
            if (ppid(pid) in found or needle in env
                    or any(f in cmd or cwd == f or cwd.startswith(f + "/") for f in self.folders)):
                found.add(pid)
        for pid in found:
            self.seen.setdefault(pid, start_time(pid))
        return found

    def left(self) -> tuple[list[str], list[str]]:
        procs = []
        for pid in sorted(self.look()):
            try:
                procs.append(f"{pid} {Path(f'/proc/{pid}/cmdline').read_bytes()!r}")
            except OSError:
                continue
        folders = [f for f in self.folders if os.path.exists(f)]
        markers = [str(p) for p in (self.state / "sandbox").glob("*.json")]
        return procs, folders + markers

    def wait_gone(self, timeout: float = GONE_WITHIN) -> None:
        assert self.owner and self.folders, "the world was never seen"
        end = time.monotonic() + timeout
        while True:
            procs, files = self.left()
            if not procs and not files:
                return
            if time.monotonic() > end:
                raise AssertionError(f"left after {timeout}s: processes {procs}, files {files}")
            time.sleep(0.2)

    def kill_all(self) -> None:
        """Clean-up after a failed test: SIGKILL what is left of the world, remove its folders."""
        for pid in self.look():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for f in self.folders:
            subprocess.run(["rm", "-rf", f], check=False)


# -- a rehearsal in tmux -----------------------------------------------------------------
class Rehearsal:
    def __init__(self, tmp: Path, *args: str) -> None:
        self.tmp = tmp
        self.world = World(tmp / "state" / "runbook")
        env = ["env", "-u", "RUNBOOK_STATE_DIR", f"XDG_STATE_HOME={tmp / 'state'}",
               "RUNBOOK_OPERATOR=signals"]
        self.env = env
        cmd = shlex.join([*env, *runbook_command(), "rehearse", *args])
        self.shell = f"cd {shlex.quote(str(tmp))} && {cmd}; echo \"{EXITED} $?\"; sleep 300"
        self.tmux = Tmux(f"runbook-rsig-{os.getpid()}-{uuid.uuid4().hex[:8]}", "rehearse")

    def __enter__(self) -> Rehearsal:
        self.tmux.start(self.shell)
        return self

    def __exit__(self, *exc: object) -> None:
        self.tmux.kill()
        if exc[0] is not None:
            self.world.kill_all()

    def hang_up(self) -> None:
        self.tmux.tmux("kill-session", "-t", self.tmux.session)  # the terminal closes: SIGHUP

    def signal(self, sig: int) -> None:
        os.kill(self.world.owner, sig)

    def journal_results(self) -> dict[str, dict[str, object]]:
        db = self.tmp / "state" / "runbook" / "journal.db"
        j = Journal(db)
        try:
            return {str(e.item): e.data for m in j.sessions() for e in j.events(m.id)
                    if e.kind is Ev.ITEM_RESULT}
        finally:
            j.close()


def signal_runbook(tmp: Path) -> Path:
    stamp = f"{os.getpid() % 1000}.{uuid.uuid4().int % 1000}"  # distinct from any other test's
    (tmp / "sig.yaml").write_text(SIGNAL_RUNBOOK % {"a": f"61{stamp}", "b": f"62{stamp}"})
    (tmp / "back.yaml").write_text(ROLLBACK_RUNBOOK % {"a": f"63{stamp}"})
    return tmp / "sig.yaml"


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return b""


def wait_command(r: Rehearsal | World, needle: str, timeout: float = 60.0) -> int:
    """The pid of the world's process whose command line holds `needle`, once it runs."""
    world = r.world if isinstance(r, Rehearsal) else r
    end = time.monotonic() + timeout
    while True:
        for pid in world.look():
            if needle.encode() in cmdline(pid):
                return pid
        if time.monotonic() > end:
            raise AssertionError(f"no {needle!r} in the world after {timeout}s")
        time.sleep(0.1)


def run_screen(r: Rehearsal, tag: str) -> None:
    r.tmux.wait_screen("before the run", timeout=150)
    r.tmux.send(tag, "Enter")
    r.tmux.wait_screen("required done", timeout=60)


# -- each moment -------------------------------------------------------------------------
def test_hang_up_while_the_world_starts(tmp_path: Path) -> None:
    with Rehearsal(tmp_path) as r:
        r.world.wait_up("postgres primary")  # PostgreSQL is up, the replica and Redis not yet
        r.hang_up()
        r.world.wait_gone()


def test_hang_up_at_the_setup_form(tmp_path: Path) -> None:
    with Rehearsal(tmp_path) as r:
        r.world.wait_up()
        r.tmux.wait_all("before the run", "NEW_VERSION", timeout=120)
        r.hang_up()
        r.world.wait_gone()


def test_hang_up_while_the_run_screen_shows(tmp_path: Path) -> None:
    with Rehearsal(tmp_path, "--runbook", str(signal_runbook(tmp_path))) as r:
        r.world.wait_up()
        run_screen(r, "v1")
        r.hang_up()
        r.world.wait_gone()


def test_hang_up_at_the_rollback_question_after_ctrl_q(tmp_path: Path) -> None:
    """The user's report: `make run`, quit with ctrl+q, close the terminal at [y/N]."""
    with Rehearsal(tmp_path) as r:
        r.world.wait_up()
        run_screen(r, "v2.4.3")
        r.tmux.send("C-q")
        r.tmux.wait_screen("in the same sandbox? [y/N]", timeout=60)
        r.hang_up()
        r.world.wait_gone()


def test_hang_up_at_the_quit_dialog_cancels_the_running_steps(tmp_path: Path) -> None:
    """A detached step (its supervisor in a session of its own) and a step in the TUI's
    process run; the quit dialog is up; the terminal closes. Both are cancelled with the
    reason journaled, and the supervisor and both commands are gone with the world."""
    rb = signal_runbook(tmp_path)
    with Rehearsal(tmp_path, "--runbook", str(rb)) as r:
        r.world.wait_up()
        run_screen(r, "v1")
        r.tmux.send("r")
        wait_command(r, "runbook _step")
        wait_command(r, "sleep 61")
        r.tmux.send("Down")
        r.tmux.wait_screen("look: 0 lines", timeout=30)
        r.tmux.send("r")
        wait_command(r, "sleep 62")
        r.tmux.send("q")
        r.tmux.wait_screen("item(s) running", timeout=30)
        r.hang_up()
        r.world.wait_gone()
    results = r.journal_results()
    for item in ("long", "look"):
        assert results[item]["outcome"] == "cancelled", results
        assert "the rehearsal was stopped by SIGHUP" in str(results[item]["message"]), results


def test_sigterm_at_the_rollback_question_says_what_it_stopped(tmp_path: Path) -> None:
    rb = signal_runbook(tmp_path)
    with Rehearsal(tmp_path, "--runbook", str(rb)) as r:
        r.world.wait_up()
        run_screen(r, "v1")
        r.tmux.send("q")
        r.tmux.wait_screen("(back.yaml) in the same sandbox? [y/N]", timeout=60)
        folders = list(r.world.folders)
        r.signal(signal.SIGTERM)
        s = r.tmux.wait_screen(f"{EXITED} ", timeout=GONE_WITHIN)
        r.world.wait_gone()
    flat = "".join(s.splitlines())  # the line wraps at the pane's width
    assert f"{EXITED} 143" in flat, s
    assert "runbook: SIGTERM: rehearsal stopped; stopped its world: postgres primary (pid " in flat
    for f in folders:
        assert f in flat, s
    assert "Traceback" not in flat


def test_sigint_while_the_rollback_runs(tmp_path: Path) -> None:
    """Between runbooks: `y` opens the rollback's TUI in the same world; SIGINT stops both."""
    rb = signal_runbook(tmp_path)
    with Rehearsal(tmp_path, "--runbook", str(rb)) as r:
        r.world.wait_up()
        run_screen(r, "v1")
        r.tmux.send("q")
        r.tmux.wait_screen("[y/N]", timeout=60)
        r.tmux.send("y", "Enter")
        r.tmux.wait_all("Signal rollback", "Undo it", timeout=60)
        r.tmux.send("r")
        wait_command(r, "sleep 63")
        r.signal(signal.SIGINT)
        s = r.tmux.wait_screen(f"{EXITED} ", timeout=GONE_WITHIN)
        r.world.wait_gone()
    flat = "".join(s.splitlines())
    assert f"{EXITED} 130" in flat, s
    assert "runbook: SIGINT: rehearsal stopped; stopped its world:" in flat, s
    assert r.journal_results()["undo"]["outcome"] == "cancelled"


def test_steps_left_running_end_with_the_world(tmp_path: Path) -> None:
    """No signal: the operator leaves a detached step running and declines the rollback. In
    a rehearsal its world goes, so the step is cancelled (journaled why) and the last line
    says so; the exit status is the run's."""
    rb = signal_runbook(tmp_path)
    with Rehearsal(tmp_path, "--runbook", str(rb)) as r:
        r.world.wait_up()
        run_screen(r, "v1")
        r.tmux.send("r")
        supervisor = wait_command(r, "runbook _step")
        wait_command(r, "sleep 61")
        r.tmux.send("q")
        r.tmux.wait_screen("item(s) running", timeout=30)
        r.tmux.send("l")  # leave it running
        r.tmux.wait_screen("[y/N]", timeout=60)
        r.tmux.send("n", "Enter")
        s = r.tmux.wait_screen(f"{EXITED} ", timeout=GONE_WITHIN)
        r.world.wait_gone()
    flat = "".join(s.splitlines())
    assert f"{EXITED} 0" in flat, s
    assert f"rehearsal world stopped; steps ended with it: step supervisor (pid {supervisor})" \
        in flat, s
    result = r.journal_results()["long"]
    assert result["outcome"] == "cancelled" and "the rehearsal ended" in str(result["message"])


# -- kill -9 -----------------------------------------------------------------------------
def test_kill_9_leaves_a_marker_the_next_rehearsal_cleans_up(tmp_path: Path) -> None:
    rb = signal_runbook(tmp_path)
    with Rehearsal(tmp_path, "--runbook", str(rb)) as r:
        m = r.world.wait_up()
        run_screen(r, "v1")
        r.tmux.send("r")
        supervisor = wait_command(r, "runbook _step")
        wait_command(r, "sleep 61")
        r.signal(signal.SIGKILL)
        r.tmux.wait_screen(f"{EXITED} 137", timeout=60)
        # the orphan: the servers and the detached step live on without their rehearsal
        servers_left = [int(p["pid"]) for p in m["processes"]]  # type: ignore[attr-defined]
        assert all(start_time(p) for p in servers_left)
        assert all(os.path.exists(f) for f in r.world.folders)
        assert start_time(supervisor), "the detached step's supervisor outlives a kill -9"

        # the next rehearsal cleans up first (here it then stops at a runbook that is not there)
        done = subprocess.run([*r.env, *runbook_command(), "rehearse", "--runbook",
                               str(tmp_path / "missing.yaml")], capture_output=True, text=True,
                              timeout=GONE_WITHIN, cwd=tmp_path, check=False)
        assert done.returncode == 2, done.stderr
        line = done.stderr.splitlines()[0]
        assert line.startswith(f"stopped an orphaned rehearsal world of pid {r.world.owner}: "), line
        for p in m["processes"]:  # type: ignore[attr-defined]
            assert f"{p['name']} (pid {p['pid']})" in line, line
        assert f"step supervisor (pid {supervisor})" in line, line
        assert "removed " + ", ".join(r.world.folders) in line, line
        r.world.wait_gone(timeout=30)  # it waited for them: all gone by now
    result = r.journal_results()["long"]
    assert result["outcome"] == "cancelled", result
    assert "kill -9" in str(result["message"]), result

    again = subprocess.run([*r.env, *runbook_command(), "rehearse", "--runbook",
                            str(tmp_path / "missing.yaml")], capture_output=True, text=True,
                           timeout=60, cwd=tmp_path, check=False)
    assert "orphaned" not in again.stderr  # the marker went with its world


def test_sigterm_during_a_headless_rehearsal(tmp_path: Path) -> None:
    """No terminal at all: the step runs detached, SIGTERM stops the rehearsal there."""
    rb = signal_runbook(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "RUNBOOK_STATE_DIR"}
    env.update(XDG_STATE_HOME=str(tmp_path / "state"), RUNBOOK_OPERATOR="signals")
    world = World(tmp_path / "state" / "runbook")
    proc = subprocess.Popen([*runbook_command(), "rehearse", "--headless", "--runbook", str(rb),
                             "--var", "TAG=v1"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path, env=env)
    try:
        world.wait_up()
        supervisor = wait_command(world, "runbook _step", timeout=90)
        wait_command(world, "sleep 61")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=GONE_WITHIN)
        world.wait_gone()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
            world.kill_all()
    assert proc.returncode == 143, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("runbook: SIGTERM: rehearsal stopped; stopped its world: "
                           f"step supervisor (pid {supervisor}), "), err
    assert "Traceback" not in err
    db = tmp_path / "state" / "runbook" / "journal.db"
    j = Journal(db)
    try:
        result = next(e.data for m in j.sessions() for e in j.events(m.id)
                      if e.kind is Ev.ITEM_RESULT and e.item == "long")
    finally:
        j.close()
    assert result["outcome"] == "cancelled"
    assert result["message"] == "cancelled (the rehearsal was stopped by SIGTERM)", result
