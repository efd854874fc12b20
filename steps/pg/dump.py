"""pg.backup and pg.restore: pg_dump -Fc and pg_restore as subprocesses, cancellable.

Each tool runs in its own process group (SIGTERM to the group on cancel or timeout, SIGKILL
after a grace period, like the `shell` kind); its output is streamed line by line. The
password goes through PGPASSWORD, never argv: the connection string on the command line has
none. A dump is written to `<file>.partial` and renamed only once pg_dump has succeeded, so
a cancelled or failed backup never leaves a plausible-looking file behind.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from runbook.execute.stepkind import Outcome, OutputSink, StepContext, StepResult
from runbook.format.durations import DurationError, parse_duration
from runbook.format.params import Param, ParamType
from steps.pg.base import (
    CONN_PARAMS,
    PgError,
    PgStep,
    Target,
    connect_timeout,
    human_bytes,
    shown_url,
    target,
)
from steps.shell import run_process

MAGIC = b"PGDMP"  # the first bytes of a pg_dump custom-format archive
GRACE = Param("grace", ParamType.DURATION, default=10.0,
              doc="seconds between SIGTERM and SIGKILL on cancel or timeout")


class _Tail:
    """Forwards output lines and remembers the last few, for the result message."""

    def __init__(self, sink: OutputSink) -> None:
        self.sink = sink
        self.last: list[str] = []

    def write_lines(self, lines: Iterable[str]) -> None:
        batch = list(lines)
        self.last = (self.last + [line for line in batch if line.strip()])[-5:]
        self.sink.write_lines(batch)


def tool(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        raise PgError(f"{name} not found (install the PostgreSQL client: postgresql-client)")
    return found


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def run_tool(ctx: StepContext, t: Target, argv: list[str]) -> tuple[Outcome | None, int, str]:
    """Run a libpq tool; returns (CANCELLED/TIMED_OUT or None, exit status, last output line)."""
    try:
        grace = parse_duration(ctx.param("grace", 10.0))
    except DurationError as e:
        raise PgError(f"grace: {e}") from None
    env = {**os.environ, **ctx.process_env, "PGCONNECT_TIMEOUT": str(connect_timeout(ctx))}
    if t.password:
        env["PGPASSWORD"] = t.password
    tail = _Tail(ctx.output)
    try:
        stopped, code = run_process(dataclasses.replace(ctx, output=tail), argv, env, None, grace)
    except OSError as e:
        raise PgError(f"cannot start {argv[0]}: {e.strerror or e}") from None
    return stopped, code, ctx.redact(tail.last[-1]) if tail.last else ""


def stopped_result(ctx: StepContext, stopped: Outcome, code: int, what: str) -> StepResult:
    if stopped is Outcome.TIMED_OUT:
        return StepResult(stopped, f"timed out after {ctx.timeout_s or 0:g}s; {what}", code)
    return StepResult(stopped, f"cancelled ({ctx.cancel.reason}); {what}", code)


class PgBackup(PgStep):
    name = "pg.backup"
    detach = True
    doc = "pg_dump -Fc into the session folder; file, size and SHA-256 journaled"
    read_only = False
    params: ClassVar[tuple[Param, ...]] = (
        Param("url", ParamType.STR, True),
        Param("file", ParamType.STR, default="backup.dump", doc="name in the session folder"),
        GRACE, *CONN_PARAMS,
    )

    def describe(self, params: Mapping[str, Any]) -> str:
        url = shown_url(str(params.get("url", "")))
        return f"pg_dump -Fc {url} > {params.get('file') or 'backup.dump'}"

    def run_pg(self, ctx: StepContext) -> StepResult:
        t = target(ctx)
        path = ctx.session_dir / str(ctx.param("file") or "backup.dump")
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        argv = [tool("pg_dump"), "-Fc", "--verbose", "--no-password", "-f", str(partial),
                "-d", t.conninfo]
        ctx.output.write_lines([f"pg_dump -Fc {t.shown} -> {path}"])
        stopped, code, last = run_tool(ctx, t, argv)
        if stopped is not None or code != 0:
            partial.unlink(missing_ok=True)
            if stopped is not None:
                return stopped_result(ctx, stopped, code, "partial dump removed")
            return StepResult(Outcome.FAILED, f"pg_dump of {t.shown} failed (exit status "
                              f"{code}): {last}", code)
        size = partial.stat().st_size if partial.exists() else 0
        if size == 0:
            partial.unlink(missing_ok=True)
            return StepResult(Outcome.FAILED, f"pg_dump of {t.shown} wrote nothing", code)
        os.replace(partial, path)
        digest = sha256_of(path)
        ctx.output.write_lines([f"wrote {path} ({size} bytes)", f"sha256 {digest}"])
        return StepResult(Outcome.PASSED, f"dumped {t.dbname} to {path.name} "
                          f"({human_bytes(size)}, sha256 {digest[:12]})", code,
                          {"file": str(path), "bytes": size, "sha256": digest,
                           "database": t.dbname, "server": t.shown})


class PgRestore(PgStep):
    name = "pg.restore"
    detach = True
    doc = "pg_restore --clean --if-exists a pg_dump -Fc archive (always confirmed first)"
    read_only = False
    params: ClassVar[tuple[Param, ...]] = (
        Param("url", ParamType.STR, True),
        Param("file", ParamType.STR, True,
              doc="the archive: absolute, or relative to the working directory or the session "
                  "folder"),
        Param("single_transaction", ParamType.BOOL, default=False,
              doc="all or nothing (pg_restore --single-transaction)"),
        GRACE, *CONN_PARAMS,
    )

    def describe(self, params: Mapping[str, Any]) -> str:
        url = shown_url(str(params.get("url", "")))
        return f"pg_restore --clean --if-exists -d {url} {params.get('file', '')}"

    def run_pg(self, ctx: StepContext) -> StepResult:
        t = target(ctx)
        if not str(ctx.param("file") or "").strip():
            return StepResult(Outcome.FAILED, "file: no backup file given (is BACKUP_FILE set?)")
        raw = Path(str(ctx.param("file")))
        tried = [raw] if raw.is_absolute() else [Path.cwd() / raw, ctx.session_dir / raw]
        path = next((p for p in tried if p.is_file()), None)
        if path is None:
            return StepResult(Outcome.FAILED, "backup file not found: "
                              + ", ".join(str(p) for p in tried))
        with open(path, "rb") as f:
            if f.read(len(MAGIC)) != MAGIC:
                return StepResult(Outcome.FAILED, f"{path} is not a pg_dump -Fc archive")
        size, digest = path.stat().st_size, sha256_of(path)
        facts = {"file": str(path), "bytes": size, "sha256": digest, "database": t.dbname,
                 "server": t.shown}
        argv = [tool("pg_restore"), "--clean", "--if-exists", "--verbose", "--no-password",
                *(["--single-transaction"] if ctx.param("single_transaction") else []),
                "-d", t.conninfo, str(path)]
        ctx.output.write_lines([f"pg_restore {path} ({size} bytes, sha256 {digest}) -> {t.shown}"])
        stopped, code, last = run_tool(ctx, t, argv)
        if stopped is not None:
            return stopped_result(ctx, stopped, code, f"{t.dbname} may be partly restored")
        if code != 0:
            return StepResult(Outcome.FAILED, f"pg_restore into {t.shown} failed (exit status "
                              f"{code}): {last}", code, facts)
        return StepResult(Outcome.PASSED, f"restored {path.name} into {t.dbname} "
                          f"({human_bytes(size)}, sha256 {digest[:12]})", code, facts)
