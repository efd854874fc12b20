"""The deployment lock: one run per runbook and environment, held as a Kubernetes Lease
in the target namespace, renewed while the session lives and expiring after a crash.

Expiry is judged as client-go's leader election judges it (client-go/tools/leaderelection/
leaderelection.go: tryAcquireOrRenew, isLeaseValid, setObservedRecord): never by the
holder's renewTime against our clock (a live holder whose clock is 45 s behind would look
expired), but by the local time at which the lease record was last seen to change. A lease
that looks valid by its own times is held; one that looks expired is watched for its
leaseDurationSeconds, and taken only if nobody renewed it meanwhile.

The renewer notices when the lock is lost: the holder changed (broken with --break-lock),
the lease was deleted, or it could not renew for a lease duration (someone may have taken
it since). From then `guard()` names the loss, and the run refuses mutating items (journaled
as the guard `lock.lost`) until the operator re-takes the lock (`retake()`, or a resume).

Times are written as metav1.MicroTime, always with six fractional digits: a real server
parses them with RFC3339Micro and rejects anything else. The Lease is written by path with
its JSON as it is (steps.kube.client.send): the generated client would validate the body
into its model and write the times back with datetime.isoformat(), which drops ".000000".
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from steps.kube.client import KubeError, get, send

DURATION = 30  # seconds a lease lives without renewal
RENEW = 10.0
LOST_GUARD = "lock.lost"


class LockHeld(Exception):
    def __init__(self, holder: str, since: str, lease: str) -> None:
        super().__init__(f"{lease} is held by {holder} since {since}")
        self.holder, self.since, self.lease = holder, since, lease


def lease_name(runbook_path: str, env: str) -> str:
    stem = re.sub(r"[^a-z0-9-]+", "-", runbook_path.rsplit("/", 1)[-1].lower()
                  .removesuffix(".yaml").removesuffix(".yml")).strip("-")
    return f"runbook-{stem}-{env}"[:63].rstrip("-")


def micro_time(at: float) -> str:
    """metav1.MicroTime: RFC 3339 with exactly six fractional digits (".000000" included)."""
    moment = datetime.fromtimestamp(at, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{moment.microsecond:06d}Z"


def _wall(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _record(lease: dict[str, Any]) -> tuple[Any, ...]:
    """What leader election compares to see a lease change (its record)."""
    spec = lease.get("spec") or {}
    return tuple(spec.get(k) for k in ("holderIdentity", "leaseDurationSeconds", "acquireTime",
                                       "renewTime", "leaseTransitions"))


class DeploymentLock:
    def __init__(self, api: Any, namespace: str, name: str, holder: str) -> None:
        self.api, self.namespace, self.name, self.holder = api, namespace, name, holder
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.previous: str = ""  # the holder we took over from (expired or broken)
        self.clock: Callable[[], float] = time.time  # wall clock of the times we write
        self.renew_every = RENEW
        self.lost = ""  # why the lock was lost ("" while held)
        self.on_lost: list[Callable[[str], None]] = []

    def describe(self) -> str:
        """What is held, for the journal (runbook.session.lifecycle.HeldLock)."""
        return f"lease {self.namespace}/{self.name}"

    def acquire(self, force: bool = False) -> None:
        """Take the lock, or raise LockHeld naming who holds it. `force` breaks it."""
        for _ in range(3):
            try:
                self._try(force)
                return
            except KubeError as e:
                if e.status != 409:  # 409: another run created or changed it meanwhile
                    raise
        self._try(force=False)

    def retake(self, force: bool = False) -> None:
        """Take the lock again after losing it (LockHeld if another run holds it)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        self._stop = threading.Event()
        self.acquire(force)
        self.lost = ""

    def guard(self) -> tuple[str, str] | None:
        """(guard, reason) while the lock is lost: mutating items must not run."""
        if not self.lost:
            return None
        return LOST_GUARD, (f"the deployment lock {self.namespace}/{self.name} was lost: "
                            f"{self.lost}; re-take it before changing anything")

    def _spec(self, transitions: int) -> dict[str, Any]:
        now = micro_time(self.clock())
        return {"holderIdentity": self.holder, "leaseDurationSeconds": DURATION,
                "acquireTime": now, "renewTime": now, "leaseTransitions": transitions}

    @property
    def _path(self) -> str:
        return f"/apis/coordination.k8s.io/v1/namespaces/{self.namespace}/leases"

    def _read(self) -> dict[str, Any]:
        lease: dict[str, Any] = get(self.api, f"{self._path}/{self.name}")
        return lease

    def _write(self, lease: dict[str, Any]) -> None:
        """PUT the lease (409 if it changed since it was read)."""
        send(self.api, "PUT", f"{self._path}/{self.name}", lease)

    def _try(self, force: bool) -> None:
        try:
            lease = self._read()
        except KubeError as e:
            if e.status != 404:
                raise
            body = {"metadata": {"name": self.name, "labels": {"app.kubernetes.io/managed-by":
                                                                "runbook"}},
                    "spec": self._spec(0)}
            send(self.api, "POST", self._path, body)
            self._start_renewing()
            return
        spec = lease.get("spec") or {}
        held_by = spec.get("holderIdentity", "")
        if held_by and held_by != self.holder and not force:
            lease = self._wait_expired(lease)  # LockHeld if it is renewed meanwhile
        spec = lease.get("spec") or {}
        held_by = spec.get("holderIdentity", "")
        self.previous = held_by if held_by != self.holder else ""
        transitions = int(spec.get("leaseTransitions") or 0) + (1 if self.previous else 0)
        lease["spec"] = self._spec(transitions)
        self._write(lease)  # 409 if raced
        self._start_renewing()

    def _wait_expired(self, lease: dict[str, Any]) -> dict[str, Any]:
        """The lease once it is seen unrenewed for its duration (by our clock), or LockHeld.

        A lease valid by its own renewTime is held at once; one that looks expired may have
        a holder with a slow clock, so it is watched: a change of its record means a live
        holder (client-go's observedTime)."""
        spec = lease.get("spec") or {}
        duration = float(spec.get("leaseDurationSeconds") or DURATION)
        held = LockHeld(str(spec.get("holderIdentity")), str(spec.get("acquireTime", "?")),
                        f"lease {self.namespace}/{self.name}")
        renewed = _wall(spec.get("renewTime") or spec.get("acquireTime"))
        if renewed is not None and renewed + duration > self.clock():
            raise held
        seen, observed_at = _record(lease), time.monotonic()
        while time.monotonic() - observed_at < duration:
            time.sleep(min(1.0, duration / 4))
            lease = self._read()
            if _record(lease) != seen:
                if not (lease.get("spec") or {}).get("holderIdentity"):
                    return lease  # released meanwhile: free
                raise LockHeld(str(lease["spec"]["holderIdentity"]),
                               str(lease["spec"].get("acquireTime", "?")),
                               f"lease {self.namespace}/{self.name}")
        return lease

    def _start_renewing(self) -> None:
        self._thread = threading.Thread(target=self._renew, name="lease-renew", daemon=True)
        self._thread.start()

    def _renew(self) -> None:
        renewed_at = time.monotonic()
        while not self._stop.wait(self.renew_every):
            try:
                lease = self._read()
                holder = (lease.get("spec") or {}).get("holderIdentity")
                if holder != self.holder:
                    self._lose(f"it is now held by {holder or 'nobody'}")
                    return
                lease["spec"]["renewTime"] = micro_time(self.clock())
                self._write(lease)
                renewed_at = time.monotonic()
            except KubeError as e:
                if e.status == 404:
                    self._lose("the lease was deleted")
                    return
                if time.monotonic() - renewed_at > DURATION:
                    self._lose(f"not renewed for {DURATION} s ({e}): another run may hold it")
                    return
                continue  # try again at the next tick

    def _lose(self, why: str) -> None:
        self.lost = why
        for fn in list(self.on_lost):
            try:
                fn(why)
            except Exception:  # a listener must not kill the renewer
                pass

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        try:
            lease = self._read()
            if (lease.get("spec") or {}).get("holderIdentity") == self.holder:
                send(self.api, "DELETE", f"{self._path}/{self.name}", None)
        except KubeError:
            pass


