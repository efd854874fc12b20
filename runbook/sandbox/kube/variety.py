"""The variety a real namespace has, added to the CreatorBridge sandbox world.

A namespace that only holds twelve alike deployments hides the bugs of steps written for it.
A real one also has: a deployment selecting its pods with `matchExpressions`, a pod with a
sidecar (two containers, no default-container annotation), the Completed pod of a Job, the
Evicted pod of a ReplicaSet, a paused deployment that no runbook deploys, a claim of a
`WaitForFirstConsumer` storage class that stays Pending until a pod uses it, and the
`kube-system` namespace (whose uid tools use as the cluster's identity).

`vary()` changes the world before it is created; `after_settle()` adds what needs the settled
world (the uid of a ReplicaSet, a deployment that ran before it was paused).
"""

from __future__ import annotations

import hashlib

from .common import Obj, clone, now_iso
from .resources import DEPLOYMENT, POD, REPLICASET
from .seed import deployment, namespace, pvc, storage_class
from .store import Store

EXPRESSION_SELECTED = "asset-service"  # selects its pods with matchExpressions
SIDECARRED = "notification-service"  # its pods have a log-shipper sidecar
PAUSED = "reports-legacy"  # paused; not one of the runbook's services
EVICTED_OF = "billing-service"  # one of its ReplicaSet's pods was evicted
JOB = "db-backup-29012345"  # a CronJob's Job, completed
WFFC_CLASS = "managed-csi-wffc"
WFFC_CLAIM = "search-index-cache"


def vary(objs: list[Obj], ns: str) -> list[Obj]:
    """The world's objects with the variety put in (copies; `objs` is not changed)."""
    out = []
    for obj in objs:
        obj = clone(obj)
        name = (obj.get("metadata") or {}).get("name")
        if obj.get("kind") == "Deployment" and name == EXPRESSION_SELECTED:
            obj["spec"]["selector"] = {"matchExpressions": [
                {"key": "app", "operator": "In", "values": [name]},
                {"key": "track", "operator": "NotIn", "values": ["canary"]}]}
        if obj.get("kind") == "Deployment" and name == SIDECARRED:
            obj["spec"]["template"]["spec"]["containers"].append({
                "name": "log-shipper", "image": "fluent/fluent-bit:3.1.9",
                "args": ["--config=/fluent-bit/etc/fluent-bit.conf"],
                "resources": {"requests": {"cpu": "20m", "memory": "32Mi"},
                              "limits": {"cpu": "100m", "memory": "64Mi"}}})
        out.append(obj)
    out += [namespace("kube-system"), storage_class(WFFC_CLASS, "WaitForFirstConsumer")]
    claim = pvc(WFFC_CLAIM, ns, "20Gi", WFFC_CLASS)
    claim["status"] = {"phase": "Pending"}
    out.append(claim)
    legacy = deployment(PAUSED, ns, "creatorbridge.azurecr.io/reports-legacy:v0.9.4", 1)
    legacy["metadata"]["annotations"] = {"kubernetes.io/change-cause": "frozen: replaced by "
                                         "analytics-service, kept until the Q3 audit"}
    out.append(legacy)
    out.append(_job_pod(ns))
    return out


def after_settle(store: Store, ns: str) -> None:
    """Pause the legacy deployment (it ran first) and leave an Evicted pod behind."""
    def pause(d: Obj) -> None:
        d["spec"]["paused"] = True
    store.modify(DEPLOYMENT, ns, PAUSED, pause)
    dep = store.find(DEPLOYMENT, ns, EVICTED_OF)
    owner = next((rs for rs in store.list(REPLICASET, ns)[0] if dep is not None and any(
        r.get("uid") == dep["metadata"]["uid"]
        for r in rs["metadata"].get("ownerReferences") or [])), None)
    if owner is not None:
        store.create(POD, _evicted_pod(owner))


def _job_pod(ns: str) -> Obj:
    uid = hashlib.md5(JOB.encode()).hexdigest()
    job_uid = f"{uid[:8]}-{uid[8:12]}-{uid[12:16]}-{uid[16:20]}-{uid[20:32]}"
    at = now_iso()
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{JOB}-x7k2p", "namespace": ns,
                         "labels": {"batch.kubernetes.io/job-name": JOB, "job-name": JOB,
                                    "batch.kubernetes.io/controller-uid": job_uid,
                                    "controller-uid": job_uid},
                         "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job",
                                              "name": JOB, "uid": job_uid, "controller": True,
                                              "blockOwnerDeletion": True}]},
            "spec": {"restartPolicy": "Never", "nodeName": "sandbox-node-1",
                     "containers": [{"name": "backup",
                                     "image": "creatorbridge.azurecr.io/db-backup:v2.1.0"}]},
            "status": {"phase": "Succeeded", "startTime": at,
                       "conditions": [{"type": "Ready", "status": "False",
                                       "reason": "PodCompleted", "lastTransitionTime": at}],
                       "containerStatuses": [{
                           "name": "backup", "ready": False, "restartCount": 0,
                           "started": False, "image": "creatorbridge.azurecr.io/db-backup:v2.1.0",
                           "imageID": "", "state": {"terminated": {
                               "exitCode": 0, "reason": "Completed", "startedAt": at,
                               "finishedAt": at}}}]}}


def _evicted_pod(rs: Obj) -> Obj:
    template = clone(rs["spec"]["template"])
    md = template.get("metadata") or {}
    at = now_iso()
    md.update(name=f"{rs['metadata']['name']}-evct9",
              namespace=rs["metadata"]["namespace"],
              ownerReferences=[{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                "name": rs["metadata"]["name"], "uid": rs["metadata"]["uid"],
                                "controller": True, "blockOwnerDeletion": True}])
    spec = template.get("spec") or {}
    spec["nodeName"] = "sandbox-node-2"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": spec,
            "status": {"phase": "Failed", "reason": "Evicted", "startTime": at,
                       "message": "The node was low on resource: memory. Threshold quantity: "
                                  "100Mi, available: 91Mi. Container billing-service was "
                                  "using 602Mi, request is 128Mi, has larger consumption of "
                                  "memory.",
                       "conditions": [{"type": "DisruptionTarget", "status": "True",
                                       "reason": "TerminationByKubelet",
                                       "lastTransitionTime": at}]}}
