"""The base of the PostgreSQL kinds: whom to connect to, with what password, within what time.

Passwords never leave this module in readable form: a password in the URL (or a conninfo
`password=`) is registered as a secret before the URL is even parsed, removed from the
connection string, and handed to libpq separately (as a keyword to psycopg, through
PGPASSWORD to pg_dump and pg_restore). What is shown is `user@host:port/db`.

psycopg is imported inside the functions that connect, never at module import.
"""

from __future__ import annotations

import getpass
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from runbook.execute.stepkind import Outcome, StepContext, StepResult
from runbook.format.durations import DurationError, parse_duration
from runbook.format.params import Param, ParamType
from runbook.rules.redact import MASK, strip_url_password, url_passwords
from steps.base import BaseStep

if TYPE_CHECKING:
    import psycopg

PW_KEYWORD = re.compile(r"(?P<pre>\bpassword\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|\S+)")
QUERY_TIMEOUT_S = 30.0  # statement_timeout and tcp_user_timeout of every session

CONN_PARAMS: tuple[Param, ...] = (
    Param("password_env", ParamType.STR,
          doc="environment variable holding the password (default: the URL's, PGPASSWORD, "
              "~/.pgpass)"),
    Param("connect_timeout", ParamType.DURATION, default=10.0,
          doc="how long to wait for a connection (at least 2s)"),
)


class PgError(Exception):
    """A failure worth one clear line (already free of passwords)."""


@dataclass(frozen=True, slots=True)
class Target:
    conninfo: str  # key=value, without any password
    password: str | None  # None: libpq finds it (PGPASSWORD, ~/.pgpass) or needs none
    shown: str  # user@host:port/db
    dbname: str


def shown_url(url: str) -> str:
    """`url` without its password, for display before anything is parsed."""
    text = strip_url_password(url)
    return PW_KEYWORD.sub(lambda m: m.group("pre") + MASK, text)


def register_secrets(ctx: StepContext, text: str) -> None:
    for pw in url_passwords(text):
        ctx.secret(pw)
        ctx.secret(unquote(pw))
    for m in PW_KEYWORD.finditer(text):
        ctx.secret(m.group("pw"))
        ctx.secret(m.group("pw").strip("'"))


def target(ctx: StepContext, param: str = "url") -> Target:
    """The server named by parameter `param`, its password resolved (and registered)."""
    from psycopg import Error as PsycopgError
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    url = str(ctx.param(param) or "")
    register_secrets(ctx, url)
    try:
        parts: dict[str, Any] = dict(conninfo_to_dict(url))
    except PsycopgError as e:
        raise PgError(f"{param}: not a valid PostgreSQL URL: {one_line(ctx, e)}") from None
    password = parts.pop("password", None)
    env_name = str(ctx.param("password_env") or "")
    if env_name:
        password = ctx.process_env.get(env_name) or os.environ.get(env_name)
        if not password:
            raise PgError(f"password_env: environment variable {env_name} is not set")
    elif not password:
        password = ctx.process_env.get("PGPASSWORD") or None
    if password:
        ctx.secret(str(password))
    user = str(parts.get("user") or getpass.getuser())
    db = str(parts.get("dbname") or user)
    shown = f"{user}@{parts.get('host') or 'localhost'}:{parts.get('port') or 5432}/{db}"
    return Target(make_conninfo(**parts), str(password) if password else None, shown, db)


def connect_timeout(ctx: StepContext) -> int:
    try:
        seconds = parse_duration(ctx.param("connect_timeout", 10.0))
    except DurationError as e:
        raise PgError(f"connect_timeout: {e}") from None
    return max(2, math.ceil(seconds))  # libpq's minimum


def connect(ctx: StepContext, t: Target, role: str = "") -> psycopg.Connection[Any]:
    """An autocommit session with a connect timeout, TCP keepalives and a statement timeout."""
    import psycopg

    ms = int(QUERY_TIMEOUT_S * 1000)
    kwargs: dict[str, Any] = {
        "connect_timeout": connect_timeout(ctx), "application_name": "runbook",
        "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3,
        "tcp_user_timeout": ms,
    }
    if t.password:
        kwargs["password"] = t.password
    try:
        conn = psycopg.connect(t.conninfo, autocommit=True, **kwargs)
    except psycopg.Error as e:
        raise PgError(f"{role + ' ' if role else ''}{t.shown}: cannot connect: "
                      f"{connect_reason(ctx, e)}") from None
    conn.execute("SELECT set_config('statement_timeout', %s, false)", (f"{ms}ms",))
    return conn


def connect_reason(ctx: StepContext, e: Exception) -> str:
    text = one_line(ctx, e)
    low = text.lower()
    if "connection refused" in low:
        return "connection refused (is the server down?): " + text
    if "timeout expired" in low or "timed out" in low:
        return "no answer in time (timeout): " + text
    if "password authentication failed" in low or "no password supplied" in low:
        return "authentication failed (wrong or missing password?): " + text
    return text


def one_line(ctx: StepContext, e: BaseException | str) -> str:
    """An error as one line, secrets masked."""
    text = " ".join(str(e).split())
    if text.startswith("connection failed: "):
        text = text[len("connection failed: "):]
    return ctx.redact(text)


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


class PgStep(BaseStep):
    """Runs `run_pg`; a PgError or a psycopg error becomes a FAILED result with one clear line."""

    def describe(self, params: Mapping[str, Any]) -> str:
        shown = {k: shown_url(str(v)) if k.endswith("url") else v for k, v in params.items()
                 if k not in ("password_env", "connect_timeout")}
        return super().describe(shown)

    def run(self, ctx: StepContext) -> StepResult:
        import psycopg

        try:
            return self.run_pg(ctx)
        except PgError as e:
            return StepResult(Outcome.FAILED, ctx.redact(str(e)))
        except psycopg.Error as e:
            return StepResult(Outcome.FAILED, f"query failed: {one_line(ctx, e)}")

    def run_pg(self, ctx: StepContext) -> StepResult:
        raise NotImplementedError
