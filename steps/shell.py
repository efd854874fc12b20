"""The `shell` kind: a subprocess in its own process group.

Output (stdout and stderr together) is read on the caller's thread, split
into lines, stripped of ANSI escapes and handed to the output sink in
time-based batches. Timeout and cancel send SIGTERM to the whole group, then
SIGKILL after a grace period; when the main process ends, whatever it left
in its group is ended too, so no process outlives its step.
"""

from __future__ import annotations

import os
import re
import select
import shlex
import signal
import subprocess
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from runbook.execute.stepkind import Outcome, StepContext, StepResult
from runbook.format.durations import DurationError, parse_duration
from runbook.format.params import Param, ParamType
from steps.base import BaseStep

ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
BATCH_SECONDS = 0.1  # output reaches the sink at most this often
POLL_SECONDS = 0.05  # how often cancel and timeout are checked
LINGER = 0.5  # how long leftovers may hold the pipe after the command ends
MAX_LINE = 64 * 1024


class ShellStep(BaseStep):
    name = "shell"
    detach = True
    doc = "run a command (argv list, no shell) or a bash script; values are quoted"
    params: ClassVar[tuple[Param, ...]] = (
        Param("argv", ParamType.STR_LIST, doc="program and arguments; each stays one argument"),
        Param("script", ParamType.STR, shell_quoted=True,
              doc="bash script; every ${...} value is shell-quoted"),
        Param("cwd", ParamType.STR, doc="working directory"),
        Param("env", ParamType.MAP, doc="extra environment variables"),
        Param("grace", ParamType.DURATION, default=5.0,
              doc="seconds between SIGTERM and SIGKILL on timeout or cancel"),
    )

    def check(self, params: Mapping[str, Any]) -> list[str]:
        has_argv, has_script = bool(params.get("argv")), bool(params.get("script"))
        if has_argv == has_script:
            return ["shell needs exactly one of 'argv' or 'script'"]
        return []

    def describe(self, params: Mapping[str, Any]) -> str:
        if params.get("argv"):
            return shlex.join(str(a) for a in params["argv"])
        return str(params.get("script", "")).strip()

    def run(self, ctx: StepContext) -> StepResult:
        argv = [str(a) for a in ctx.param("argv") or ()] or ["bash", "-c", str(ctx.param("script"))]
        extra = {**ctx.process_env, **{str(k): str(v) for k, v in (ctx.param("env") or {}).items()}}
        env = {**os.environ, **extra} if extra else None  # None: inherit, without copying
        cwd = str(ctx.param("cwd") or "") or None
        if cwd is not None and not os.path.isdir(cwd):
            return StepResult(Outcome.FAILED, f"working directory {cwd!r} does not exist")
        try:
            grace = parse_duration(ctx.param("grace", 5.0))
        except DurationError as e:
            return StepResult(Outcome.FAILED, f"grace: {e}")
        try:
            stopped, code = run_process(ctx, argv, env, cwd, grace)
        except OSError as e:
            why = "program not found" if isinstance(e, FileNotFoundError) else e.strerror or str(e)
            return StepResult(Outcome.FAILED, f"cannot start {argv[0]!r}: {why}")
        if stopped is Outcome.CANCELLED:
            return StepResult(stopped, f"cancelled ({ctx.cancel.reason})", code)
        if stopped is Outcome.TIMED_OUT:
            return StepResult(stopped, f"timed out after {ctx.timeout_s or 0:g}s", code)
        if code == 0:
            return StepResult(Outcome.PASSED, "exit status 0", code)
        if code < 0:
            return StepResult(Outcome.FAILED, f"killed by {_signame(-code)}", code)
        return StepResult(Outcome.FAILED, f"exit status {code}", code)


def run_process(ctx: StepContext, argv: list[str], env: dict[str, str] | None,
                cwd: str | None, grace: float) -> tuple[Outcome | None, int]:
    """Run argv in its own process group, streaming its output to ctx.output.

    Returns (CANCELLED, TIMED_OUT or None, exit status); raises OSError if it cannot start.
    Nothing it started is left running afterwards.
    """
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, cwd=cwd, env=env, start_new_session=True,
                            close_fds=True)
    ctx.fact("pid", proc.pid)
    try:
        stopped = _pump(proc, ctx, grace)
    except BaseException:  # e.g. the output sink failed: leave nothing running
        _terminate_group(proc, 0.0)
        proc.wait()
        raise
    code = proc.wait()
    _terminate_group(proc, grace)  # anything the command left in its group
    return stopped, code


