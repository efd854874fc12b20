"""`http.health`: the services' health endpoints, checked concurrently.

One round takes as long as the slowest endpoint, not the sum: every request
runs at once on its own thread with its own timeout. Expected status 200 and
the expected JSON fields (`{"status": "healthy"}`). Each round is published
live (topic "health") for the Services pane. With `until_healthy`, rounds
repeat until every endpoint is healthy or the deadline passes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

from runbook.execute.stepkind import Outcome, StepContext, StepResult
from runbook.format.params import Param, ParamType
from runbook.format.template import TemplateError, render
from steps.base import BaseStep, time_scale

ROUND_PAUSE = 2.0


def check_one(client: Any, url: str, expect: dict[str, str], timeout: float) -> dict[str, Any]:
    import httpx
    started = time.monotonic()
    result: dict[str, Any] = {"url": url, "checked": time.time()}
    try:
        resp = client.get(url, timeout=httpx.Timeout(timeout))
        result["latency_ms"] = (time.monotonic() - started) * 1000
        result["code"] = resp.status_code
        if resp.status_code != 200:
            result.update(status="unhealthy", detail=f"HTTP {resp.status_code}")
            return result
        try:
            body = resp.json()
        except (ValueError, json.JSONDecodeError):
            result.update(status="unhealthy", detail="body is not JSON")
            return result
        wrong = {k: v for k, v in expect.items()
                 if not isinstance(body, dict) or str(body.get(k)) != v}
        if wrong:
            got = {k: body.get(k) if isinstance(body, dict) else None for k in wrong}
            result.update(status="unhealthy", detail=f"expected {wrong}, got {got}")
        else:
            result.update(status="healthy", detail="")
    except httpx.TimeoutException:
        result.update(status="timeout", latency_ms=(time.monotonic() - started) * 1000,
                      detail=f"no answer in {timeout:g}s")
    except httpx.HTTPError as e:
        result.update(status="down", latency_ms=(time.monotonic() - started) * 1000,
                      detail=_reason(e))
    return result


def _reason(e: Exception) -> str:
    text = str(e) or type(e).__name__
    if "Connection refused" in text or "ConnectError" in type(e).__name__:
        return "connection refused" if "refused" in text.lower() else f"cannot connect: {text[:80]}"
    return text[:120]


class HttpHealth(BaseStep):
    name = "http.health"
    doc = "the services' health endpoints, concurrently; expected status and JSON body"
    params: ClassVar[tuple[Param, ...]] = (
        Param("base_url", ParamType.STR, True,
              doc="template with ${service.name}, ${service.port}; the health path is appended"),
        Param("services", ParamType.STR_LIST, default=(),
              doc="which services (default: every service with a health path)"),
        Param("timeout", ParamType.DURATION, default=5.0, doc="per request"),
        Param("until_healthy", ParamType.DURATION, default=0.0,
              doc="keep checking up to this long until all are healthy"),
    )

    def describe(self, params: Mapping[str, Any]) -> str:
        which = ", ".join(params.get("services") or ()) or "every service"
        return f"GET the health endpoint of {which} at {params.get('base_url')}"

    def targets(self, ctx: StepContext) -> dict[str, tuple[str, dict[str, str]]]:
        wanted = list(ctx.param("services") or ())
        out: dict[str, tuple[str, dict[str, str]]] = {}
        for svc in ctx.services:
            if not svc.health or (wanted and svc.name not in wanted):
                continue
            scope = {"service.name": svc.name, "service.port": str(svc.port or ""),
                     "service.health": svc.health, "service.title": svc.title or svc.name}
            base = render(str(ctx.param("base_url")), scope)
            out[svc.name] = (base.rstrip("/") + svc.health, dict(svc.expect))
        return out

    def run(self, ctx: StepContext) -> StepResult:
        import httpx
        try:
            targets = self.targets(ctx)
        except TemplateError as e:
            return StepResult(Outcome.FAILED, f"base_url: {e}")
        unknown = set(ctx.param("services") or ()) - set(targets)
        if unknown:
            return StepResult(Outcome.FAILED, "no health endpoint for: " + ", ".join(sorted(unknown)))
        if not targets:
            return StepResult(Outcome.FAILED, "no services with a health path")
        timeout = float(ctx.param("timeout", 5.0))
        deadline = time.monotonic() + float(ctx.param("until_healthy", 0.0)) * max(
            time_scale(ctx), 0.05)
        limits = httpx.Limits(max_connections=len(targets) * 2)
        # plain-HTTP targets need no certificate bundle (loading one costs ~20 ms a round)
        verify = any(url.startswith("https:") for url, _ in targets.values())
        with httpx.Client(limits=limits, follow_redirects=False, verify=verify) as client, \
                ThreadPoolExecutor(max_workers=len(targets)) as pool:
            rounds = 0
            while True:
                rounds += 1
                futures = {n: pool.submit(check_one, client, url, exp, timeout)
                           for n, (url, exp) in targets.items()}
                results = {n: f.result() for n, f in futures.items()}
                ctx.publish("health", results)
                bad = {n: r for n, r in results.items() if r["status"] != "healthy"}
                ctx.output.write_lines(self._lines(results, rounds))
                if not bad:
                    slowest = max(r.get("latency_ms", 0) for r in results.values())
                    return StepResult(Outcome.PASSED, f"{len(results)} healthy (slowest "
                                      f"{slowest:.0f} ms)", facts={"health": _facts(results)})
                if time.monotonic() >= deadline or ctx.cancel.cancelled:
                    break
                if ctx.cancel.wait(min(ROUND_PAUSE, max(0.0, deadline - time.monotonic()))):
                    break
        if ctx.cancel.cancelled:
            return StepResult(Outcome.CANCELLED, "health checks stopped")
        summary = "; ".join(f"{n}: {r['status']} {r['detail']}".strip() for n, r in bad.items())
        return StepResult(Outcome.FAILED, f"{len(bad)} of {len(results)} unhealthy: {summary}",
                          facts={"health": _facts(results)})

    def _lines(self, results: dict[str, dict[str, Any]], rounds: int) -> list[str]:
        lines = [f"round {rounds}:"]
        for n, r in sorted(results.items()):
            lat = f"{r['latency_ms']:.0f} ms" if "latency_ms" in r else ""
            lines.append(f"  {n:<22} {r['status']:<9} {lat:>8}  {r['detail']}".rstrip())
        return lines


def _facts(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {n: {"status": r["status"], "latency_ms": round(r.get("latency_ms", 0), 1)}
            for n, r in results.items()}
