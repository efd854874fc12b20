"""The simulated control plane: settings, shared parts, and the reconcile loop thread."""

from __future__ import annotations

import threading
import time

from .controller import DeploymentController
from .events import Recorder
from .execs import ExecRegistry
from .faults import Faults
from .kubelet import Kubelet
from .parts import Timing
from .podlogs import PodLogs
from .replicaset import ReplicaSetController
from .store import Store


class Cluster:
    """Everything the controllers share (it is their `ClusterParts`), and the thread that
    drives them."""

    def __init__(self, store: Store, faults: Faults, timing: Timing | None = None) -> None:
        self.store = store
        self.faults = faults
        self.timing = timing or Timing()
        self.recorder = Recorder(store)
        self.logs = PodLogs()
        self.execs = ExecRegistry(faults)
        self.kubelet: Kubelet = Kubelet(self)
        self.replicasets: ReplicaSetController = ReplicaSetController(self)
        self.deployments: DeploymentController = DeploymentController(self)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one reconcile pass at a time
        self.errors: list[str] = []
        self.compactions = 0  # etcd-style compactions done (Faults.compact_every)

    def reconcile(self, instant: bool = False) -> None:
        """One pass of every controller (`instant`: pods start and stop without delay)."""
        with self._lock:
            self.deployments.sync(instant)
            self.replicasets.sync(instant)
            self.kubelet.sync(instant)
            self.replicasets.collect_garbage()

    def settle(self, rounds: int = 60) -> None:
        """Run instant passes until nothing changes (seeding a steady state)."""
        for _ in range(rounds):
            before = self.store.resource_version
            self.reconcile(instant=True)
            if self.store.resource_version == before:
                return

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="kube-emulator-controllers",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _loop(self) -> None:
        mark = (time.monotonic(), self.store.resource_version)
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.reconcile()
            except Exception as e:  # a controller bug must not kill the loop
                self.errors.append(f"{type(e).__name__}: {e}")
                del self.errors[:-50]
            mark = self._compact(mark, started)
            self._stop.wait(max(0.0, self.timing.tick - (time.monotonic() - started)))

    def _compact(self, mark: tuple[float, int], now: float) -> tuple[float, int]:
        """etcd-style compaction (the API server's compactor): every `compact_every` seconds,
        forget the history up to the revision seen at the previous round, so a watch or a
        continue token from before then gets 410 Expired. Returns the new mark."""
        every = self.faults.compact_every
        if every <= 0 or now - mark[0] < every:
            return mark if every > 0 else (now, self.store.resource_version)
        self.store.compact_to(mark[1])
        self.compactions += 1
        return (now, self.store.resource_version)
