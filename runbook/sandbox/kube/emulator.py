"""KubeEmulator: the store, the simulated controllers and the HTTP server, started together."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType

from . import seed as seeds
from .cluster import Cluster
from .common import Obj
from .execs import ExecRegistry
from .faults import Faults
from .kubeconfig import write_kubeconfig
from .parts import Timing
from .podlogs import PodLogs
from .resources import DEPLOYMENT
from .server import KubeHTTPServer
from .store import Store
from .variety import after_settle, vary


class KubeEmulator:
    """A Kubernetes API server stand-in on a loopback port.

    with KubeEmulator(seed_namespace="creatorbridge-sandbox") as kube:
        kube.write_kubeconfig(tmp / "kubeconfig")
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, timing: Timing | None = None,
                 history: int = 5000, seed_namespace: str | None = None,
                 seed_objects: Iterable[Obj] = (), variety: bool = False) -> None:
        """`variety` adds to the seeded namespace what real ones hold beside the deployed
        services (see variety.py): a matchExpressions selector, a sidecar, a Completed and
        an Evicted pod, a paused deployment, a WaitForFirstConsumer claim."""
        self.store = Store(history)
        self.faults = Faults(self.store)
        self.cluster = Cluster(self.store, self.faults, timing)
        self.faults.bind(self._stop_serving, self._start_serving)
        self.host, self.port = host, port
        self._server: KubeHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        objs = list(seed_objects)
        if seed_namespace:
            world = seeds.creatorbridge(seed_namespace)
            objs += vary(world, seed_namespace) if variety else world
        if objs:
            self.seed(objs)
        if seed_namespace and variety:
            self.add_variety_after_settle(seed_namespace)

    def add_variety_after_settle(self, namespace: str) -> None:
        after_settle(self.store, namespace)
        self.cluster.settle()

    # -- parts -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def timing(self) -> Timing:
        return self.cluster.timing

    @property
    def logs(self) -> PodLogs:
        return self.cluster.logs

    @property
    def execs(self) -> ExecRegistry:
        return self.cluster.execs

    @property
    def requests(self) -> list[tuple[str, str]]:
        """Recent (method, path) pairs served, oldest first (debugging, assertions)."""
        return list(self._server.requests) if self._server is not None else []

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> KubeEmulator:
        self._start_serving()
        self.cluster.start()
        return self

    def stop(self) -> None:
        self.cluster.stop()
        self._stop_serving()

    def __enter__(self) -> KubeEmulator:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _start_serving(self) -> None:
        with self._lock:
            if self._server is not None:
                return
            server = KubeHTTPServer((self.host, self.port), self.cluster)
            self.port = int(server.server_address[1])
            self._server = server
            self._thread = threading.Thread(target=server.serve_forever, args=(0.05,),
                                            name=f"kube-emulator-http-{self.port}", daemon=True)
            self._thread.start()

    def _stop_serving(self) -> None:
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is None:
            return
        server.cut_connections()
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    # -- world -----------------------------------------------------------------------------

    def seed(self, objects: Iterable[Obj], settle: bool = True) -> None:
        """Create objects; with `settle`, run the controllers until the world is steady."""
        seeds.put(self.store, objects)
        if settle:
            self.cluster.settle()

    def write_kubeconfig(self, path: str | os.PathLike[str], context: str = "sandbox",
                         namespace: str = "default") -> Path:
        return write_kubeconfig(path, self.url, context, namespace)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0,
                 interval: float = 0.02) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(interval)
        return predicate()

    def rolled_out(self, namespace: str, name: str | None = None) -> bool:
        """True when the deployment (or every one in the namespace) has finished rolling."""
        deps = self.store.list(DEPLOYMENT, namespace)[0]
        deps = [d for d in deps if name is None or d["metadata"]["name"] == name]
        return bool(deps) and all(_complete(d) for d in deps)

    def wait_rolled_out(self, namespace: str, name: str | None = None,
                        timeout: float = 15.0) -> bool:
        return self.wait_for(lambda: self.rolled_out(namespace, name), timeout)


def _complete(dep: Obj) -> bool:
    st, want = dep.get("status") or {}, int(dep["spec"].get("replicas", 1))
    return (int(st.get("observedGeneration", 0)) >= int(dep["metadata"].get("generation", 1))
            and int(st.get("updatedReplicas", 0)) == want and int(st.get("replicas", 0)) == want
            and int(st.get("availableReplicas", 0)) == want)
