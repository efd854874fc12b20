"""What `exec` runs in the emulated containers: registered handlers, with prisma built in."""

from __future__ import annotations

import shlex
import threading
from collections.abc import Callable, Sequence
from typing import NamedTuple

from .common import Obj
from .faults import Faults


class ExecResult(NamedTuple):
    exit_code: int
    stdout: Sequence[str] = ()
    stderr: Sequence[str] = ()
    silent: float = 0.0  # seconds the command stays silent after printing (inf: until killed)


# A handler gets (pod, container name, command argv) and returns (exit code, stdout lines)
# or a full ExecResult (with stderr lines).
ExecHandler = Callable[[Obj, str, list[str]], ExecResult | tuple[int, Sequence[str]]]


def _app(pod: Obj) -> str:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return str(labels.get("app") or (pod.get("metadata") or {}).get("name", ""))


class Migrations:
    """Per-app prisma migration state: how many are applied, which are pending or broken."""

    def __init__(self) -> None:
        self.applied: dict[str, list[str]] = {}
        self.pending: dict[str, list[str]] = {}
        self.failing: dict[str, str] = {}  # app ("*" = every app) -> error text
        self._lock = threading.Lock()

    def add_pending(self, app: str, *names: str) -> None:
        with self._lock:
            self.pending.setdefault(app, []).extend(names)

    def fail(self, app: str = "*", error: str = "") -> None:
        with self._lock:
            self.failing[app] = error or "Error: P3018\n\nA migration failed to apply. New " \
                "migrations cannot be applied before the error is recovered from."

    def heal(self, app: str = "*") -> None:
        with self._lock:
            self.failing.pop(app, None)

    def deploy(self, pod: Obj) -> ExecResult:
        app = _app(pod)
        with self._lock:
            applied = self.applied.setdefault(app, [
                "20240115093000_init", "20240402120000_creator_profiles",
                "20240820151500_campaign_budgets"])
            pending = self.pending.pop(app, [])
            error = self.failing.get(app) or self.failing.get("*")
            head = ["Prisma schema loaded from prisma/schema.prisma",
                    f'Datasource "db": PostgreSQL database "{app.replace("-", "_")}", schema '
                    f'"public" at "postgres:5432"', "",
                    f"{len(applied) + len(pending)} migrations found in prisma/migrations", ""]
            if error:
                self.pending[app] = pending
                first = pending[0] if pending else applied[-1]
                return ExecResult(1, [*head, f"Applying migration `{first}`"],
                                  [*error.splitlines(), "", f"Migration name: {first}"])
            if not pending:
                return ExecResult(0, [*head, "", "No pending migrations to apply."])
            applied.extend(pending)
            lines = [*head, *(f"Applying migration `{m}`" for m in pending), "",
                     "The following migration(s) have been applied:", "", "migrations/"]
            for m in pending:
                lines += [f"  └─ {m}/", "    └─ migration.sql"]
            return ExecResult(0, [*lines, "", "All migrations have been successfully applied."])


class ExecRegistry:
    """Command handlers by argv prefix; the longest matching prefix wins."""

    def __init__(self, faults: Faults | None = None) -> None:
        self.faults = faults
        self.migrations = Migrations()
        self._handlers: list[tuple[tuple[str, ...], ExecHandler]] = []
        self._lock = threading.Lock()
        self.register(("npx", "prisma", "migrate", "deploy"),
                      lambda pod, _c, _cmd: self.migrations.deploy(pod))
        self.register(("npx", "prisma", "migrate", "reset"), lambda _p, _c, _cmd: ExecResult(
            0, ["Prisma schema loaded from prisma/schema.prisma", "",
                "Database reset successful"]))
        self.register(("echo",), lambda _p, _c, cmd: (0, [" ".join(cmd[1:])]))
        self.register(("true",), lambda _p, _c, _cmd: (0, []))
        self.register(("false",), lambda _p, _c, _cmd: (1, []))
        self.register(("hostname",), lambda p, _c, _cmd: (0, [p["metadata"]["name"]]))
        self.register(("env",), _env)
        for shell in ("sh", "bash", "/bin/sh", "/bin/bash"):
            self.register((shell, "-c"), self._shell)

    def register(self, prefix: Sequence[str] | str, handler: ExecHandler) -> None:
        key = tuple(shlex.split(prefix)) if isinstance(prefix, str) else tuple(prefix)
        with self._lock:
            self._handlers = [(k, h) for k, h in self._handlers if k != key]
            self._handlers.append((key, handler))

    def run(self, pod: Obj, container: str, command: list[str]) -> ExecResult:
        injected = self.faults.exec_failure(_app(pod), command) if self.faults else None
        if injected is not None:
            return ExecResult(injected[0], (), injected[1].splitlines())
        hang = self.faults.exec_hang(_app(pod), command) if self.faults else None
        if hang is not None:
            return ExecResult(0, hang[0], (), hang[1])
        with self._lock:
            matches = [(k, h) for k, h in self._handlers if tuple(command[:len(k)]) == k]
        if not matches:
            name = command[0] if command else ""
            return ExecResult(127, (), [f"{name}: command not found"])
        _key, handler = max(matches, key=lambda kh: len(kh[0]))
        result = handler(pod, container, list(command))
        if isinstance(result, ExecResult):
            return result
        code, lines = result
        return ExecResult(code, list(lines))

    def _shell(self, pod: Obj, container: str, command: list[str]) -> ExecResult:
        script = command[2] if len(command) > 2 else ""
        words = shlex.split(script)
        if words[:1] == ["exit"]:
            return ExecResult(int(words[1]) if len(words) > 1 else 0)
        return self.run(pod, container, words) if words else ExecResult(0)


def _env(pod: Obj, container: str, _cmd: list[str]) -> ExecResult:
    spec: Obj = next((c for c in (pod.get("spec") or {}).get("containers") or []
                 if c.get("name") == container), {})
    lines = [f"HOSTNAME={pod['metadata']['name']}"]
    lines += [f"{e['name']}={e.get('value', '')}" for e in spec.get("env") or [] if "name" in e]
    return ExecResult(0, lines)
