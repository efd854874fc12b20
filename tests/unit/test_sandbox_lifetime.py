"""The rehearsal world's lifetime without a real world: stop signals at a prompt, during the
start and during the stop; the marker; the clean-up of orphans and what it may not touch.

The processes here are `sleep`s, some under the names of the world's servers (a copy of
the binary called `postgres` or `redis-server`, running in a folder of the world).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runbook.sandbox import marker, procs
from runbook.sandbox.lifetime import WorldLifetime
from runbook.sandbox.procs import TAG_VAR, Proc

SLEEP = shutil.which("sleep") or "/bin/sleep"


@pytest.fixture(autouse=True)
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("RUNBOOK_STATE_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state" / "runbook"


@pytest.fixture
def spawn() -> Iterator[object]:
    started: list[subprocess.Popen[bytes]] = []

    def start(argv: list[str], cwd: Path | None = None,
              env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        # the stand-ins take SIGINT as a real postgres does, even when this test runs under a
        # shell that started it in the background (which leaves SIGINT ignored, inherited)
        p = subprocess.Popen(argv, cwd=cwd, env={**os.environ, **(env or {})},
                             start_new_session=True, preexec_fn=_default_sigint)
        started.append(p)
        wait_for(lambda: procs.start_time(p.pid) != "")
        return p

    yield start
    for p in started:
        if p.poll() is None:
            p.kill()
        p.wait()


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for(ok: object, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not ok():  # type: ignore[operator]
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def gone(p: subprocess.Popen[bytes], timeout: float = 60.0) -> bool:
    try:
        p.wait(timeout)
        return True
    except subprocess.TimeoutExpired:
        return False


def dead_owner() -> Proc:
    """A (pid, start time) of a process that has ended."""
    p = subprocess.Popen([SLEEP, "0.3"])
    me = procs.proc("runbook rehearse", p.pid)
    p.wait()
    assert me is not None
    return me


def named(binary: str, tmp: Path) -> str:
    path = tmp / "bin" / binary
    path.parent.mkdir(exist_ok=True)
    shutil.copy(SLEEP, path)
    return str(path)


# -- orphans -----------------------------------------------------------------------------
def test_an_orphaned_world_is_stopped_and_nothing_else(tmp_path: Path, spawn: object,
                                                       state: Path) -> None:
    world = tmp_path / "runbook-sandbox-x"
    datadir = world / "primary"
    datadir.mkdir(parents=True)
    (world / "redis").mkdir()
    postgres = named("postgres", tmp_path)
    redis = named("redis-server", tmp_path)
    start = spawn  # type: ignore[assignment]
    master = start([postgres, "600"], cwd=datadir)  # type: ignore[operator]
    (datadir / "postmaster.pid").write_text(f"{master.pid}\n{datadir}\n")
    backend = start([postgres, "601"], cwd=datadir)  # type: ignore[operator]
    rds = start([redis, "602"], cwd=world / "redis")  # type: ignore[operator]
    tagged = start([SLEEP, "603"], env={TAG_VAR: "t0"})  # type: ignore[operator]
    # not the world's: another tag, a postgres elsewhere, a pid recorded with another start
    other_tag = start([SLEEP, "604"], env={TAG_VAR: "t1"})  # type: ignore[operator]
    elsewhere = start([postgres, "605"], cwd=tmp_path)  # type: ignore[operator]
    reused = start([SLEEP, "606"])  # type: ignore[operator]
    m = marker.Marker(state / "sandbox" / "1.json", dead_owner(), "t0", [world],
                      [Proc("postgres primary", master.pid, procs.start_time(master.pid)),
                       Proc("redis", reused.pid, "1")])  # the pid, now someone else's
    m.write()

    lines = marker.reap_orphans()

    assert len(lines) == 1, lines
    line = lines[0]
    assert line.startswith(f"stopped an orphaned rehearsal world of pid {m.owner.pid}: ")
    assert f"step command (pid {tagged.pid})" in line
    assert f"postgres primary (pid {master.pid})" in line
    assert f"redis (pid {rds.pid})" in line
    assert line.endswith(f"; removed {world}")
    assert str(backend.pid) not in line  # its postmaster's; not listed on its own
    for p in (master, rds, tagged):
        assert gone(p), p.args
    assert master.returncode == -signal.SIGINT  # PostgreSQL's fast shutdown
    assert rds.returncode == -signal.SIGTERM
    assert gone(backend)  # SIGKILLed after the grace (no postmaster to end it, here)
    for p in (other_tag, elsewhere, reused):
        assert p.poll() is None, p.args
    assert not world.exists() and not m.path.exists()


def test_a_live_world_and_a_broken_marker_are_left_alone(tmp_path: Path, state: Path) -> None:
    folder = tmp_path / "live"
    folder.mkdir()
    live = marker.new_marker("t2")  # this process owns it: a rehearsal running now
    live.folders = [folder]
    live.write()
    (state / "sandbox" / "2.json").write_text("{not json")
    lines = marker.reap_orphans()
    assert lines == [f"note: ignored {state / 'sandbox' / '2.json'}: "
                     "Expecting property name enclosed in double quotes: "
                     "line 1 column 2 (char 1)"]
    assert live.path.exists() and folder.exists()


def test_an_orphan_with_nothing_running_is_removed(tmp_path: Path, state: Path) -> None:
    m = marker.Marker(state / "sandbox" / "3.json", dead_owner(), "t3", [tmp_path / "gone"])
    m.write()
    assert json.loads(m.path.read_text())["tag"] == "t3"
    assert oct(m.path.stat().st_mode & 0o777) == "0o600"
    assert marker.reap_orphans() == [
        f"stopped an orphaned rehearsal world of pid {m.owner.pid}: no process was still running"]
    assert not m.path.exists()


# -- signals -------------------------------------------------------------------------------
class FakeWorld:
    """What WorldLifetime needs of a Sandbox: a folder, a server process, start and stop."""

    def __init__(self, root: Path, server: subprocess.Popen[bytes] | None = None,
                 during_start: object = None, during_stop: object = None) -> None:
        self.root = root
        self.root.mkdir()
        self.server = server
        self.env: dict[str, str] = {}
        self.notes: list[str] = []
        self.progress = lambda: None
        self.during_start = during_start
        self.during_stop = during_stop
        self.started_all = False
        self.stopped_all = False

    def start(self) -> FakeWorld:
        if self.during_start:
            self.during_start()  # type: ignore[operator]
        time.sleep(0.2)  # the rest of a step
        self.started_all = True
        self.progress()
        return self

    def folders(self) -> list[Path]:
        return [self.root]

    def processes(self) -> list[Proc]:
        found = procs.proc("redis", self.server.pid) if self.server else None
        return [found] if found else []

    def stop(self) -> None:
        if self.during_stop:
            self.during_stop()  # type: ignore[operator]
        time.sleep(0.2)
        if self.server is not None:
            self.server.terminate()
            self.server.wait()
        shutil.rmtree(self.root, ignore_errors=True)
        self.stopped_all = True


def kill_me(sig: int) -> None:
    os.kill(os.getpid(), sig)


def test_sigterm_at_a_prompt_stops_the_world_and_sets_the_exit_status(
        tmp_path: Path, spawn: object, state: Path) -> None:
    server = spawn([SLEEP, "607"])  # type: ignore[operator]
    world = FakeWorld(tmp_path / "w", server)
    before = signal.getsignal(signal.SIGTERM)
    reached = False
    with WorldLifetime() as life:
        life.start(world)  # type: ignore[arg-type]
        mark = json.loads(next((state / "sandbox").glob("*.json")).read_text())
        assert mark["folders"] == [str(world.root)]
        assert [p["pid"] for p in mark["processes"]] == [server.pid]
        assert world.env["RUNBOOK_SANDBOX_WORLD"] == life.tag
        kill_me(signal.SIGTERM)
        time.sleep(30)  # the prompt: the signal ends it
        reached = True
    assert not reached
    assert life.exit_code == 143 and world.stopped_all
    assert life.summary == f"stopped its world: redis (pid {server.pid}); removed {world.root}"
    assert not list((state / "sandbox").glob("*.json"))
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_signal_during_the_start_waits_for_the_step_then_stops(tmp_path: Path) -> None:
    world = FakeWorld(tmp_path / "w", during_start=lambda: kill_me(signal.SIGHUP))
    with WorldLifetime() as life:
        life.start(world)  # type: ignore[arg-type]
        raise AssertionError("not reached: the start stops at its next step boundary")
    assert world.started_all  # the step in progress was not cut short
    assert world.stopped_all and life.exit_code == 129


def test_a_signal_during_the_stop_does_not_cut_it_short(tmp_path: Path) -> None:
    world = FakeWorld(tmp_path / "w", during_stop=lambda: kill_me(signal.SIGTERM))
    with WorldLifetime() as life:
        life.start(world)  # type: ignore[arg-type]
    assert world.stopped_all and not world.root.exists()
    assert life.exit_code == 143  # the signal came as it ended: the exit says so


def test_an_error_still_stops_the_world_and_propagates(tmp_path: Path) -> None:
    world = FakeWorld(tmp_path / "w")
    with pytest.raises(RuntimeError, match="boom"), WorldLifetime() as life:
        life.start(world)  # type: ignore[arg-type]
        raise RuntimeError("boom")
    assert world.stopped_all and life.exit_code == 0


WATCHDOG = """
import asyncio, os, signal, sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_sandbox_lifetime import FakeWorld
from runbook.sandbox import lifetime

lifetime.WATCHDOG_SECONDS = 1.0
world = FakeWorld(Path({root!r}))

async def app() -> None:
    lifetime.when_stopping(lambda reason: None, lambda: True)  # an app that never exits
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.sleep(120)

with lifetime.WorldLifetime() as life:
    life.start(world)
    asyncio.run(app())
print("not reached")
"""


def test_an_app_that_does_not_exit_is_left_behind_by_the_watchdog(tmp_path: Path) -> None:
    """Asked to exit by a stop signal, the app hangs (as Textual can on a dead terminal):
    the watchdog stops the world from its own thread and leaves with 128 + the signal."""
    root = tmp_path / "w"
    code = WATCHDOG.format(tests=str(Path(__file__).parent), root=str(root))
    env = {k: v for k, v in os.environ.items() if k != "RUNBOOK_STATE_DIR"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=env, check=False)
    assert done.returncode == 143, done.stderr
    assert "not reached" not in done.stdout
    assert done.stderr.strip().splitlines()[-1] == (
        "runbook: the rehearsal was stopped by SIGTERM, the app did not exit; "
        f"stopped its world: nothing had started; removed {root}")
    assert not root.exists()
