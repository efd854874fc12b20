"""Logs of the pods matching a selector: the recent lines of each, then (optionally) followed.

Every matching pod's log must be read for the check to pass: a pod whose log the API refuses
(its container is still waiting for its image; it has two containers and none was named)
is a failure, not a line printed and skipped, since a check that says "read logs of 4
pod(s)" must have read them. The container is the one named, else as `kubectl logs` picks
it (the default-container annotation, else the first). Pods that are terminating, or that
failed with their containers removed (Evicted), are said and not read.
"""

from __future__ import annotations

import re
import time
from typing import Any, ClassVar

from runbook.execute.stepkind import Outcome, StepContext, StepResult
from runbook.format.params import Param, ParamType
from steps.kube.base import KubeStep, pod_phase
from steps.kube.client import call, core
from steps.kube.workload_pods import DEFAULT_CONTAINER


class Logs(KubeStep):
    name = "k8s.logs"
    doc = "recent logs of the pods matching a selector; lines matching fail_on are counted"
    params: ClassVar[tuple[Param, ...]] = (
        Param("selector", ParamType.STR, True), Param("tail", ParamType.INT, default=100),
        Param("container", ParamType.STR, doc="the container whose log to read (default: "
              "the pod's default-container annotation, else its first, as kubectl logs)"),
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

        def stream(name: str, container: str) -> None:
            try:
                resp = core(api).read_namespaced_pod_log(
                    name, ctx.namespace, container=container, follow=True, since_seconds=1,
                    _preload_content=False,
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
                container = log_container(p, ctx.param("container"))
                if pod_phase(p) == "Running" and container and (t is None or not t.is_alive()):
                    t = threading.Thread(target=stream, args=(name, container), daemon=True)
                    streaming[name] = t
                    t.start()
            ctx.cancel.wait(min(1.0, max(0.0, deadline - time.monotonic())))
        for t in streaming.values():
            t.join(2)
        return hits[0]

    def _tail(self, ctx: StepContext, api: Any) -> StepResult:
        """Each pod's log read, or counted as a failure: a 400 (a waiting container, two
        containers and none named) is not "read"; `fail_on` applies to what was read. Pods
        already terminating, or gone since the list (404), are said and not counted."""
        pods = call(core(api).list_namespaced_pod, ctx.namespace,
                    label_selector=ctx.param("selector"))["items"]
        if not pods:
            return StepResult(Outcome.FAILED, f"no pods match {ctx.param('selector')!r}")
        pattern = re.compile(str(ctx.param("fail_on"))) if ctx.param("fail_on") else None
        hits, read, unreadable = 0, 0, []
        for p in pods:
            name = p["metadata"]["name"]
            if p["metadata"].get("deletionTimestamp"):
                ctx.output.write_lines([f"[{name}] terminating: not read"])
                continue
            gone = _containers_gone(p)
            if gone:
                ctx.output.write_lines([f"[{name}] {gone}: its containers are gone, not read"])
                continue
            container = log_container(p, ctx.param("container"))
            if container is None:
                unreadable.append(f"{name} (no container {ctx.param('container')!r})")
                continue
            names = [c.get("name") for c in (p.get("spec") or {}).get("containers") or []]
            if not ctx.param("container") and len(names) > 1:
                ctx.output.write_lines([f"[{name}] Defaulted container {container!r} out of: "
                                        + ", ".join(str(n) for n in names)])
            try:
                resp = core(api).read_namespaced_pod_log(
                    name, ctx.namespace, container=container,
                    tail_lines=int(ctx.param("tail", 100)), _preload_content=False,
                    _request_timeout=15)
                text = resp.data.decode("utf-8", "replace")
            except Exception as e:
                why = _why(e)
                if getattr(e, "status", None) == 404:
                    ctx.output.write_lines([f"[{name}] gone since listed: not read"])
                    continue
                ctx.output.write_lines([f"[{name}] cannot read logs: {why}"])
                unreadable.append(f"{name} ({why})")
                continue
            read += 1
            lines = text.splitlines()
            ctx.output.write_lines([f"[{name}] {line}" for line in lines])
            if pattern is not None:
                hits += sum(1 for line in lines if pattern.search(line))
        facts = {"matches": hits, "read": read, "unreadable": len(unreadable)}
        if unreadable:
            return StepResult(Outcome.FAILED, f"could not read the logs of {len(unreadable)} of "
                              f"{len(unreadable) + read} pod(s): " + "; ".join(unreadable[:3])
                              + (" ..." if len(unreadable) > 3 else "")
                              + (f"; {hits} line(s) match {ctx.param('fail_on')!r}" if hits
                                 else ""), facts=facts)
        if hits:
            return StepResult(Outcome.FAILED, f"{hits} line(s) match {ctx.param('fail_on')!r}",
                              facts=facts)
        if not read:
            return StepResult(Outcome.FAILED, f"no logs read: every pod matching "
                              f"{ctx.param('selector')!r} is terminating")
        return StepResult(Outcome.PASSED, f"read logs of {read} pod(s)")


def log_container(pod: dict[str, Any], wanted: str | None) -> str | None:
    """The container `kubectl logs` reads: the one named (None if the pod has none such),
    else the default-container annotation, else the first (podcmd.FindOrDefaultContainerByName)."""
    names = [str(c.get("name")) for c in (pod.get("spec") or {}).get("containers") or []]
    if wanted:
        return wanted if wanted in names else None
    default = (pod["metadata"].get("annotations") or {}).get(DEFAULT_CONTAINER)
    if default in names:
        return str(default)
    return names[0] if names else None


def _containers_gone(pod: dict[str, Any]) -> str:
    """Why a Failed pod has no containers left to read (Evicted, NodeLost...), or ""."""
    st = pod.get("status") or {}
    if st.get("phase") == "Failed" and st.get("reason"):
        return str(st["reason"])
    return ""


def _why(e: Exception) -> str:
    from steps.kube.client import describe_api_error
    if getattr(e, "status", None) is not None:
        return describe_api_error(e)
    return f"{type(e).__name__}: {str(e)[:120]}"
