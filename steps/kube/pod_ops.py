"""Exec in a pod of a deployment (streamed, with its exit status) and logs by selector."""

from __future__ import annotations

import json
import re
import time
from typing import Any, ClassVar

from runbook.execute.stepkind import Outcome, Param, ParamType, StepContext, StepResult
from steps.kube.base import KubeStep, pod_phase
from steps.kube.client import KubeError, call, core
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


class Logs(KubeStep):
    name = "k8s.logs"
    doc = "recent logs of the pods matching a selector; lines matching fail_on are counted"
    params: ClassVar[tuple[Param, ...]] = (
        Param("selector", ParamType.STR, True), Param("tail", ParamType.INT, default=100),
        Param("fail_on", ParamType.STR, default="", doc="regex; any matching line fails the check"),
        Param("follow", ParamType.DURATION, default=0.0,
              doc="then follow new lines this long, reconnecting when a pod restarts or is "
                  "replaced"))

    def run_kube(self, ctx: StepContext, api: Any) -> StepResult:
        result = self._tail(ctx, api)
        follow = float(ctx.param("follow", 0.0))
        if follow <= 0 or result.outcome is not Outcome.PASSED:
            return result
        hits = self._follow(ctx, api, time.monotonic() + follow)
        if hits:
            return StepResult(Outcome.FAILED, f"{hits} followed line(s) match "
                              f"{ctx.param('fail_on')!r}", facts={"matches": hits})
        return StepResult(Outcome.CANCELLED if ctx.cancel.cancelled else Outcome.PASSED,
                          f"{result.message}; followed for {follow:g}s")

    def _follow(self, ctx: StepContext, api: Any, deadline: float) -> int:
        """Stream every matching pod's new lines; a stream that ends (restart, rollout) is
        reopened on the pods that match then."""
        import threading
        pattern = re.compile(str(ctx.param("fail_on"))) if ctx.param("fail_on") else None
        hits = [0]
        streaming: dict[str, threading.Thread] = {}
        lock = threading.Lock()

        def stream(name: str) -> None:
            try:
                resp = core(api).read_namespaced_pod_log(
                    name, ctx.namespace, follow=True, since_seconds=1, _preload_content=False,
                    _request_timeout=(5, max(1.0, deadline - time.monotonic())))
                partial = ""
                for raw in resp.stream(4096, decode_content=True):
                    parts = (partial + raw.decode("utf-8", "replace")).split("\n")
                    partial = parts.pop()  # a line cut by the chunk boundary waits for its end
                    ctx.output.write_lines([f"[{name}] {line}" for line in parts])
                    if pattern is not None:
                        found = sum(1 for line in parts if pattern.search(line))
                        with lock:
                            hits[0] += found
                    if ctx.cancel.cancelled or time.monotonic() > deadline:
                        break
                resp.release_conn()
            except Exception as e:  # the pod went away, or the read timed out at the deadline
                if time.monotonic() < deadline and not ctx.cancel.cancelled:
                    ctx.output.write_lines([f"[{name}] stream ended ({type(e).__name__}); "
                                            "reconnecting"])

        while time.monotonic() < deadline and not ctx.cancel.cancelled:
            try:
                pods = call(core(api).list_namespaced_pod, ctx.namespace,
                            label_selector=ctx.param("selector"))["items"]
            except Exception:
                pods = []
            for p in pods:
                name = p["metadata"]["name"]
                t = streaming.get(name)
                if pod_phase(p) == "Running" and (t is None or not t.is_alive()):
                    t = threading.Thread(target=stream, args=(name,), daemon=True)
                    streaming[name] = t
                    t.start()
            ctx.cancel.wait(min(1.0, max(0.0, deadline - time.monotonic())))
        for t in streaming.values():
            t.join(2)
        return hits[0]

    def _tail(self, ctx: StepContext, api: Any) -> StepResult:
        pods = call(core(api).list_namespaced_pod, ctx.namespace,
                    label_selector=ctx.param("selector"))["items"]
        if not pods:
            return StepResult(Outcome.FAILED, f"no pods match {ctx.param('selector')!r}")
        pattern = re.compile(str(ctx.param("fail_on"))) if ctx.param("fail_on") else None
        hits = 0
        for p in pods:
            name = p["metadata"]["name"]
            try:
                resp = core(api).read_namespaced_pod_log(
                    name, ctx.namespace, tail_lines=int(ctx.param("tail", 100)),
                    _preload_content=False, _request_timeout=15)
                text = resp.data.decode("utf-8", "replace")
            except Exception as e:
                ctx.output.write_lines([f"[{name}] cannot read logs: {type(e).__name__}"])
                continue
            lines = text.splitlines()
            ctx.output.write_lines([f"[{name}] {line}" for line in lines])
            if pattern is not None:
                hits += sum(1 for line in lines if pattern.search(line))
        if hits:
            return StepResult(Outcome.FAILED, f"{hits} line(s) match {ctx.param('fail_on')!r}",
                              facts={"matches": hits})
        return StepResult(Outcome.PASSED, f"read logs of {len(pods)} pod(s)")
