"""Exec in a pod of a deployment (streamed, with its exit status); the logs step is in logs.py."""

from __future__ import annotations

import json
import time
from typing import Any, ClassVar

from runbook.execute.stepkind import Outcome, StepContext, StepResult
from runbook.format.params import Param, ParamType
from steps.kube.base import KubeStep
from steps.kube.client import KubeError, core
from steps.kube.logs import Logs as Logs
from steps.kube.workload_pods import container_of, running_pod


class Exec(KubeStep):
    name = "k8s.exec"
    read_only = False
    doc = "run a command in a pod of a deployment; output streamed, exit status kept"
    params: ClassVar[tuple[Param, ...]] = (
        Param("deployment", ParamType.STR, True), Param("container", ParamType.STR),
        Param("command", ParamType.STR_LIST, True), Param("timeout", ParamType.DURATION,
                                                          default=600.0))

    def describe(self, params: Any) -> str:
        import shlex
        return (f"exec deploy/{params.get('deployment')} -- "
                + shlex.join(str(c) for c in params.get("command", ())))

    def run_kube(self, ctx: StepContext, api: Any) -> StepResult:
        """In a ready pod the deployment controls, of its current ReplicaSet, in the container
        named like it (steps/kube/workload_pods.py says why not simply kubectl's choice)."""
        from kubernetes.stream import stream
        deployment = str(ctx.param("deployment"))
        pod = running_pod(api, ctx.namespace, deployment)
        pname = pod["metadata"]["name"]
        container = container_of(pod, ctx.param("container"), deployment)
        ctx.output.write_lines([f"# in pod {pname}, container {container}"])
        command = [str(c) for c in ctx.param("command")]
        try:
            ws = stream(core(api).connect_get_namespaced_pod_exec, pname, ctx.namespace,
                        command=command, container=container, stderr=True, stdin=False,
                        stdout=True, tty=False, _preload_content=False, _request_timeout=10)
        except Exception as e:
            raise KubeError(f"exec failed to start: {type(e).__name__}: {str(e)[:160]}") from None
        deadline = time.monotonic() + float(ctx.param("timeout", 600.0))
        partial = ""
        try:
            while ws.is_open():
                # every read is non-blocking (timeout=0): read_stdout()/read_stderr() without
                # one wait for their channel's next data, so once the command had printed
                # on one channel a silent command held the step past its timeout
                ws.update(timeout=0.2)
                chunk = ws.read_stdout(timeout=0) + ws.read_stderr(timeout=0)
                if chunk:
                    lines = (partial + chunk).split("\n")
                    partial = lines.pop()
                    ctx.output.write_lines(lines)
                if ctx.cancel.cancelled:
                    return StepResult(Outcome.CANCELLED, "exec stream closed; the command may "
                                      "still be running in the pod")
                if time.monotonic() > deadline:
                    return StepResult(Outcome.TIMED_OUT, "exec timed out; the command may still "
                                      "be running in the pod")
            if partial:
                ctx.output.write_lines([partial])
            code = _exit_code(ws.read_channel(3, timeout=0))
        finally:
            ws.close()
        if code == 0:
            return StepResult(Outcome.PASSED, "exit status 0", 0, {"pod": pname})
        return StepResult(Outcome.FAILED, f"exit status {code}", code, {"pod": pname})


def _exit_code(status_text: str) -> int:
    if not status_text:
        return 0
    try:
        status = json.loads(status_text)
    except ValueError:
        return 1
    if status.get("status") == "Success":
        return 0
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            return int(cause.get("message", 1))
    return 1
