"""Which processes belong to a rehearsal world, proven from /proc, and stopping only those.

A pid alone proves nothing (the kernel reuses them), so a process counts as the world's
only when one of these holds:
- it is a recorded (pid, start time) pair and /proc still shows that start time;
- it runs `postgres` or `redis-server` with its working directory inside one of the
  world's folders (both servers chdir into their data directory, and nothing else of
  ours runs those binaries from there), read from /proc/PID/exe and /proc/PID/cwd;
- its environment carries the world's tag (`RUNBOOK_SANDBOX_WORLD=<random id>`), which
  every process started from the rehearsal after the world was up inherits: detached
  step supervisors and the commands of the steps.
Stopping re-checks the proof before every signal.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

TAG_VAR = "RUNBOOK_SANDBOX_WORLD"
SERVER_EXES = {"postgres": "postgres", "redis-server": "redis"}
BACKEND = "postgres backend"  # a child of a postmaster: checkpointer, walsender, a session...


@dataclass(frozen=True, slots=True)
class Proc:
    name: str  # what it is, for the user: "postgres primary", "redis", "step supervisor"
    pid: int
    started: str  # field 22 of /proc/PID/stat: the start time, in clock ticks since boot

    def alive(self) -> bool:
        return bool(self.started) and start_time(self.pid) == self.started

    def label(self) -> str:
        return f"{self.name} (pid {self.pid})"


def start_time(pid: int) -> str:
    """The process's start time from /proc/PID/stat, or "" if there is none (or a zombie)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return ""
    fields = raw[raw.rfind(")") + 2:].split()
    return fields[19] if len(fields) > 19 and fields[0] not in ("Z", "X") else ""


def proc(name: str, pid: int) -> Proc | None:
    started = start_time(pid)
    return Proc(name, pid, started) if started else None


def _pids() -> Iterator[int]:
    me = os.getpid()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and int(entry.name) != me:
            yield int(entry.name)


def tagged(tag: str) -> list[Proc]:
    """Live processes (not this one) whose environment carries the world's tag."""
    needle = f"{TAG_VAR}={tag}".encode()
    out = []
    for pid in _pids():
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if needle in env:
            name = "step supervisor" if b"_step" in cmd else "step command"
            found = proc(name, pid)
            if found is not None:
                out.append(found)
    return out


def servers_in(folders: Iterable[Path]) -> list[Proc]:
    """Live postgres and redis-server processes whose working directory is in `folders`;
    postgres postmasters (the pid in the data directory's postmaster.pid) first."""
    roots = [os.path.realpath(f) for f in folders]
    masters: list[Proc] = []
    others: list[Proc] = []
    for pid in _pids():
        try:
            exe = os.path.basename(os.readlink(f"/proc/{pid}/exe"))
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        kind = SERVER_EXES.get(exe.removesuffix(" (deleted)"))
        if kind is None or not any(cwd == r or cwd.startswith(r + os.sep) for r in roots):
            continue
        if kind == "postgres":
            master = _postmaster_pid(Path(cwd)) == pid
            found = proc(f"postgres {Path(cwd).name}" if master else BACKEND, pid)
            if found is not None:
                (masters if master else others).append(found)
        else:
            found = proc("redis", pid)
            if found is not None:
                masters.append(found)
    return masters + others


def _postmaster_pid(datadir: Path) -> int:
    try:
        return int((datadir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def stop(procs: Iterable[Proc], grace: float = 20.0) -> list[Proc]:
    """Ask each still-proven process to end (postgres: fast shutdown; a backend is ended by
    its postmaster), wait up to `grace` seconds, then SIGKILL what is left. Returns the
    processes that were running."""
    running = [p for p in procs if p.alive()]
    asked = [p for p in running if p.name != BACKEND]
    for p in asked:
        _signal(p, signal.SIGINT if p.name.startswith("postgres ") else signal.SIGTERM)
    wait_gone(asked, grace)
    wait_gone(running, 5.0)
    for p in running:
        _signal(p, signal.SIGKILL)
    wait_gone(running, 5.0)
    return running


def wait_gone(procs: Iterable[Proc], timeout: float) -> bool:
    procs = list(procs)
    end = time.monotonic() + timeout
    while any(p.alive() for p in procs):
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


def _signal(p: Proc, sig: int) -> None:
    """Signal `p` only if it is still that process: a pidfd pins the process, then its start
    time is checked, then the signal goes through the pidfd (no window for pid reuse)."""
    try:
        fd = os.pidfd_open(p.pid)
    except ProcessLookupError:
        return
    except OSError:  # no pidfd here (old kernel): check, then signal by pid
        if p.alive():
            try:
                os.kill(p.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        return
    try:
        if p.alive():
            signal.pidfd_send_signal(fd, sig)
    except (ProcessLookupError, PermissionError):
        pass
    finally:
        os.close(fd)
