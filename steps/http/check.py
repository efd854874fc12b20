"""`http.check`: one request to an external service with an expected status.

Credentials come from an environment variable (a bearer token), never from
the runbook; the token is registered as a secret so it is masked everywhere.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from runbook.execute.stepkind import Outcome, StepContext, StepResult
from runbook.format.params import Param, ParamType
from runbook.rules.redact import mask_url_password, url_passwords
from steps.base import BaseStep


class HttpCheck(BaseStep):
    name = "http.check"
    doc = "one HTTP request with an expected status; credentials from the environment"
    params: ClassVar[tuple[Param, ...]] = (
        Param("url", ParamType.STR, True), Param("method", ParamType.STR, default="GET",
                                                  choices=("GET", "HEAD", "POST", "OPTIONS")),
        Param("expect_status", ParamType.INT, default=200),
        Param("headers", ParamType.MAP),
        Param("credential_env", ParamType.STR,
              doc="environment variable holding a bearer token (never shown)"),
        Param("timeout", ParamType.DURATION, default=10.0),
    )

    def describe(self, params: Mapping[str, Any]) -> str:
        url = mask_url_password(str(params.get("url")))
        auth = f" with the token in ${params['credential_env']}" if params.get("credential_env") \
            else ""
        return f"{params.get('method', 'GET')} {url}{auth}, expect {params.get('expect_status', 200)}"

    def run(self, ctx: StepContext) -> StepResult:
        import httpx
        url = str(ctx.param("url"))
        headers = {str(k): str(v) for k, v in dict(ctx.param("headers") or {}).items()}
        env_name = ctx.param("credential_env")
        if env_name:
            token = ctx.process_env.get(env_name) or os.environ.get(env_name)
            if not token:
                return StepResult(Outcome.FAILED, f"credential_env: ${env_name} is not set")
            ctx.secret(token)
            headers["Authorization"] = f"Bearer {token}"
        for pw in url_passwords(url):
            ctx.secret(pw)
        expect = int(ctx.param("expect_status", 200))
        timeout = float(ctx.param("timeout", 10.0))
        started = time.monotonic()
        try:
            with httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False) as client:
                resp = client.request(str(ctx.param("method", "GET")), url, headers=headers)
        except httpx.TimeoutException:
            return StepResult(Outcome.FAILED, f"no answer in {timeout:g}s")
        except httpx.HTTPError as e:
            return StepResult(Outcome.FAILED, f"cannot reach it: {str(e)[:120] or type(e).__name__}")
        ms = (time.monotonic() - started) * 1000
        ctx.output.write_lines([f"HTTP {resp.status_code} in {ms:.0f} ms, "
                                f"{len(resp.content)} bytes"])
        facts = {"status": resp.status_code, "latency_ms": round(ms, 1)}
        if resp.status_code != expect:
            return StepResult(Outcome.FAILED, f"HTTP {resp.status_code}, expected {expect}",
                              facts=facts)
        return StepResult(Outcome.PASSED, f"HTTP {resp.status_code} in {ms:.0f} ms", facts=facts)
