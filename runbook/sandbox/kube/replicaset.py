"""The simulated ReplicaSet controller (pods per set) and the garbage collector."""

from __future__ import annotations

from .common import Obj, clone, controller_uid, now_iso, random_suffix
from .errors import ApiError
from .parts import ClusterParts
from .resources import DEPLOYMENT, NAMESPACE, POD, REPLICASET, RESOURCES


def pod_is_ready(pod: Obj) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def _deletion_rank(pod: Obj) -> tuple[int, int, int, str]:
    """Pods to delete first sort first: unscheduled, pending, not ready, newest."""
    phase_rank = {"Pending": 0, "Unknown": 1, "Running": 2}
    st = pod.get("status") or {}
    created = str(pod["metadata"].get("creationTimestamp", ""))
    newest_first = "".join(chr(0x10FFFF - ord(ch)) for ch in created)
    return (1 if (pod.get("spec") or {}).get("nodeName") else 0,
            phase_rank.get(str(st.get("phase")), 1), 1 if pod_is_ready(pod) else 0, newest_first)


def owner_ref(owner: Obj) -> Obj:
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"],
            "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
            "controller": True, "blockOwnerDeletion": True}


class ReplicaSetController:
    def __init__(self, cluster: ClusterParts) -> None:
        self.cluster = cluster

    def sync(self, instant: bool) -> None:
        store = self.cluster.store
        pods_by_owner: dict[str, list[Obj]] = {}
        for pod in store.list(POD)[0]:
            owner = controller_uid(pod)
            if owner:
                pods_by_owner.setdefault(owner, []).append(pod)
        for rs in store.list(REPLICASET)[0]:
            if rs["metadata"].get("deletionTimestamp"):
                continue
            # Succeeded and Failed (Evicted) pods are not counted, as controller.FilterActivePods
            owned = [p for p in pods_by_owner.get(rs["metadata"]["uid"], [])
                     if not p["metadata"].get("deletionTimestamp")
                     and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
            want = int(rs["spec"].get("replicas", 1))
            if len(owned) < want:
                owned += [p for p in (self._create_pod(rs) for _ in range(want - len(owned)))
                          if p is not None]
            elif len(owned) > want:
                victims = sorted(owned, key=_deletion_rank)[:len(owned) - want]
                for pod in victims:
                    self._delete_pod(rs, pod, instant)
                owned = [p for p in owned if p not in victims]
            self._update_status(rs, owned)

    def _create_pod(self, rs: Obj) -> Obj | None:
        template = clone(rs["spec"].get("template") or {})
        md = template.get("metadata") or {}
        md.pop("creationTimestamp", None)
        md.update(name=f"{rs['metadata']['name']}-{random_suffix()}",
                  namespace=rs["metadata"]["namespace"], ownerReferences=[owner_ref(rs)])
        pod: Obj = {"metadata": md, "spec": template.get("spec") or {}}
        try:
            created = self.cluster.store.create(POD, pod)
        except ApiError:
            return None
        self.cluster.recorder.emit(rs, "SuccessfulCreate", f"Created pod: {md['name']}",
                                   component="replicaset-controller")
        return created

    def _delete_pod(self, rs: Obj, pod: Obj, instant: bool) -> None:
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        delete_pod_gracefully(self.cluster, ns, name, instant)
        self.cluster.recorder.emit(rs, "SuccessfulDelete", f"Deleted pod: {name}",
                                   component="replicaset-controller")

    def _update_status(self, rs: Obj, owned: list[Obj]) -> None:
        ready = sum(1 for p in owned if pod_is_ready(p))
        status: Obj = {"replicas": len(owned)}
        if owned:
            status["fullyLabeledReplicas"] = len(owned)
        if ready:
            status.update(readyReplicas=ready, availableReplicas=ready)
        status["observedGeneration"] = rs["metadata"].get("generation", 1)
        if rs.get("status") == status:
            return

        def put(obj: Obj) -> None:
            obj["status"] = status
        self.cluster.store.modify(REPLICASET, rs["metadata"]["namespace"],
                                  rs["metadata"]["name"], put, subresource="status")

    def collect_garbage(self) -> None:
        """Delete dependents whose controller is gone; finish terminating namespaces."""
        store = self.cluster.store
        live = {o["metadata"]["uid"] for kind in (DEPLOYMENT, REPLICASET)
                for o in store.list(kind)[0]}
        for kind in (REPLICASET, POD):
            for obj in store.list(kind)[0]:
                owner = _known_controller(obj)  # a Job's pods are not ours to collect
                if owner and owner not in live and not obj["metadata"].get("deletionTimestamp"):
                    ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
                    if kind is POD:
                        delete_pod_gracefully(self.cluster, ns, name, False)
                    else:
                        try:
                            store.delete(kind, ns, name)
                        except ApiError:
                            pass
        for ns in store.list(NAMESPACE)[0]:
            if (ns.get("status") or {}).get("phase") == "Terminating":
                name = ns["metadata"]["name"]
                store.delete_namespace_contents(name, [r for r in RESOURCES if r.namespaced])
                try:
                    store.delete(NAMESPACE, "", name)
                except ApiError:
                    pass


def _known_controller(obj: Obj) -> str | None:
    """The uid of the object's controller if it is a kind the emulator runs (Deployment,
    ReplicaSet); owners of other kinds (Job, StatefulSet) are not simulated."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") in ("Deployment", "ReplicaSet"):
            return str(ref.get("uid"))
    return None


def delete_pod_gracefully(cluster: ClusterParts, namespace: str, name: str, instant: bool) -> None:
    """Mark a pod Terminating (the kubelet removes it shortly), or remove it at once."""
    if instant:
        try:
            cluster.store.delete(POD, namespace, name)
        except ApiError:
            pass
        return

    def mark(p: Obj) -> None:
        if not p["metadata"].get("deletionTimestamp"):
            grace = int((p.get("spec") or {}).get("terminationGracePeriodSeconds", 30))
            p["metadata"]["deletionTimestamp"] = now_iso()
            p["metadata"]["deletionGracePeriodSeconds"] = grace
    cluster.store.modify(POD, namespace, name, mark)
