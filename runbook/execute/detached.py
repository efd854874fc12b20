"""Steps that outlive the terminal: a detached supervisor process per long mutating step.

The driver spawns `runbook _step` in a session of its own (no controlling terminal,
so a dropped SSH connection's SIGHUP never reaches it), hands it the session's values
over a pipe (secrets never travel on a command line), and watches: it tails the
item's log file for the log pane, folds in the events the supervisor journals, and
sends SIGTERM to cancel. The supervisor writes intent, facts and result to the
journal itself, so the step's result lands even when nobody is watching any more.
A `running/<item>.json` file in the session folder names the live supervisor (only
the one holding the item's `running/<item>.lock` writes it); a resumed session
re-attaches to it, or finds its result in the journal.

A cancel may come at any moment of the start. The supervisor is spawned with SIGTERM and
SIGINT blocked (the mask survives exec), so a cancel sent before its handlers exist waits
for them instead of killing it unannounced; one that arrives before it took the item makes
it exit NOT_STARTED having done nothing, and the driver journals the cancelled run itself.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runbook.execute.itemlog import Listener
from runbook.files.paths import log_name

POLL_SECONDS = 0.1  # how often the watcher tails the log and looks for the result
REFUSED = 3  # exit status of a supervisor refused its item (the rules, or another one runs it)
NOT_STARTED = 4  # exit status of a supervisor cancelled before it took the item: it did nothing
CANCEL_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})  # blocked until its handlers exist
TAIL_LINES = 500  # lines of an existing log shown when re-attaching


@dataclass(frozen=True, slots=True)
class Supervisor:
    item_id: str
    pid: int
    started: str  # the process's start time (from /proc), guarding against pid reuse


def pidfile(session_dir: Path, item_id: str) -> Path:
    return session_dir / "running" / (log_name(item_id)[:-4] + ".json")


def claim(session_dir: Path, item_id: str) -> int | None:
    """Lock running/<item>.lock for this supervisor's lifetime (the kernel drops the lock however the
    process ends); None while another supervisor holds it. Only the holder writes the item's pid
    file: a second supervisor for the same item must not overwrite, then delete, the first one's."""
    path = pidfile(session_dir, item_id).with_suffix(".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o666)  # not inherited by the step (PEP 446)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def write_pidfile(session_dir: Path, item_id: str) -> Path:
    path = pidfile(session_dir, item_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"item": item_id, "pid": os.getpid(),
                               "started": _start_time(os.getpid())}))
    os.replace(tmp, path)
    return path


def live_supervisor(session_dir: Path, item_id: str) -> Supervisor | None:
    """The supervisor still running `item_id`, if any."""
    try:
        data = json.loads(pidfile(session_dir, item_id).read_text())
        sup = Supervisor(str(data["item"]), int(data["pid"]), str(data["started"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return sup if sup.started and _start_time(sup.pid) == sup.started else None


def live_supervisors(session_dir: Path) -> list[Supervisor]:
    out = []
    for path in sorted((session_dir / "running").glob("*.json")):
        try:
            item = str(json.loads(path.read_text())["item"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        sup = live_supervisor(session_dir, item)
        if sup is not None:
            out.append(sup)
    return out


def spawn(spec: dict[str, Any], session_dir: Path) -> subprocess.Popen[bytes]:
    """Start the supervisor for spec['item'], detached from this terminal."""
    errors = session_dir / "running" / (log_name(str(spec["item"]))[:-4] + ".err")
    errors.parent.mkdir(parents=True, exist_ok=True)
    reason_file(session_dir, str(spec["item"])).unlink(missing_ok=True)  # an earlier cancel's
    # the child inherits this thread's signal mask across fork and exec: a cancel that comes
    # before its handlers are installed stays pending for them (see supervisor.supervise)
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, CANCEL_SIGNALS)
    try:
        with open(errors, "ab") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "runbook", "_step"], stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL, stderr=err, start_new_session=True, close_fds=True,
                cwd=os.getcwd(),
            )
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    assert proc.stdin is not None
    try:
        proc.stdin.write(json.dumps(spec).encode())
        proc.stdin.close()
    except BrokenPipeError:
        pass
    return proc


def reason_file(session_dir: Path, item_id: str) -> Path:
    return session_dir / "running" / (log_name(item_id)[:-4] + ".cancel")


def stop(pid: int, reason: str = "", session_dir: Path | None = None, item_id: str = "") -> None:
    """Ask a supervisor to cancel its step (it ends the step's process group itself); the
    reason goes in a file beside its pid file, for its result message."""
    if reason and session_dir is not None:
        try:
            reason_file(session_dir, item_id).write_text(reason)
        except OSError:
            pass
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass


def alive(pid: int, proc: subprocess.Popen[bytes] | None = None) -> bool:
    if proc is not None:
        return proc.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _start_time(pid) != ""


class LogTail:
    """Follows an item's log file, handing new complete lines to a listener in batches."""

    def __init__(self, path: Path, item_id: str, listener: Listener | None,
                 from_end: bool, backlog: int = 0) -> None:
        self.path = path
        self.item_id = item_id
        self.listener = listener
        self.offset = path.stat().st_size if from_end and path.exists() else 0
        self.partial = b""
        self.backlog = backlog  # on re-attach: show only the last lines of what exists
        self.error = ""  # why the listener was dropped, if it was

    def poll(self) -> None:
        if self.listener is None:
            return
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read(1 << 22)
        except FileNotFoundError:
            return
        if not chunk:
            return
        self.offset += len(chunk)
        lines = (self.partial + chunk).split(b"\n")
        self.partial = lines.pop()
        text = [ln.decode("utf-8", "replace") for ln in lines]
        if self.backlog:
            text, self.backlog = text[-self.backlog:], 0
        if text:
            try:
                self.listener(self.item_id, text)
            except Exception as e:  # a broken view must not touch the step: stop showing
                self.listener = None
                self.error = f"{type(e).__name__}: {e}"


def watch(pid: int, proc: subprocess.Popen[bytes] | None, tail: LogTail,
          done: Callable[[], bool], cancelled: Callable[[], bool], sync: Callable[[], object],
          leave: Callable[[], bool] = lambda: False,
          stop_step: Callable[[], None] | None = None) -> str:
    """Follow a supervisor until its result is journaled or it dies.

    Returns "done", "left" (the caller walked away; the step runs on) or "died".
    """
    stopped = False
    while True:
        tail.poll()
        sync()
        if done():
            sync()  # the result may have landed just after that sync: the caller's state holds it
            tail.poll()
            return "done"
        if leave():
            return "left"
        if cancelled() and not stopped:
            (stop_step or (lambda: stop(pid)))()
            stopped = True
        if not alive(pid, proc):
            time.sleep(POLL_SECONDS)  # its last commit may be a moment behind its exit
            sync()
            tail.poll()
            return "done" if done() else "died"
        time.sleep(POLL_SECONDS)


def _start_time(pid: int) -> str:
    """Field 22 of /proc/PID/stat (start time in clock ticks), or "" if no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    fields = raw[raw.rfind(")") + 2:].split()
    return fields[19] if len(fields) > 19 and fields[0] != "Z" else ""
