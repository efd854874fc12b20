"""The simulated deployment controller: ReplicaSets per template, rolling updates, status."""

from __future__ import annotations

import time

from .common import Obj, clone, controller_uid, normalized, safe_hash
from .defaults import scaled_value
from .errors import ApiError
from .parts import ClusterParts
from .replicaset import owner_ref
from .resources import DEPLOYMENT, REPLICASET
from .rollout_status import next_status

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
# not copied from a deployment onto its ReplicaSets (deploymentutil's annotationsToSkip)
SKIPPED = frozenset({REVISION, REVISION_HISTORY, DESIRED, MAX_REPLICAS,
                     "kubectl.kubernetes.io/last-applied-configuration",
                     "deprecated.deployment.rollback.to"})


def template_key(template: Obj) -> object:
    """A template compared without the pod-template-hash label (EqualIgnoreHash)."""
    t = clone(template)
    labels = (t.get("metadata") or {}).get("labels") or {}
    labels.pop(HASH_LABEL, None)
    (t.get("metadata") or {}).pop("creationTimestamp", None)
    return normalized(t)


def revision(obj: Obj) -> int:
    try:
        return int((obj["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


class DeploymentController:
    def __init__(self, cluster: ClusterParts) -> None:
        self.cluster = cluster
        self._clock: dict[str, float] = {}  # deployment uid -> last progress (precise)

    def sync(self, instant: bool) -> None:
        store = self.cluster.store
        by_owner: dict[str, list[Obj]] = {}
        for rs in store.list(REPLICASET)[0]:
            owner = controller_uid(rs)
            if owner:
                by_owner.setdefault(owner, []).append(rs)
        for dep in store.list(DEPLOYMENT)[0]:
            if dep["metadata"].get("deletionTimestamp"):
                continue
            try:
                self._sync_one(dep, by_owner.get(dep["metadata"]["uid"], []))
            except ApiError:
                continue  # raced with a user's write or deletion: next tick

    def _sync_one(self, dep: Obj, rss: list[Obj]) -> None:
        key = template_key(dep["spec"]["template"])
        new = next((rs for rs in rss if template_key(rs["spec"]["template"]) == key), None)
        old = [rs for rs in rss if rs is not new]
        top = max((revision(rs) for rs in old), default=0)
        event = ""
        if new is None and not dep["spec"].get("paused"):
            new, event = self._create_rs(dep, top + 1), "created"
        elif new is not None and revision(new) <= top:
            new, event = self._annotate(new, dep, top + 1), "found"
        elif new is not None:
            new = self._annotate(new, dep, revision(new))
        if new is not None and (dep["metadata"].get("annotations") or {}).get(REVISION) != str(
                revision(new)):
            number = str(revision(new))

            def annotate(d: Obj) -> None:
                d["metadata"].setdefault("annotations", {})[REVISION] = number
            dep = self.cluster.store.modify(DEPLOYMENT, dep["metadata"]["namespace"],
                                            dep["metadata"]["name"], annotate) or dep
        if new is not None and not dep["spec"].get("paused"):
            self._roll(dep, new, old)
            self._prune(dep, old)
        elif dep["spec"].get("paused"):
            self._scale_paused(dep, new, old)
        self._write_status(dep, new, old, event)

    def _scale_paused(self, dep: Obj, new: Obj | None, old: list[Obj]) -> None:
        """A paused deployment is still scaled (the controller's sync(), not rollout()): its
        one active ReplicaSet (or the newest) takes the whole count."""
        every = ([new] if new is not None else []) + old
        active = [rs for rs in every if int(rs["spec"].get("replicas", 0)) > 0]
        target = active[0] if len(active) == 1 else (
            max(every, key=revision) if not active and every else None)
        if target is not None:
            self._scale(dep, target, int(dep["spec"].get("replicas", 1)))

    def _create_rs(self, dep: Obj, number: int) -> Obj:
        template = clone(dep["spec"]["template"])
        template.setdefault("metadata", {}).pop("creationTimestamp", None)
        pod_hash = safe_hash(template_key(template))
        template["metadata"].setdefault("labels", {})[HASH_LABEL] = pod_hash
        selector = clone(dep["spec"]["selector"])
        selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
        md = dep["metadata"]
        desired = int(dep["spec"].get("replicas", 1))
        annotations = {k: v for k, v in (md.get("annotations") or {}).items() if k not in SKIPPED}
        annotations.update({DESIRED: str(desired), MAX_REPLICAS: str(
            desired + self._surge(dep)), REVISION: str(number)})
        rs: Obj = {"metadata": {"name": f"{md['name']}-{pod_hash}", "namespace": md["namespace"],
                                "labels": dict(template["metadata"]["labels"]),
                                "annotations": annotations, "ownerReferences": [owner_ref(dep)]},
                   "spec": {"replicas": 0, "minReadySeconds": dep["spec"].get("minReadySeconds", 0),
                            "selector": selector, "template": template}}
        return self.cluster.store.create(REPLICASET, rs)

    def _annotate(self, rs: Obj, dep: Obj, number: int) -> Obj:
        """Keep the new ReplicaSet's annotations in step with its deployment's, as the
        controller's SetNewReplicaSetAnnotations does on every sync: the deployment's own
        annotations copied (change-cause included), and on re-adoption (a rollback to an
        older template) the next revision, the old one kept in revision-history."""
        have = rs["metadata"].get("annotations") or {}
        wanted = {k: str(v) for k, v in (dep["metadata"].get("annotations") or {}).items()
                  if k not in SKIPPED}
        wanted[REVISION] = str(number)
        old = have.get(REVISION, "")
        if old and old != str(number):
            history = [h for h in str(have.get(REVISION_HISTORY, "")).split(",") if h]
            wanted[REVISION_HISTORY] = ",".join([*history, old])
        if all(have.get(k) == v for k, v in wanted.items()):
            return rs

        def put(r: Obj) -> None:
            r["metadata"].setdefault("annotations", {}).update(wanted)
        return self.cluster.store.modify(REPLICASET, rs["metadata"]["namespace"],
                                         rs["metadata"]["name"], put) or rs

    def _surge(self, dep: Obj) -> int:
        strategy = dep["spec"].get("strategy") or {}
        if strategy.get("type") == "Recreate":
            return 0
        rolling = strategy.get("rollingUpdate") or {}
        desired = int(dep["spec"].get("replicas", 1))
        surge = scaled_value(rolling.get("maxSurge"), desired, True)
        unavailable = scaled_value(rolling.get("maxUnavailable"), desired, False)
        return 1 if surge == 0 and unavailable == 0 else surge

    def _max_unavailable(self, dep: Obj) -> int:
        rolling = (dep["spec"].get("strategy") or {}).get("rollingUpdate") or {}
        desired = int(dep["spec"].get("replicas", 1))
        surge = scaled_value(rolling.get("maxSurge"), desired, True)
        unavailable = scaled_value(rolling.get("maxUnavailable"), desired, False)
        return min(desired, 1 if surge == 0 and unavailable == 0 else unavailable)

    def _scale(self, dep: Obj, rs: Obj, count: int) -> None:
        before = int(rs["spec"].get("replicas", 0))
        if count == before:
            return
        desired = int(dep["spec"].get("replicas", 1))

        def put(r: Obj) -> None:
            r["spec"]["replicas"] = count
            annotations = r["metadata"].setdefault("annotations", {})
            annotations[DESIRED] = str(desired)
            annotations[MAX_REPLICAS] = str(desired + self._surge(dep))
        self.cluster.store.modify(REPLICASET, rs["metadata"]["namespace"], rs["metadata"]["name"],
                                  put)
        rs["spec"]["replicas"] = count
        verb = "up" if count > before else "down"
        self.cluster.recorder.emit(dep, "ScalingReplicaSet", f"Scaled {verb} replica set "
                                   f"{rs['metadata']['name']} to {count} from {before}")

    def _roll(self, dep: Obj, new: Obj, old: list[Obj]) -> None:
        desired = int(dep["spec"].get("replicas", 1))
        active_old = [rs for rs in old if int(rs["spec"].get("replicas", 0)) > 0]
        if (dep["spec"].get("strategy") or {}).get("type") == "Recreate":
            for rs in active_old:
                self._scale(dep, rs, 0)
            if not any(int((rs.get("status") or {}).get("replicas", 0)) for rs in old):
                self._scale(dep, new, desired)
            return
        if not active_old:
            self._scale(dep, new, desired)
            return
        total = sum(int(rs["spec"].get("replicas", 0)) for rs in [new, *old])
        new_count = int(new["spec"].get("replicas", 0))
        if new_count > desired:
            self._scale(dep, new, desired)
        elif new_count < desired:
            room = desired + self._surge(dep) - total
            if room > 0:
                self._scale(dep, new, new_count + min(room, desired - new_count))
        # Scale old sets down, never below the minimum available.
        min_available = desired - self._max_unavailable(dep)
        new_count = int(new["spec"].get("replicas", 0))
        new_unavailable = new_count - int((new.get("status") or {}).get("availableReplicas", 0))
        total = sum(int(rs["spec"].get("replicas", 0)) for rs in [new, *old])
        budget = total - min_available - new_unavailable
        for rs in sorted(active_old, key=revision):  # unhealthy replicas go first
            if budget <= 0:
                break
            count = int(rs["spec"].get("replicas", 0))
            unhealthy = count - int((rs.get("status") or {}).get("availableReplicas", 0))
            cut = min(budget, max(0, unhealthy))
            if cut:
                self._scale(dep, rs, count - cut)
                budget -= cut
        available = sum(int((rs.get("status") or {}).get("availableReplicas", 0))
                        for rs in [new, *old])
        budget = min(budget, available - min_available)
        for rs in sorted(active_old, key=revision):
            if budget <= 0:
                break
            count = int(rs["spec"].get("replicas", 0))
            cut = min(budget, count)
            if cut:
                self._scale(dep, rs, count - cut)
                budget -= cut

    def _prune(self, dep: Obj, old: list[Obj]) -> None:
        limit = int(dep["spec"].get("revisionHistoryLimit", 10))
        idle = sorted((rs for rs in old if not int(rs["spec"].get("replicas", 0))
                       and not int((rs.get("status") or {}).get("replicas", 0))), key=revision)
        for rs in idle[:max(0, len(idle) - limit)]:
            try:
                self.cluster.store.delete(REPLICASET, rs["metadata"]["namespace"],
                                          rs["metadata"]["name"])
            except ApiError:
                pass

    def _write_status(self, dep: Obj, new: Obj | None, old: list[Obj], event: str) -> None:
        uid, now = dep["metadata"]["uid"], time.time()
        status, progressed = next_status(dep, new, old, event, self._max_unavailable(dep), now,
                                         self.cluster.timing.deadline_scale, self._clock.get(uid),
                                         self.cluster.faults.sticky_deadline)
        if progressed:
            self._clock[uid] = now
        if status == dep.get("status"):
            return

        def put(d: Obj) -> None:
            d["status"] = status
        self.cluster.store.modify(DEPLOYMENT, dep["metadata"]["namespace"],
                                  dep["metadata"]["name"], put, subresource="status")
