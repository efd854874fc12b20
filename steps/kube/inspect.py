"""Read-only Kubernetes checks: cluster health, PVCs, config keys, pods (node capacity is in
capacity.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from runbook.execute.stepkind import Outcome, StepContext, StepResult
from runbook.format.params import Param, ParamType
from steps.kube.base import KubeStep, pod_phase, pod_ready
from steps.kube.capacity import NodeCapacity as NodeCapacity
from steps.kube.client import call, core


class ClusterHealth(KubeStep):
    name = "k8s.cluster-health"
    doc = "API reachable and every node Ready"

    def run_kube(self, ctx: StepContext, api: Any) -> StepResult:
        from kubernetes import client
        version = call(client.VersionApi(api).get_code)
        ctx.output.write_lines([f"API server {version.get('gitVersion', '?')} reachable"])
        nodes = call(core(api).list_node).get("items", [])
        not_ready = []
        for n in nodes:
            ready = next((c.get("status") for c in n.get("status", {}).get("conditions") or []
                          if c.get("type") == "Ready"), "Unknown")
            name = n["metadata"]["name"]
            ctx.output.write_lines([f"node {name}: Ready={ready}"])
            if ready != "True":
                not_ready.append(name)
        if not nodes:
            return StepResult(Outcome.FAILED, "the cluster has no nodes")
        if not_ready:
            return StepResult(Outcome.FAILED, f"{len(not_ready)} of {len(nodes)} nodes not Ready: "
                              + ", ".join(not_ready))
        return StepResult(Outcome.PASSED, f"{len(nodes)} nodes Ready",
                          facts={"nodes": len(nodes)})


class Pvcs(KubeStep):
    """Every claim Bound, or Pending on a WaitForFirstConsumer storage class: such a claim is
    bound only once a pod using it is scheduled (the volume is made in that pod's zone), so
    Pending is its normal state until then, not a broken provisioner."""

    name = "k8s.pvcs"
    doc = "every PersistentVolumeClaim Bound (or waiting for its first consumer)"

    def run_kube(self, ctx: StepContext, api: Any) -> StepResult:
        items = call(core(api).list_namespaced_persistent_volume_claim, ctx.namespace)["items"]
        bad, waiting = [], 0
        modes: dict[str, str] = {}
        for p in items:
            name = p["metadata"]["name"]
            phase = p.get("status", {}).get("phase", "Unknown")
            if phase == "Pending":
                mode = self._binding(api, p, modes)
                if mode == "WaitForFirstConsumer":
                    waiting += 1
                    ctx.output.write_lines([f"{name}: Pending (WaitForFirstConsumer: bound "
                                            "when a pod using it is scheduled)"])
                    continue
                ctx.output.write_lines([f"{name}: Pending ({mode})"])
            else:
                ctx.output.write_lines([f"{name}: {phase}"])
            if phase != "Bound":
                bad.append(f"{name} ({phase})")
        if bad:
            return StepResult(Outcome.FAILED, "not Bound: " + ", ".join(bad))
        if waiting:
            return StepResult(Outcome.PASSED, f"{len(items)} PVCs Bound or waiting for their "
                              "first consumer")
        return StepResult(Outcome.PASSED, f"{len(items)} PVCs Bound")

    def _binding(self, api: Any, claim: dict[str, Any], modes: dict[str, str]) -> str:
        """The volumeBindingMode of the claim's storage class (or why it is not known)."""
        from steps.kube.client import KubeError, get
        name = (claim.get("spec") or {}).get("storageClassName") or ""
        if name not in modes:
            try:
                if name:
                    found = get(api, f"/apis/storage.k8s.io/v1/storageclasses/{name}")
                else:  # no class named: the default class applies
                    classes = get(api, "/apis/storage.k8s.io/v1/storageclasses")["items"]
                    found = next((c for c in classes if (c["metadata"].get("annotations") or {})
                                  .get("storageclass.kubernetes.io/is-default-class") == "true"),
                                 {})
                modes[name] = str(found.get("volumeBindingMode") or "Immediate")
            except KubeError as e:
                modes[name] = f"storage class {name or '(default)'} unreadable: {e}"
        return modes[name]


class ConfigKeys(KubeStep):
    name = "k8s.config-keys"
    doc = "ConfigMaps and Secrets hold the required keys (key names only; values never shown)"
    params: ClassVar[tuple[Param, ...]] = (
        Param("refs", ParamType.STR_LIST, True, doc="secret/NAME:KEY or configmap/NAME:KEY"),)

    def check(self, params: Mapping[str, Any]) -> list[str]:
        bad = [r for r in params.get("refs", ()) if "${" not in r and not _parse_ref(r)]
        return [f"refs: {r!r} is not secret/NAME:KEY or configmap/NAME:KEY" for r in bad]

    def run_kube(self, ctx: StepContext, api: Any) -> StepResult:
        """Each reference is reported: present, missing, or unreadable (a 403 on a Secret
        the runbook's account may not read names every key of it that could not be
        checked, instead of failing on the first)."""
        keys: dict[tuple[str, str], set[str] | str | None] = {}
        missing: list[str] = []
        unreadable: dict[str, list[str]] = {}
        for ref in ctx.param("refs", ()):
            parsed = _parse_ref(ref)
            if parsed is None:
                return StepResult(Outcome.FAILED, f"bad ref {ref!r}")
            kind, name, key = parsed
            if (kind, name) not in keys:
                keys[(kind, name)] = self._keys(ctx, api, kind, name)
            have = keys[(kind, name)]
            if isinstance(have, str):
                unreadable.setdefault(f"{kind}/{name} ({have})", []).append(key)
                ctx.output.write_lines([f"? {kind}/{name}: {key} cannot read ({have})"])
            elif have is None:
                missing.append(f"{kind}/{name} (not found)")
                ctx.output.write_lines([f"✗ {kind}/{name}: not found"])
            elif key not in have:
                missing.append(f"{kind}/{name}:{key}")
                ctx.output.write_lines([f"✗ {kind}/{name}: no key {key}"])
            else:
                ctx.output.write_lines([f"✓ {kind}/{name}: {key}"])
        parts = (["missing: " + ", ".join(missing)] if missing else []) + (
            ["cannot read: " + "; ".join(f"{what} for {', '.join(ks)}"
                                         for what, ks in unreadable.items())]
            if unreadable else [])
        if parts:
            return StepResult(Outcome.FAILED, "; ".join(parts))
        return StepResult(Outcome.PASSED, f"all {len(ctx.param('refs', ()))} keys present")

    def _keys(self, ctx: StepContext, api: Any, kind: str,
              name: str) -> set[str] | str | None:
        """The key names, None if the object is not found, or why it cannot be read."""
        from steps.kube.client import KubeError
        fn = (core(api).read_namespaced_secret if kind == "secret"
              else core(api).read_namespaced_config_map)
        try:
            obj = call(fn, name, ctx.namespace)
        except KubeError as e:
            if e.status == 404:
                return None
            if e.status == 403:
                return "403 Forbidden"
            raise
        data = {**(obj.get("data") or {}), **(obj.get("binaryData") or {})}
        if kind == "secret":
            import base64
            for v in data.values():  # never shown; masked if a step ever prints one
                try:
                    ctx.secret(base64.b64decode(v).decode("utf-8", "replace"))
                except ValueError:
                    pass
        return set(data)


def _parse_ref(ref: str) -> tuple[str, str, str] | None:
    kind, _, rest = ref.partition("/")
    name, _, key = rest.partition(":")
    kind = {"secret": "secret", "configmap": "configmap", "cm": "configmap"}.get(kind.lower(), "")
    if not kind or not name or not key:
        return None
    return kind, name, key


class Pods(KubeStep):
    """Every pod of a long-running workload Running and Ready; the others said apart.

    A namespace also holds pods no controller keeps running: the Completed pods of Jobs and
    CronJobs (and Helm hooks), Evicted or otherwise Failed pods left until the garbage
    collector's threshold, bare debug pods. `kubectl get pods` lists them and nothing is
    wrong: only pods controlled by a ReplicaSet (a Deployment's), StatefulSet, DaemonSet or
    ReplicationController, and not in a terminal phase, are judged; the rest are listed
    with their state and counted in the message, never failing the check.
    """

    name = "k8s.pods"
    doc = "every pod of a deployment (or matching a selector) Running and Ready; others apart"
    params: ClassVar[tuple[Param, ...]] = (Param("selector", ParamType.STR, default=""),)

    def run_kube(self, ctx: StepContext, api: Any) -> StepResult:
        sel = ctx.param("selector") or None
        pods = call(core(api).list_namespaced_pod, ctx.namespace, label_selector=sel)["items"]
        bad, judged, apart = [], [], []
        leaving = [p for p in pods if p["metadata"].get("deletionTimestamp")]
        if leaving:
            ctx.output.write_lines([f"{len(leaving)} pod(s) terminating (ignored)"])
        for p in pods:
            if p["metadata"].get("deletionTimestamp"):
                continue
            name, state = p["metadata"]["name"], _pod_state(p)
            if not _judged(p):
                apart.append(f"{name} {state}")
                ctx.output.write_lines([f"{name}: {state} ({_owner(p)}; not judged)"])
                continue
            judged.append(p)
            ready = pod_ready(p)
            ctx.output.write_lines([f"{name}: {state}{'' if ready else ' (not ready)'}"])
            if state != "Running" or not ready:
                bad.append(f"{name} {state}")
        others = _others(apart)
        if not judged:
            return StepResult(Outcome.FAILED, "no pods found" if not apart else
                              f"no pods of deployments found{others}")
        if bad:
            return StepResult(Outcome.FAILED, f"{len(bad)} of {len(judged)} not running and "
                              "ready: " + ", ".join(bad[:5]) + (" ..." if len(bad) > 5 else "")
                              + others)
        return StepResult(Outcome.PASSED, f"{len(judged)} pods running and ready{others}")


WORKLOADS = ("ReplicaSet", "StatefulSet", "DaemonSet", "ReplicationController")


def _owner(pod: dict[str, Any]) -> str:
    for ref in pod["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return f"{ref.get('kind')} {ref.get('name')}"
    return "no controller"


def _judged(pod: dict[str, Any]) -> bool:
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return False
    return any(ref.get("controller") and ref.get("kind") in WORKLOADS
               for ref in pod["metadata"].get("ownerReferences") or [])


def _pod_state(pod: dict[str, Any]) -> str:
    """kubectl's STATUS: the pod's reason (Evicted), a terminated container's (Completed),
    else the phase or a waiting reason."""
    st = pod.get("status") or {}
    if st.get("reason"):
        return str(st["reason"])
    if st.get("phase") in ("Succeeded", "Failed"):
        for cs in st.get("containerStatuses") or []:
            done = (cs.get("state") or {}).get("terminated") or {}
            if done.get("reason"):
                return str(done["reason"])
    return pod_phase(pod)


def _others(apart: list[str]) -> str:
    if not apart:
        return ""
    shown = ", ".join(apart[:5]) + (" ..." if len(apart) > 5 else "")
    return f"; {len(apart)} other pod(s) not judged: {shown}"
