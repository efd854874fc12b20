"""Rollout status like `kubectl rollout status`, and one namespace-wide deployment watch
that serves every rollout being followed in that namespace."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from steps.kube.list_watch import ListWatch


@dataclass(frozen=True, slots=True)
class RolloutStatus:
    done: bool
    failed: bool
    message: str


@dataclass(frozen=True, slots=True)
class Change:
    """What a PATCH of the deployment returned: the rollout to judge is of `generation` or later.

    A cached copy (the shared watch's) may still be the object from before the PATCH, whose
    status reads "done" (or, after a failed rollout, "exceeded its progress deadline"): until
    the cache holds `generation`, nothing is judged. A deadline condition the PATCH response
    already carried (`stale_deadline`, its lastUpdateTime) belongs to the rollout being
    replaced: the controller's first status for the new generation may still show it
    (re-adopting an old ReplicaSet, as a rollback does), so it does not end the follow.
    """

    generation: int
    stale_deadline: str | None = None

    @classmethod
    def of(cls, patched: dict[str, Any]) -> Change:
        generation = int((patched.get("metadata") or {}).get("generation") or 0)
        observed = int((patched.get("status") or {}).get("observedGeneration") or 0)
        # a PATCH that changed nothing (already observed) leaves a deadline that still stands
        stale = _deadline_condition(patched) if observed < generation else None
        return cls(generation, stale)


def _deadline_condition(dep: dict[str, Any]) -> str | None:
    """The lastUpdateTime of a Progressing=ProgressDeadlineExceeded condition, if any."""
    for c in (dep.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded":
            return str(c.get("lastUpdateTime") or c.get("lastTransitionTime") or "")
    return None


def rollout_status(dep: dict[str, Any], change: Change | None = None) -> RolloutStatus:
    """kubectl's DeploymentStatusViewer (kubectl/pkg/polymorphichelpers/rollout_status.go), on a
    deployment as JSON; with `change`, judged only once the copy shows that change.

    Two differences, both where kubectl would mislead a runbook: a rollout not finished on a
    paused deployment fails at once (kubectl waits until its timeout: the controller does not
    roll a paused deployment), and a deadline condition the PATCH response already carried
    does not end the follow (see `Change`)."""
    name = dep["metadata"]["name"]
    spec = dep.get("spec", {})
    st = dep.get("status", {})
    generation = dep["metadata"].get("generation", 0)
    if change is not None and generation < change.generation:
        return RolloutStatus(False, False, f'Waiting for the change to deployment "{name}" '
                             f"(generation {change.generation}) to be seen...")
    if generation > st.get("observedGeneration", 0):
        return RolloutStatus(False, False, "Waiting for deployment spec update to be observed...")
    deadline = _deadline_condition(dep)
    if deadline is not None and not (change is not None and change.stale_deadline is not None
                                     and deadline <= change.stale_deadline):
        return RolloutStatus(False, True, f'deployment "{name}" exceeded its progress deadline')
    want = spec.get("replicas", 1)
    updated = st.get("updatedReplicas", 0)
    replicas = st.get("replicas", 0)
    available = st.get("availableReplicas", 0)
    if spec.get("paused") and not (updated >= (want or 0) and replicas <= updated
                                   and available >= updated):
        # kubectl would wait here for ever: the controller does not roll a paused deployment
        return RolloutStatus(False, True, f'deployment "{name}" is paused: its rollout will not '
                             f"progress until it is resumed (kubectl rollout resume "
                             f"deployment/{name})")
    if want is not None and updated < want:
        return RolloutStatus(False, False, f'Waiting for deployment "{name}" rollout to finish: '
                             f"{updated} out of {want} new replicas have been updated...")
    if replicas > updated:
        return RolloutStatus(False, False, f'Waiting for deployment "{name}" rollout to finish: '
                             f"{replicas - updated} old replicas are pending termination...")
    if available < updated:
        return RolloutStatus(False, False, f'Waiting for deployment "{name}" rollout to finish: '
                             f"{available} of {updated} updated replicas are available...")
    return RolloutStatus(True, False, f'deployment "{name}" successfully rolled out')


class DeploymentWatch:
    """List then watch all deployments of a namespace; followers wait on changes.

    One per (client, namespace), shared by every step following a rollout there,
    so a rolling update of twelve deployments holds one watch, not twelve.
    """

    _shared: dict[tuple[int, str], DeploymentWatch] = {}
    _shared_lock = threading.Lock()

    def __init__(self, api: Any, namespace: str) -> None:
        self.api = api
        self.namespace = namespace
        self.deployments: dict[str, dict[str, Any]] = {}
        self.error = ""
        self.synced = False
        self._cond = threading.Condition()
        self._users = 0
        self._stop = threading.Event()
        self._linger: threading.Timer | None = None
        self._list_watch = ListWatch(api, f"/apis/apps/v1/namespaces/{namespace}/deployments",
                                     self._listed, self._event, self._fail, self._watching,
                                     watch_seconds=30, backoff=(0.2, 5.0))
        self._thread = threading.Thread(target=self._list_watch.run,
                                        name=f"deploy-watch-{namespace}", daemon=True)

    @classmethod
    def acquire(cls, api: Any, namespace: str) -> DeploymentWatch:
        key = (id(api), namespace)
        with cls._shared_lock:
            w = cls._shared.get(key)
            if w is None or w._stop.is_set() or not w._thread.is_alive():
                w = cls._shared[key] = DeploymentWatch(api, namespace)
                w._thread.start()
            w._users += 1
            if w._linger is not None:  # a follower came back before the watch was closed
                w._linger.cancel()
                w._linger = None
            return w

    def release(self) -> None:
        """One follower less; the last one leaves the watch open for LINGER seconds (so
        steps run back to back reuse it), then it is closed: never two at a time."""
        with self._shared_lock:
            self._users -= 1
            if self._users > 0 or self._stop.is_set():
                return
            if self._linger is not None:
                self._linger.cancel()
            self._linger = threading.Timer(LINGER, self._close_if_unused)
            self._linger.daemon = True
            self._linger.start()

    def _close_if_unused(self) -> None:
        with self._shared_lock:
            if self._users > 0:
                return
            self._linger = None
            key = (id(self.api), self.namespace)
            if self._shared.get(key) is self:
                del self._shared[key]
            self.close()

    def close(self) -> None:
        """Stop the loop and cut the open watch connection at once (not at its next event)."""
        self._stop.set()
        self._list_watch.close()
        self._publish()

    @classmethod
    def close_all(cls) -> None:
        """Close every shared watch (tests, shutdown)."""
        with cls._shared_lock:
            found = list(cls._shared.values())
            cls._shared.clear()
        for w in found:
            if w._linger is not None:
                w._linger.cancel()
            w.close()

    def wait_change(self, timeout: float) -> None:
        with self._cond:
            self._cond.wait(timeout)

    def get(self, name: str) -> dict[str, Any] | None:
        with self._cond:
            return self.deployments.get(name)

    def _publish(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def _listed(self, items: list[dict[str, Any]]) -> None:
        with self._cond:
            self.deployments = {d["metadata"]["name"]: d for d in items}
            self.synced = True
            self.error = ""
        self._publish()

    def _event(self, kind: str, obj: dict[str, Any]) -> None:
        name = (obj.get("metadata") or {}).get("name")
        if not name:
            return
        with self._cond:
            if kind == "DELETED":
                self.deployments.pop(name, None)
            else:
                self.deployments[name] = obj
        self._publish()

    def _watching(self) -> None:
        if self.error:  # connected again
            with self._cond:
                self.error = ""
            self._publish()

    def _fail(self, message: str) -> None:
        with self._cond:
            self.error = message
        self._publish()


LINGER = 2.0  # seconds a watch stays open after its last follower left


def follow(watcher: DeploymentWatch, name: str, deadline: float, cancelled: Any,
           on_message: Any, change: Change | None = None) -> RolloutStatus:
    """Wait until `name` has rolled out, failed, or the deadline passes (judging only a copy
    that shows `change`, the PATCH this step made, when there is one)."""
    last = ""
    missing_since: float | None = None
    while True:
        if cancelled():
            return RolloutStatus(False, True, "cancelled")
        dep = watcher.get(name)
        if dep is None:
            if watcher.synced:
                missing_since = missing_since or time.monotonic()
                if time.monotonic() - missing_since > 2.0:
                    return RolloutStatus(False, True, f'deployment "{name}" not found')
        else:
            missing_since = None
            st = rollout_status(dep, change)
            if st.message != last:
                on_message(st.message)
                last = st.message
            if st.done or st.failed:
                return st
        if watcher.error and watcher.error != last:
            on_message(f"(watch: {watcher.error}; reconnecting)")
            last = watcher.error
        left = deadline - time.monotonic()
        if left <= 0:
            return RolloutStatus(False, True, f'timed out waiting for deployment "{name}": {last}')
        watcher.wait_change(min(left, 0.5))
