"""The deployment lock: one run per runbook and environment, held as a Kubernetes Lease
in the target namespace, renewed while the session lives and expiring after a crash."""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime
from typing import Any

from steps.kube.client import KubeError, call, coordination

DURATION = 30  # seconds a lease lives without renewal
RENEW = 10.0


class LockHeld(Exception):
    def __init__(self, holder: str, since: str, lease: str) -> None:
        super().__init__(f"{lease} is held by {holder} since {since}")
        self.holder, self.since, self.lease = holder, since, lease


def lease_name(runbook_path: str, env: str) -> str:
    stem = re.sub(r"[^a-z0-9-]+", "-", runbook_path.rsplit("/", 1)[-1].lower()
                  .removesuffix(".yaml").removesuffix(".yml")).strip("-")
    return f"runbook-{stem}-{env}"[:63].rstrip("-")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _expired(lease: dict[str, Any], now: float) -> bool:
    spec = lease.get("spec") or {}
    renew = spec.get("renewTime") or spec.get("acquireTime")
    if not spec.get("holderIdentity") or not renew:
        return True
    try:
        t = datetime.strptime(renew[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return True
    return now > t + int(spec.get("leaseDurationSeconds") or DURATION)


class DeploymentLock:
    def __init__(self, api: Any, namespace: str, name: str, holder: str) -> None:
        self.api, self.namespace, self.name, self.holder = api, namespace, name, holder
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.previous: str = ""  # the holder we took over from (expired or broken)

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
                if "409" not in str(e):  # 409: another run created or changed it meanwhile
                    raise
        self._try(force=False)

    def _try(self, force: bool) -> None:
        api = coordination(self.api)
        spec = {"holderIdentity": self.holder, "leaseDurationSeconds": DURATION,
                "acquireTime": _now(), "renewTime": _now()}
        try:
            lease = call(api.read_namespaced_lease, self.name, self.namespace)
        except KubeError as e:
            if "404" not in str(e):
                raise
            body = {"metadata": {"name": self.name, "labels": {"app.kubernetes.io/managed-by":
                                                                "runbook"}}, "spec": spec}
            call(api.create_namespaced_lease, self.namespace, body)
            self._start_renewing()
            return
        held_by = (lease.get("spec") or {}).get("holderIdentity", "")
        if held_by and held_by != self.holder and not _expired(lease, time.time()) and not force:
            since = (lease.get("spec") or {}).get("acquireTime", "?")
            raise LockHeld(held_by, since, f"lease {self.namespace}/{self.name}")
        self.previous = held_by if held_by != self.holder else ""
        lease["spec"] = spec
        call(api.replace_namespaced_lease, self.name, self.namespace, lease)  # 409 if raced
        self._start_renewing()

    def _start_renewing(self) -> None:
        self._thread = threading.Thread(target=self._renew, name="lease-renew", daemon=True)
        self._thread.start()

    def _renew(self) -> None:
        api = coordination(self.api)
        while not self._stop.wait(RENEW):
            try:
                lease = call(api.read_namespaced_lease, self.name, self.namespace)
                if (lease.get("spec") or {}).get("holderIdentity") != self.holder:
                    return  # broken by someone else: stop renewing
                lease["spec"]["renewTime"] = _now()
                call(api.replace_namespaced_lease, self.name, self.namespace, lease)
            except KubeError:
                continue  # try again at the next tick; the lease expires if we never can

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        try:
            lease = call(coordination(self.api).read_namespaced_lease, self.name, self.namespace)
            if (lease.get("spec") or {}).get("holderIdentity") == self.holder:
                call(coordination(self.api).delete_namespaced_lease, self.name, self.namespace)
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
