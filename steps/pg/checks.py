"""PostgreSQL checks: connect, pool sizing against max_connections, connection-count stability.

Replication is in replication.py, backup and restore in dump.py; the shared connection
handling (timeouts, passwords kept out of sight) in base.py.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, ClassVar

from runbook.execute.stepkind import Outcome, StepContext, StepResult
from runbook.format.durations import DurationError, format_duration, parse_duration
from runbook.format.params import Param, ParamType
from steps.base import time_scale
from steps.pg.base import CONN_PARAMS, PgError, PgStep, connect, target

URL = Param("url", ParamType.STR, True, doc="postgresql://user@host:port/db (no password in it)")


class PgConnect(PgStep):
    name = "pg.connect"
    doc = "connect (with a timeout) and run SELECT 1; report the server version"
    params: ClassVar[tuple[Param, ...]] = (URL, *CONN_PARAMS)

    def run_pg(self, ctx: StepContext) -> StepResult:
        t = target(ctx)
        started = time.monotonic()
        with connect(ctx, t) as conn:
            conn.execute("SELECT 1").fetchone()
            row = conn.execute("SELECT current_setting('server_version'), current_user, "
                               "pg_is_in_recovery()").fetchone()
        assert row is not None
        version, user, standby = str(row[0]), str(row[1]), bool(row[2])
        ms = round((time.monotonic() - started) * 1000)
        role = "standby (read-only)" if standby else "primary (read-write)"
        ctx.output.write_lines([f"connected to {t.shown} in {ms} ms", f"PostgreSQL {version}",
                                f"user {user}, database {t.dbname}, {role}"])
        return StepResult(Outcome.PASSED, f"PostgreSQL {version} at {t.shown}: SELECT 1 ok "
                          f"({ms} ms)", facts={"server_version": version, "standby": standby})


class PgPool(PgStep):
    name = "pg.pool"
    doc = "pool_size x instances (+ surge) fits under max_connections minus the reserved ones"
    params: ClassVar[tuple[Param, ...]] = (
        URL,
        Param("pool_size", ParamType.INT, True, doc="connections per application instance"),
        Param("instances", ParamType.INT, default=1, doc="application instances (pods)"),
        Param("surge", ParamType.INT, default=0,
              doc="extra instances alive during a rollout (old and new pods overlap)"),
        *CONN_PARAMS,
    )

    def check(self, params: Mapping[str, Any]) -> list[str]:
        errors = []
        for name, low in (("pool_size", 1), ("instances", 1), ("surge", 0)):
            v = params.get(name)
            if isinstance(v, int) and v < low:
                errors.append(f"pg.pool: {name} must be at least {low}, not {v}")
        return errors

    def run_pg(self, ctx: StepContext) -> StepResult:
        pool, n = int(ctx.param("pool_size")), int(ctx.param("instances", 1) or 1)
        surge = int(ctx.param("surge", 0) or 0)
        t = target(ctx)
        with connect(ctx, t) as conn:
            row = conn.execute(
                "SELECT current_setting('max_connections')::int,"
                " current_setting('superuser_reserved_connections')::int,"
                " coalesce(current_setting('reserved_connections', true), '0')::int,"
                " (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')"
            ).fetchone()
        assert row is not None
        max_conn, su_reserved, reserved, in_use = (int(v) for v in row)
        available = max_conn - su_reserved - reserved
        needed = pool * (n + surge)
        how = f"{pool} x {n} instances" + (f" + {surge} surge" if surge else "")
        minus = f"max_connections {max_conn} - {su_reserved} superuser_reserved_connections" + (
            f" - {reserved} reserved_connections" if reserved else "")
        ctx.output.write_lines([f"server {t.shown}: {minus} = {available} available",
                                f"pools: {how} = {needed} connections",
                                f"connections in use now: {in_use}"])
        facts = {"needed": needed, "available": available, "max_connections": max_conn,
                 "reserved": su_reserved + reserved, "in_use": in_use}
        if needed > available:
            return StepResult(Outcome.FAILED, f"pools need {needed} connections ({how}) but only "
                              f"{available} are available ({minus}): lower the pool size or "
                              f"raise max_connections", facts=facts)
        return StepResult(Outcome.PASSED, f"pools need {needed} connections ({how}); "
                          f"{available} available ({minus}), {available - needed} to spare",
                          facts=facts)


class PgConnections(PgStep):
    name = "pg.connections"
    doc = "client connection count sampled over a watch period stays within a tolerance"
    params: ClassVar[tuple[Param, ...]] = (
        URL,
        Param("watch", ParamType.DURATION, default=60.0, doc="how long to watch"),
        Param("tolerance", ParamType.NUMBER, default=0.2,
              doc="allowed change from the first sample, as a fraction of it"),
        Param("interval", ParamType.DURATION, default=5.0, doc="seconds between samples"),
        *CONN_PARAMS,
    )
    QUERY = "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"

    def run_pg(self, ctx: StepContext) -> StepResult:
        try:
            watch = parse_duration(ctx.param("watch", 60.0)) * max(time_scale(ctx), 0.02)
            interval = max(0.2, parse_duration(ctx.param("interval", 5.0)))
            tolerance = float(ctx.param("tolerance", 0.2))
        except (DurationError, ValueError) as e:
            raise PgError(f"pg.connections: {e}") from None
        t = target(ctx)
        samples: list[int] = []
        with connect(ctx, t) as conn:
            end = time.monotonic() + watch
            while True:
                row = conn.execute(self.QUERY).fetchone()
                samples.append(int(row[0]) if row else 0)
                left = end - time.monotonic()
                ctx.output.write_lines([f"{time.strftime('%H:%M:%S')} client connections: "
                                        f"{samples[-1]}"])
                if left <= 0:
                    break
                if ctx.cancel.wait(min(interval, left)):
                    return StepResult(Outcome.CANCELLED, f"cancelled ({ctx.cancel.reason}) after "
                                      f"{len(samples)} samples", facts=_facts(samples))
        first, lo, hi = samples[0], min(samples), max(samples)
        allowed = tolerance * first
        worst = max(abs(hi - first), abs(first - lo))
        summary = (f"{len(samples)} samples over {format_duration(watch)}: first {first}, "
                   f"min {lo}, max {hi}")
        if worst > allowed:
            return StepResult(Outcome.FAILED, f"connections varied by {worst} (more than "
                              f"{tolerance:.0%} of {first}): {summary}", facts=_facts(samples))
        return StepResult(Outcome.PASSED, f"connections stable: {summary}", facts=_facts(samples))


def _facts(samples: list[int]) -> dict[str, Any]:
    if not samples:
        return {"samples": 0}
    return {"samples": len(samples), "first": samples[0], "min": min(samples), "max": max(samples)}
