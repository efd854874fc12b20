"""The simulated kubelet: schedules pods, starts them (or fails image pulls), logs, removes."""

from __future__ import annotations

import hashlib
import itertools
import time

from .common import Obj, now_iso
from .errors import ApiError
from .parts import ClusterParts
from .resources import NODE, POD


def _condition(kind: str, ok: bool, at: str, reason: str = "", message: str = "") -> Obj:
    cond: Obj = {"type": kind, "status": "True" if ok else "False", "lastProbeTime": None,
                 "lastTransitionTime": at}
    if reason:
        cond.update(reason=reason, message=message)
    return cond


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Kubelet:
    def __init__(self, cluster: ClusterParts) -> None:
        self.cluster = cluster
        self._born: dict[str, float] = {}  # pod uid -> when first seen
        self._failed_at: dict[str, float] = {}  # pod uid -> first pull failure
        self._deleted_at: dict[str, float] = {}
        self._logged_at: dict[str, float] = {}
        self._ips = itertools.count(10)
        self._next_node = itertools.count()

    def sync(self, instant: bool) -> None:
        store, now = self.cluster.store, time.monotonic()
        nodes = [n for n in store.list(NODE)[0] if not (n.get("spec") or {}).get("unschedulable")]
        for pod in store.list(POD)[0]:
            md = pod["metadata"]
            uid = md["uid"]
            born = self._born.setdefault(uid, now)
            if md.get("deletionTimestamp"):
                gone = self._deleted_at.setdefault(uid, now)
                if instant or now - gone >= self.cluster.timing.terminate:
                    self._remove(pod)
                continue
            if not (pod.get("spec") or {}).get("nodeName"):
                self._schedule(pod, nodes)
                continue
            phase = (pod.get("status") or {}).get("phase")
            if phase == "Pending" and (instant or now - born >= self.cluster.timing.pod_start):
                self._start(pod, now, instant)
            elif phase == "Running" and not instant:
                self._chatter(pod, now)
        live = {p["metadata"]["uid"] for p in store.list(POD)[0]}
        for table in (self._born, self._failed_at, self._deleted_at, self._logged_at):
            for uid in [u for u in table if u not in live]:
                del table[uid]

    def _schedule(self, pod: Obj, nodes: list[Obj]) -> None:
        node = nodes[next(self._next_node) % len(nodes)]["metadata"]["name"] if nodes \
            else "sandbox-node"
        at = now_iso()

        def bind(p: Obj) -> None:
            p["spec"]["nodeName"] = node

        host_ip = self._node_ip(node)
        containers = [str(c.get("name")) for c in (pod.get("spec") or {}).get("containers") or []]
        unready = f"containers with unready status: [{' '.join(containers)}]"

        def scheduled(p: Obj) -> None:
            st = p.setdefault("status", {})
            st.update(hostIP=host_ip, hostIPs=[{"ip": host_ip}], startTime=at)
            st["conditions"] = [
                _condition("PodReadyToStartContainers", False, at),
                _condition("Initialized", True, at),
                _condition("Ready", False, at, "ContainersNotReady", unready),
                _condition("ContainersReady", False, at, "ContainersNotReady", unready),
                _condition("PodScheduled", True, at)]
            st["containerStatuses"] = [
                {"name": c["name"], "state": {"waiting": {"reason": "ContainerCreating"}},
                 "lastState": {}, "ready": False, "restartCount": 0,
                 "image": c.get("image", ""), "imageID": "", "started": False}
                for c in (p.get("spec") or {}).get("containers") or []]
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        store = self.cluster.store
        updated = store.modify(POD, ns, name, bind) and store.modify(POD, ns, name, scheduled,
                                                                     subresource="status")
        if updated is not None:
            ns, name = updated["metadata"]["namespace"], updated["metadata"]["name"]
            self.cluster.recorder.emit(updated, "Scheduled",
                                       f"Successfully assigned {ns}/{name} to {node}",
                                       component="default-scheduler")

    def _start(self, pod: Obj, now: float, instant: bool) -> None:
        containers = (pod.get("spec") or {}).get("containers") or []
        bad = [c for c in containers if self.cluster.faults.is_bad_image(str(c.get("image")))]
        uid = pod["metadata"]["uid"]
        if bad:
            failed = self._failed_at.setdefault(uid, now)
            backoff = instant or now - failed >= self.cluster.timing.image_backoff
            self._pull_failed(pod, bad, backoff)
            return
        self._failed_at.pop(uid, None)
        at, node = now_iso(), pod["spec"]["nodeName"]
        n = next(self._ips)
        ip = f"10.244.{(n >> 8) % 256}.{n % 256}"
        statuses = [{"name": c["name"], "state": {"running": {"startedAt": at}}, "lastState": {},
                     "ready": True, "restartCount": 0, "image": c.get("image", ""),
                     "imageID": f"{str(c.get('image', '')).rsplit(':', 1)[0]}@sha256:"
                                f"{_digest(str(c.get('image')))}",
                     "containerID": f"containerd://{_digest(uid + c['name'])}", "started": True}
                    for c in containers]
        host_ip = self._node_ip(node)

        def run(p: Obj) -> None:
            st = p.setdefault("status", {})
            st.update(phase="Running", hostIP=host_ip, hostIPs=[{"ip": host_ip}], podIP=ip,
                      podIPs=[{"ip": ip}], startTime=at, containerStatuses=statuses)
            st["conditions"] = [_condition(t, True, at) for t in (
                "PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                "PodScheduled")]
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        updated = self.cluster.store.modify(POD, ns, name, run, subresource="status")
        if updated is None:
            return
        for c in containers:
            image = c.get("image", "")
            rec = self.cluster.recorder
            rec.emit(updated, "Pulled", f'Container image "{image}" already present on machine',
                     component="kubelet", host=node)
            rec.emit(updated, "Created", f"Created container {c['name']}", component="kubelet",
                     host=node)
            rec.emit(updated, "Started", f"Started container {c['name']}", component="kubelet",
                     host=node)
            self.cluster.logs.append(ns, name, c["name"],
                                     f"{at} INFO starting {c['name']} ({image})",
                                     f"{at} INFO connected to postgres and redis",
                                     f"{at} INFO listening on :8080")
        self._logged_at[uid] = now

    def _pull_failed(self, pod: Obj, bad: list[Obj], backoff: bool) -> None:
        at, node = now_iso(), pod["spec"]["nodeName"]
        names = [c["name"] for c in bad]
        reason = "ImagePullBackOff" if backoff else "ErrImagePull"
        statuses = []
        for c in (pod.get("spec") or {}).get("containers") or []:
            image = str(c.get("image", ""))
            message = (f'Back-off pulling image "{image}"' if backoff else
                       f'failed to pull and unpack image "{image}": failed to resolve reference '
                       f'"{image}": {image}: not found')
            waiting = {"reason": reason, "message": message} if c in bad else {
                "reason": "ContainerCreating"}
            statuses.append({"name": c["name"], "state": {"waiting": waiting}, "lastState": {},
                             "ready": False, "restartCount": 0, "image": image, "imageID": "",
                             "started": False})
        current = (pod.get("status") or {}).get("containerStatuses") or []
        if [s["state"] for s in current] == [s["state"] for s in statuses]:
            return
        unready = f"containers with unready status: [{' '.join(names)}]"

        def fail(p: Obj) -> None:
            st = p.setdefault("status", {})
            host_ip = self._node_ip(node)
            st.update(hostIP=host_ip, hostIPs=[{"ip": host_ip}], startTime=at,
                      containerStatuses=statuses)
            st["conditions"] = [
                _condition("PodReadyToStartContainers", True, at),
                _condition("Initialized", True, at),
                _condition("Ready", False, at, "ContainersNotReady", unready),
                _condition("ContainersReady", False, at, "ContainersNotReady", unready),
                _condition("PodScheduled", True, at)]
        updated = self.cluster.store.modify(POD, pod["metadata"]["namespace"],
                                            pod["metadata"]["name"], fail, subresource="status")
        if updated is None:
            return
        rec = self.cluster.recorder
        for c in bad:
            image = c.get("image", "")
            if backoff:
                rec.emit(updated, "BackOff", f'Back-off pulling image "{image}"', "Normal",
                         component="kubelet", host=node)
                rec.emit(updated, "Failed", "Error: ImagePullBackOff", "Warning",
                         component="kubelet", host=node)
            else:
                rec.emit(updated, "Pulling", f'Pulling image "{image}"', component="kubelet",
                         host=node)
                rec.emit(updated, "Failed", f'Failed to pull image "{image}": {image}: not found',
                         "Warning", component="kubelet", host=node)
                rec.emit(updated, "Failed", "Error: ErrImagePull", "Warning",
                         component="kubelet", host=node)

    def _chatter(self, pod: Obj, now: float) -> None:
        interval = self.cluster.timing.log_interval
        uid = pod["metadata"]["uid"]
        if interval <= 0 or now - self._logged_at.get(uid, 0.0) < interval:
            return
        self._logged_at[uid] = now
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        for c in (pod.get("spec") or {}).get("containers") or []:
            self.cluster.logs.append(ns, name, c["name"],
                                     f"{now_iso()} INFO GET /healthz 200 1ms")

    def _remove(self, pod: Obj) -> None:
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        try:
            self.cluster.store.delete(POD, ns, name)
        except ApiError:
            pass
        self.cluster.logs.end(ns, name)
        self.cluster.logs.forget(ns, name)

    def _node_ip(self, node: str) -> str:
        found = self.cluster.store.find(NODE, "", node)
        for addr in ((found or {}).get("status") or {}).get("addresses") or []:
            if addr.get("type") == "InternalIP":
                return str(addr.get("address"))
        return "10.0.0.10"
