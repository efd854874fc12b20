"""Deployment status as the real controller computes it (what `rollout status` reads)."""

from __future__ import annotations

import copy

from .common import Obj, now_iso, parse_time

AVAILABLE, PROGRESSING = "Available", "Progressing"


def _count(rss: list[Obj], field: str) -> int:
    return sum(int((rs.get("status") or {}).get(field, 0)) for rs in rss)


def _set(conds: list[Obj], kind: str, status: str, reason: str, message: str, at: str,
         touch: bool = False) -> bool:
    """Set a condition; True if its lastUpdateTime was refreshed."""
    found = next((c for c in conds if c.get("type") == kind), None)
    if found is None:
        conds.append({"type": kind, "status": status, "lastUpdateTime": at,
                      "lastTransitionTime": at, "reason": reason, "message": message})
        return True
    if found.get("status") != status:
        found["lastTransitionTime"] = at
    changed = (found.get("status"), found.get("reason"), found.get("message")) != (
        status, reason, message)
    if changed or touch:
        found["lastUpdateTime"] = at
    found.update(status=status, reason=reason, message=message)
    return changed or touch


def next_status(dep: Obj, new: Obj | None, old: list[Obj], event: str, max_unavailable: int,
                now: float, deadline_scale: float, clock: float | None,
                sticky: bool = False) -> tuple[Obj, bool]:
    """The deployment's next status from its replica sets, and whether it made progress.

    `event` is "created" or "found" when this pass made or adopted the new ReplicaSet;
    `clock` is when progress was last seen (precise; the condition keeps whole seconds).

    `sticky` is the real controller's way with a re-adopted ReplicaSet (a rollback to an old
    template): getNewReplicaSet sets FoundNewReplicaSet only when there is no Progressing
    condition at all, so the first status written for the new generation still carries the
    old Progressing=False/ProgressDeadlineExceeded (its old lastUpdateTime, naming the
    ReplicaSet that timed out) until syncRolloutStatus sees progress."""
    previous = dep.get("status") or {}
    desired = int(dep["spec"].get("replicas", 1))
    every = ([new] if new is not None else []) + old
    status: Obj = {"observedGeneration": dep["metadata"].get("generation", 1)}
    counts = {"replicas": _count(every, "replicas"),
              "updatedReplicas": _count([new], "replicas") if new is not None else 0,
              "readyReplicas": _count(every, "readyReplicas"),
              "availableReplicas": _count(every, "availableReplicas")}
    counts["unavailableReplicas"] = max(
        0, sum(int(rs["spec"].get("replicas", 0)) for rs in every) - counts["availableReplicas"])
    status.update({k: v for k, v in counts.items() if v})
    at = now_iso(now)
    conds: list[Obj] = copy.deepcopy(list(previous.get("conditions") or []))
    if counts["availableReplicas"] >= desired - max_unavailable:
        _set(conds, AVAILABLE, "True", "MinimumReplicasAvailable",
             "Deployment has minimum availability.", at)
    else:
        _set(conds, AVAILABLE, "False", "MinimumReplicasUnavailable",
             "Deployment does not have minimum availability.", at)
    name = new["metadata"]["name"] if new is not None else ""
    progressing = next((c for c in conds if c.get("type") == PROGRESSING), None)
    complete = (counts["updatedReplicas"] == desired and counts["replicas"] == desired
                and counts["availableReplicas"] == desired)
    advanced = (counts["updatedReplicas"] > int(previous.get("updatedReplicas", 0))
                or counts["readyReplicas"] > int(previous.get("readyReplicas", 0))
                or counts["availableReplicas"] > int(previous.get("availableReplicas", 0))
                or counts["replicas"] - counts["updatedReplicas"]
                < int(previous.get("replicas", 0)) - int(previous.get("updatedReplicas", 0)))
    touched = False
    if dep["spec"].get("paused"):
        touched = _set(conds, PROGRESSING, "Unknown", "DeploymentPaused", "Deployment is paused",
                       at)
    elif event == "created":
        touched = _set(conds, PROGRESSING, "True", "NewReplicaSetCreated",
                       f'Created new replica set "{name}"', at, touch=True)
    elif event == "found" and sticky and progressing is not None:
        pass  # the old condition stays as it was for this pass
    elif event == "found":
        touched = _set(conds, PROGRESSING, "True", "FoundNewReplicaSet",
                       f'Found new replica set "{name}"', at, touch=True)
    elif complete and new is not None:
        if not progressing or progressing.get("reason") != "NewReplicaSetAvailable":
            touched = _set(conds, PROGRESSING, "True", "NewReplicaSetAvailable",
                           f'ReplicaSet "{name}" has successfully progressed.', at, touch=True)
    elif advanced and new is not None:
        touched = _set(conds, PROGRESSING, "True", "ReplicaSetUpdated",
                       f'ReplicaSet "{name}" is progressing.', at, touch=True)
    elif progressing is not None and progressing.get("reason") not in (
            "NewReplicaSetAvailable", "ProgressDeadlineExceeded") and new is not None:
        deadline = dep["spec"].get("progressDeadlineSeconds")
        since = clock if clock is not None else parse_time(progressing.get("lastUpdateTime"))
        if deadline is not None and since is not None \
                and now - since > float(deadline) * deadline_scale:
            _set(conds, PROGRESSING, "False", "ProgressDeadlineExceeded",
                 f'ReplicaSet "{name}" has timed out progressing.', at)
    order = {PROGRESSING: 0, AVAILABLE: 1}
    status["conditions"] = sorted(conds, key=lambda c: order.get(str(c.get("type")), 2))
    return status, touched

