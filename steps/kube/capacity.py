"""k8s.node-capacity: is there room on the nodes for the extra pods a rollout starts?

What a rolling update adds at once is each deployment's maxSurge, resolved as the controller
resolves it (pkg/controller/deployment/util: MaxSurge and ResolveFenceposts;
intstr.GetScaledValueFromIntOrPercent rounding a percentage of spec.replicas up): 25% by
default, what the deployment says otherwise, 0 when it says 0 (it makes room by
maxUnavailable instead). A Recreate deployment surges nothing (its old pods go first), and a
paused one does not roll at all.

Only nodes that can take a new pod count: Ready, not cordoned (spec.unschedulable), without
a NoSchedule/NoExecute taint. The requests of the pods on each such node are taken from its
allocatable; pods not yet scheduled are taken from the whole. A surge pod must also fit on
one node: free capacity spread thin over several nodes does not hold a pod bigger than each
share.
"""

from __future__ import annotations

from typing import Any, ClassVar

from runbook.execute.stepkind import Outcome, StepContext, StepResult
from runbook.format.params import Param, ParamType
from steps.kube.base import KubeStep, quantity
from steps.kube.client import apps, call, core

GIB = 2**30
Obj = dict[str, Any]


def scaled(value: Any, total: int, round_up: bool) -> int:
    """An int-or-percent (maxSurge 25%) resolved against `total`."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = str(value)
    if text.endswith("%"):
        exact = int(text[:-1]) * total / 100
        whole = int(exact)
        return whole + 1 if round_up and whole < exact else whole
    return int(text)


def surge_of(dep: Obj) -> int:
    """How many extra pods the deployment's rollout runs at once."""
    spec = dep.get("spec") or {}
    strategy = spec.get("strategy") or {}
    if spec.get("paused") or strategy.get("type") == "Recreate":
        return 0
    rolling = strategy.get("rollingUpdate") or {}
    return scaled(rolling.get("maxSurge", "25%"), int(spec.get("replicas", 1)), True)


def requests_of(pod_spec: Obj) -> tuple[float, float]:
    cpu = mem = 0.0
    for c in pod_spec.get("containers") or []:
        r = (c.get("resources") or {}).get("requests") or {}
        cpu += quantity(r.get("cpu"))
        mem += quantity(r.get("memory"))
    return cpu, mem


def unusable(node: Obj) -> str:
    """Why a node cannot take a new pod ("" if it can)."""
    ready = next((c.get("status") for c in (node.get("status") or {}).get("conditions") or []
                  if c.get("type") == "Ready"), "Unknown")
    if ready != "True":
        return "NotReady"
    if (node.get("spec") or {}).get("unschedulable"):
        return "cordoned"
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute"):
            return f"tainted {taint.get('key')}:{taint.get('effect')}"
    return ""


class NodeCapacity(KubeStep):
    name = "k8s.node-capacity"
    doc = "allocatable vs requested CPU and memory on the usable nodes, and the rollout's surge"
    params: ClassVar[tuple[Param, ...]] = (
        Param("headroom", ParamType.NUMBER, default=0.25,
              doc="fraction of allocatable that should stay free (warning below it)"),)

    def run_kube(self, ctx: StepContext, api: Any) -> StepResult:
        nodes = call(core(api).list_node).get("items", [])
        pods = call(core(api).list_pod_for_all_namespaces,
                    field_selector="status.phase!=Succeeded,status.phase!=Failed").get("items", [])
        out = {n["metadata"]["name"]: unusable(n) for n in nodes}
        usable = {n["metadata"]["name"]: n for n in nodes if not out[n["metadata"]["name"]]}
        free: dict[str, list[float]] = {}
        for name, n in usable.items():
            alloc = (n.get("status") or {}).get("allocatable") or {}
            free[name] = [quantity(alloc.get("cpu")), quantity(alloc.get("memory"))]
        alloc_cpu = sum(f[0] for f in free.values())
        alloc_mem = sum(f[1] for f in free.values())
        pending_cpu = pending_mem = 0.0
        for p in pods:
            cpu, mem = requests_of(p.get("spec") or {})
            where = (p.get("spec") or {}).get("nodeName")
            if where in free:
                free[where][0] -= cpu
                free[where][1] -= mem
            elif not where:
                pending_cpu, pending_mem = pending_cpu + cpu, pending_mem + mem
        free_cpu = sum(f[0] for f in free.values()) - pending_cpu
        free_mem = sum(f[1] for f in free.values()) - pending_mem
        need_cpu = need_mem = big_cpu = big_mem = 0.0
        surging = 0
        for d in call(apps(api).list_namespaced_deployment, ctx.namespace).get("items", []):
            extra = surge_of(d)
            if not extra:
                continue
            cpu, mem = requests_of(d["spec"]["template"].get("spec") or {})
            need_cpu, need_mem = need_cpu + extra * cpu, need_mem + extra * mem
            big_cpu, big_mem = max(big_cpu, cpu), max(big_mem, mem)
            surging += extra
        lost = [f"{n} {why}" for n, why in out.items() if why]
        ctx.output.write_lines([
            f"{len(usable)} of {len(nodes)} nodes usable"
            + (f" (not: {', '.join(lost)})" if lost else "")
            + f": CPU {alloc_cpu - free_cpu:.2f}/{alloc_cpu:.2f} cores requested, "
            f"{free_cpu:.2f} free; memory {(alloc_mem - free_mem) / GIB:.1f}/"
            f"{alloc_mem / GIB:.1f} GiB, {free_mem / GIB:.1f} free",
            f"a rollout of {ctx.namespace} surges CPU {need_cpu:.2f} cores, memory "
            f"{need_mem / GIB:.1f} GiB ({surging} extra pod(s) at once)",
        ])
        facts = {"cpu_free": round(free_cpu, 3), "memory_free_gib": round(free_mem / GIB, 2),
                 "surge_cpu": round(need_cpu, 3), "surge_memory_gib": round(need_mem / GIB, 3),
                 "nodes_usable": len(usable)}
        if not nodes:
            return StepResult(Outcome.FAILED, "the cluster has no nodes")
        if not usable:
            return StepResult(Outcome.FAILED, "no node can take a pod: " + ", ".join(lost),
                              facts=facts)
        if free_cpu < need_cpu or free_mem < need_mem:
            return StepResult(Outcome.FAILED, "not enough free capacity for the rollout's surge",
                              facts=facts)
        if surging and not any(f[0] >= big_cpu and f[1] >= big_mem for f in free.values()):
            return StepResult(Outcome.FAILED, f"no usable node has room for the largest surge "
                              f"pod (CPU {big_cpu:.2f}, memory {big_mem / GIB:.2f} GiB)",
                              facts=facts)
        low = min(free_cpu / alloc_cpu if alloc_cpu else 0, free_mem / alloc_mem if alloc_mem else 0)
        headroom = float(ctx.param("headroom", 0.25))
        note = f"; below the {headroom:.0%} headroom wanted" if low < headroom else ""
        said = f"; {len(lost)} node(s) not usable" if lost else ""
        return StepResult(Outcome.PASSED, f"capacity for the surge, {low:.0%} free{note}{said}",
                          facts=facts)
