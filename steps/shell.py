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
from typing import Any

from runbook.stepkind import Outcome, Param, ParamType, StepContext, StepResult

from steps.base import BaseStep

ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
BATCH_SECONDS = 0.1
MAX_LINE = 64 * 1024


class ShellStep(BaseStep):
    name = "shell"
    doc = "run a command (argv list, no shell) or a bash script; values are quoted"
    params = (
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
        env = dict(os.environ)
        env.update(ctx.process_env)
        env.update({str(k): str(v) for k, v in dict(ctx.param("env") or {}).items()})
        cwd = ctx.param("cwd") or None
        try:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                cwd=cwd, env=env, start_new_session=True, close_fds=True,
            )
        except OSError as e:
            return StepResult(Outcome.FAILED, f"cannot start {argv[0]!r}: {e.strerror}")
        ctx.fact("pid", proc.pid)
        grace = float(ctx.param("grace", 5.0))
        deadline = time.monotonic() + ctx.timeout_s if ctx.timeout_s else None
        stopped: Outcome | None = None
        assert proc.stdout is not None
        reader = _LineReader(ctx)
        fd = proc.stdout.fileno()
        exited_at: float | None = None
        while True:
            if exited_at is None and proc.poll() is not None:
                exited_at = time.monotonic()
            elif exited_at is not None and time.monotonic() - exited_at > 0.5:
                # the command ended but something it started still holds the pipe
                _terminate_group(proc, grace)
                exited_at = float("inf")
            if stopped is None:
                if ctx.cancel.cancelled:
                    stopped = Outcome.CANCELLED
                elif deadline is not None and time.monotonic() >= deadline:
                    stopped = Outcome.TIMED_OUT
                if stopped is not None:
                    reader.flush()
                    _terminate_group(proc, grace)
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                reader.feed(chunk)
            reader.maybe_flush()
        reader.close()
        proc.stdout.close()
        code = proc.wait()
        _terminate_group(proc, grace)  # anything the command left in its group
        if stopped is Outcome.CANCELLED:
            return StepResult(stopped, f"cancelled ({ctx.cancel.reason})", code)
        if stopped is Outcome.TIMED_OUT:
            return StepResult(stopped, f"timed out after {ctx.timeout_s:g}s", code)
        if code == 0:
            return StepResult(Outcome.PASSED, "exit status 0", code)
        if code < 0:
            return StepResult(Outcome.FAILED, f"killed by {signal.Signals(-code).name}", code)
        return StepResult(Outcome.FAILED, f"exit status {code}", code)


class _LineReader:
    """Bytes -> lines, batched by time."""

    def __init__(self, ctx: StepContext) -> None:
        self.ctx = ctx
        self.partial = b""
        self.batch: list[str] = []
        self.last_flush = time.monotonic()

    def feed(self, chunk: bytes) -> None:
        data = self.partial + chunk
        parts = data.split(b"\n")
        self.partial = parts.pop()
        if len(self.partial) > MAX_LINE:
            parts.append(self.partial)
            self.partial = b""
        for raw in parts:
            self.batch.append(_clean(raw))

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


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _terminate_group(proc: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the process group, wait up to `grace`, then SIGKILL it."""
    pgid = proc.pid
    if not _group_alive(pgid):
        return
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    end = time.monotonic() + grace
    while time.monotonic() < end:
        proc.poll()  # reap the leader so it does not linger as a zombie
        if not _group_alive(pgid) or _only_zombies(pgid):
            return
        time.sleep(0.02)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.poll()


def _only_zombies(pgid: int) -> bool:
    """True when every process left in the group is a zombie (ended, not yet reaped)."""
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
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