def _pump(proc: subprocess.Popen[bytes], ctx: StepContext, grace: float) -> Outcome | None:
    """Read output until the command has ended and its pipe is closed (or abandoned).

    Returns CANCELLED or TIMED_OUT if the command was stopped, else None. Waits on the pipe
    and (where the OS has pidfds) on the process's exit at once, never longer than a poll
    interval without checking cancel and timeout.
    """
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    exit_fd = _pidfd(proc.pid)
    if exit_fd is not None:
        poller.register(exit_fd, select.POLLIN)  # readable once the process has ended
    reader = _LineReader(ctx)
    deadline = time.monotonic() + ctx.timeout_s if ctx.timeout_s else None
    stopped: Outcome | None = None
    eof = False
    exited_at: float | None = None
    swept_at: float | None = None  # when leftovers holding the pipe were ended
    try:
        while True:
            now = time.monotonic()
            if proc.poll() is not None:
                if eof:
                    break
                if exited_at is None:
                    exited_at = now
                    if exit_fd is not None:
                        poller.unregister(exit_fd)  # stays readable: would spin
                elif swept_at is None and now - exited_at > LINGER:
                    # the command ended but something it started still holds the pipe
                    reader.flush()
                    _terminate_group(proc, grace)
                    swept_at = time.monotonic()
                elif swept_at is not None and now - swept_at > LINGER:
                    break  # held by a process outside the group: stop reading
            if stopped is None:
                if ctx.cancel.cancelled:
                    stopped = Outcome.CANCELLED
                elif deadline is not None and now >= deadline:
                    stopped = Outcome.TIMED_OUT
                if stopped is not None:
                    reader.flush()
                    _terminate_group(proc, grace)
            if eof and exit_fd is None:  # the pipe is closed but the command runs on
                try:
                    proc.wait(timeout=POLL_SECONDS)
                except subprocess.TimeoutExpired:
                    pass
            elif any(f == fd for f, _ in poller.poll(POLL_SECONDS * 1000)):
                chunk = os.read(fd, 1 << 16)
                if chunk:
                    reader.feed(chunk)
                else:
                    eof = True
                    poller.unregister(fd)
            reader.maybe_flush()
    finally:
        reader.close()
        proc.stdout.close()
        if exit_fd is not None:
            os.close(exit_fd)
    return stopped


class _LineReader:
    """Bytes -> lines, batched by time."""

    def __init__(self, ctx: StepContext) -> None:
        self.ctx = ctx
        self.partial = b""
        self.batch: list[str] = []
        self.last_flush = time.monotonic()

    def feed(self, chunk: bytes) -> None:
        lines = (self.partial + chunk).split(b"\n")
        self.partial = lines.pop()
        if len(self.partial) > MAX_LINE:
            lines.append(self.partial)
            self.partial = b""
        self.batch.extend(map(_clean, lines))

    def maybe_flush(self) -> None:
        if self.batch and time.monotonic() - self.last_flush >= BATCH_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self.batch:
            self.ctx.output.write_lines(self.batch)
            self.batch = []
        self.last_flush = time.monotonic()

    def close(self) -> None:
        if self.partial:
            self.batch.append(_clean(self.partial))
            self.partial = b""
        self.flush()


def _clean(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace").rstrip("\r")
    return ANSI.sub("", text) if "\x1b" in text else text


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # not Linux >= 5.3
        return None


def _signame(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


def _terminate_group(proc: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the process group, wait up to `grace`, then SIGKILL it and see it gone."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):  # nothing (of ours) left in the group
            return
        end = time.monotonic() + wait
        while time.monotonic() < end:
            proc.poll()  # reap the leader so it does not linger as a zombie
            if _only_zombies(proc.pid):
                return
            time.sleep(0.02)


def _only_zombies(pgid: int) -> bool:
    """True when every process left in the group is a zombie (ended, not yet reaped)."""
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:  # no /proc: wait out the grace period
        return False
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read().decode("ascii", "replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 3 and int(fields[2]) == pgid and fields[0] != "Z":
            return False
    return True