class LockError(Exception):
    """The run cannot take its lock; the message says who holds it or why."""


def take_lock(runbook_path: str, env: Any, operator: str, kube_context: str, dry_run: bool,
              break_reason: str = "") -> DeploymentLock | None:
    """The lock for a real run of a runbook in an environment (None: no lock applies)."""
    import os
    import socket
    if dry_run or not env.policy.lock or not env.namespace:
        return None
    from steps.kube.client import api_client
    holder = f"{operator} on {socket.gethostname()} (pid {os.getpid()})"
    name = lease_name(runbook_path, env.name)
    try:
        api = api_client(kube_context, os.environ.get("KUBECONFIG"))
        lock = DeploymentLock(api, env.namespace, name, holder)
        lock.acquire(force=bool(break_reason))
    except LockHeld as e:
        raise LockError(f"another run holds the deployment lock: {e.holder}, since {e.since} "
                        f"({e.lease}); to break it: --break-lock 'why'") from None
    except KubeError as e:
        raise LockError(f"cannot take the deployment lock in {env.namespace}: {e}") from None
    return lock


def journal_lock(run: Any, lock: DeploymentLock | None, break_reason: str) -> None:
    """Journal the lock a run holds (the session lifecycle does this for every command)."""
    from runbook.session.lifecycle import journal_lock as journal
    journal(run, lock, break_reason)
