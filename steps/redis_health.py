"""redis.health: PING, replication role, memory against maxmemory, and cluster state.

redis-py is imported inside `run`. Every socket operation has a timeout and nothing is
retried, so a stopped server, a wrong password or a server that never answers each give one
clear failure within about `timeout` seconds. The password (from the URL or the variable
named by `password_env`) is registered as a secret and never shown.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import unquote

from runbook.execute.stepkind import Outcome, StepContext, StepResult
from runbook.format.durations import DurationError, parse_duration
from runbook.format.params import Param, ParamType
from runbook.rules.redact import strip_url_password, url_passwords
from steps.base import BaseStep


def shown(url: str) -> str:
    return strip_url_password(url)


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


class RedisFailure(Exception):
    pass


class RedisHealth(BaseStep):
    name = "redis.health"
    doc = "PING, role and replicas, memory vs maxmemory, cluster state"
    params: ClassVar[tuple[Param, ...]] = (
        Param("url", ParamType.STR, True, doc="redis://host:port/db or rediss:// (TLS)"),
        Param("max_memory_ratio", ParamType.NUMBER, default=0.9,
              doc="used_memory / maxmemory must stay under this"),
        Param("password_env", ParamType.STR, doc="environment variable holding the password"),
        Param("timeout", ParamType.DURATION, default=5.0, doc="socket connect and read timeout"),
    )

    def describe(self, params: Mapping[str, Any]) -> str:
        return f"redis.health {shown(str(params.get('url', '')))}"

    def run(self, ctx: StepContext) -> StepResult:
        from redis import exceptions as rex

        url = str(ctx.param("url") or "")
        where = shown(url)
        try:
            client, timeout, has_password = self._client(ctx, url)
        except (RedisFailure, ValueError) as e:
            return StepResult(Outcome.FAILED, ctx.redact(str(e)))
        try:
            return self._checks(ctx, client, where)
        except rex.AuthenticationError as e:
            why = ("authentication failed (wrong password?)" if has_password else
                   "needs a password (set password_env or put it in the URL)")
            said = str(e).split(", otherwise")[0]  # Redis 7's HELLO error runs on at length
            return StepResult(Outcome.FAILED, ctx.redact(f"Redis at {where}: {why}: {said}"))
        except (rex.TimeoutError, TimeoutError) as e:
            return StepResult(Outcome.FAILED, ctx.redact(f"Redis at {where}: no answer within "
                                                         f"{timeout:g}s (timeout): {e}"))
        except rex.ConnectionError as e:
            return StepResult(Outcome.FAILED, ctx.redact(f"Redis at {where} is down or "
                                                         f"unreachable: {e}"))
        except rex.RedisError as e:
            return StepResult(Outcome.FAILED, ctx.redact(f"Redis at {where}: {type(e).__name__}: "
                                                         f"{e}"))
        finally:
            client.close()

    def _client(self, ctx: StepContext, url: str) -> tuple[Any, float, bool]:
        import redis
        from redis.backoff import NoBackoff
        from redis.connection import parse_url
        from redis.retry import Retry

        for pw in url_passwords(url):
            ctx.secret(pw)
            ctx.secret(unquote(pw))
        try:
            timeout = parse_duration(ctx.param("timeout", 5.0))
        except DurationError as e:
            raise RedisFailure(f"timeout: {e}") from None
        opts: dict[str, Any] = dict(parse_url(url))  # type: ignore[no-untyped-call]
        env_name = str(ctx.param("password_env") or "")
        if env_name:
            password = ctx.process_env.get(env_name) or os.environ.get(env_name)
            if not password:
                raise RedisFailure(f"password_env: environment variable {env_name} is not set")
            ctx.secret(password)
            opts["password"] = password
        pool = redis.ConnectionPool(
            **opts, socket_timeout=timeout, socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0), decode_responses=True, client_name="runbook",
            max_connections=2)
        return redis.Redis(connection_pool=pool), timeout, bool(opts.get("password"))

    def _checks(self, ctx: StepContext, r: Any, where: str) -> StepResult:
        try:
            max_ratio = float(ctx.param("max_memory_ratio", 0.9))
        except ValueError:
            return StepResult(Outcome.FAILED, "max_memory_ratio must be a number")
        if r.ping() is not True:
            return StepResult(Outcome.FAILED, f"Redis at {where}: PING got no PONG")
        lines = [f"PING {where}: PONG"]
        repl = r.info("replication")
        role = str(repl.get("role", "?"))
        lines.append(f"role {role}, connected replicas {repl.get('connected_slaves', 0)}")
        facts: dict[str, Any] = {"role": role, "replicas": int(repl.get("connected_slaves", 0))}
        if role == "slave" and repl.get("master_link_status") != "up":
            ctx.output.write_lines(lines)
            return StepResult(Outcome.FAILED, f"Redis at {where} is a replica whose link to its "
                              f"master is {repl.get('master_link_status', '?')}", facts=facts)
        if ctx.cancel.cancelled:
            return StepResult(Outcome.CANCELLED, f"cancelled ({ctx.cancel.reason})")
        mem = r.info("memory")
        used, limit = int(mem.get("used_memory", 0)), int(mem.get("maxmemory", 0))
        facts.update(used_memory=used, maxmemory=limit)
        problems: list[str] = []
        if limit == 0:
            lines.append(f"memory {_mib(used)} used, maxmemory 0 (unlimited): ratio not checked")
        else:
            ratio = used / limit
            facts["memory_ratio"] = round(ratio, 4)
            lines.append(f"memory {_mib(used)} of maxmemory {_mib(limit)} ({ratio:.1%}), "
                         f"policy {mem.get('maxmemory_policy', '?')}")
            if ratio > max_ratio:
                problems.append(f"memory {ratio:.1%} of maxmemory ({_mib(used)} of {_mib(limit)})"
                                f", over max_memory_ratio {max_ratio:g}")
        if int(r.info("cluster").get("cluster_enabled", 0)) == 1:
            info = r.execute_command("CLUSTER INFO")
            if isinstance(info, str):
                info = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
            state = str(info.get("cluster_state", "?"))
            facts["cluster_state"] = state
            lines.append(f"cluster state {state}, slots assigned "
                         f"{info.get('cluster_slots_assigned', '?')}, known nodes "
                         f"{info.get('cluster_known_nodes', '?')}")
            if state != "ok":
                problems.append(f"cluster_state is {state}, not ok")
        else:
            lines.append("cluster mode not enabled")
        ctx.output.write_lines(lines)
        if problems:
            return StepResult(Outcome.FAILED, f"Redis at {where}: " + "; ".join(problems),
                              facts=facts)
        memory = "unlimited memory" if limit == 0 else f"memory {facts['memory_ratio']:.1%}"
        return StepResult(Outcome.PASSED, f"Redis at {where} up: {role}, "
                          f"{facts['replicas']} replicas, {memory}", facts=facts)
