"""Session-scoped real servers for the integration tests (see servers.py).

Fixtures added by other helpers go below, each in its own block; append, never rewrite.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from runbook.sandbox.kube import KubeEmulator, Timing
from runbook.sandbox.servers import (
    REDIS_PASSWORD,
    PgCluster,
    RedisServer,
    Unavailable,
    free_cluster_port,
    free_port,
    make_tempdir,
    pg_bindir,
    start_primary,
    start_replica,
    wait_streaming,
)

# -- PostgreSQL primary + streaming replica, Redis ---------------------------------------


@dataclass
class PgPair:
    primary: PgCluster
    replica: PgCluster


@pytest.fixture(scope="session")
def pg_pair() -> Iterator[PgPair]:
    """A PostgreSQL primary (password auth for `runbook_test`) and a streaming replica."""
    try:
        bindir = pg_bindir()
        root = make_tempdir("runbook-pg-")
    except Unavailable as e:
        pytest.skip(str(e))
    clusters: list[PgCluster] = []
    try:
        primary = start_primary(root, bindir)
        clusters.append(primary)
        replica = start_replica(primary, root)
        clusters.append(replica)
        wait_streaming(replica)
        yield PgPair(primary, replica)
    finally:
        for c in reversed(clusters):
            c.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_root() -> Iterator[Path]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not found: apt-get install redis-server (make system-deps)")
    root = make_tempdir("runbook-redis-")
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _redis(root: Path, name: str, args: list[str]) -> Iterator[RedisServer]:
    server = RedisServer(root / name, free_port(), args)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server(redis_root: Path) -> Iterator[RedisServer]:
    """A plain redis-server (no password, no maxmemory)."""
    yield from _redis(redis_root, "plain", [])


@pytest.fixture(scope="session")
def redis_auth_server(redis_root: Path) -> Iterator[RedisServer]:
    """A redis-server with --requirepass REDIS_PASSWORD and a 64 MB maxmemory."""
    yield from _redis(redis_root, "auth", ["--requirepass", REDIS_PASSWORD,
                                           "--maxmemory", "64mb"])


@pytest.fixture
def redis_factory(redis_root: Path) -> Iterator[Callable[[list[str]], RedisServer]]:
    """Start throwaway redis-servers inside a test: `redis_factory(args)` -> a started server."""
    started: list[RedisServer] = []

    def make(args: list[str]) -> RedisServer:
        port = free_cluster_port() if "--cluster-enabled" in args else free_port()
        server = RedisServer(redis_root / f"extra-{port}", port, args)
        started.append(server)
        server.start()
        return server

    yield make
    for s in started:
        s.stop()


# -- Kubernetes API emulator, seeded like CreatorBridge ----------------------------------
# `kube_emulator` (one per test) gives a KubeSandbox: the emulator object, its URL, a
# kubeconfig file (context "sandbox", namespace creatorbridge-sandbox), and helpers to run
# the real kubectl or build an official Python client against it. Time runs fast: pods start in ~0.1 s and
# spec.progressDeadlineSeconds is scaled by 0.005 (the default 600 s deadline is 3 s).

NAMESPACE = "creatorbridge-sandbox"
CONTEXT = "sandbox"
KUBECTL = shutil.which("kubectl")
requires_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")


def fast_timing() -> Timing:
    return Timing(tick=0.02, pod_start=0.1, image_backoff=0.2, terminate=0.05,
                  deadline_scale=0.005, log_interval=0.2)


@dataclass
class KubeSandbox:
    emulator: KubeEmulator
    kubeconfig: Path
    namespace: str
    cache_dir: Path
    context: str = CONTEXT

    @property
    def url(self) -> str:
        return self.emulator.url

    @property
    def env(self) -> dict[str, str]:
        """The process environment for tools that read $KUBECONFIG."""
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig),
                "KUBECACHEDIR": str(self.cache_dir)}

    def kubectl(self, *args: str, timeout: float = 30.0,
                namespaced: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl against the emulator (never raises on a non-zero exit)."""
        if KUBECTL is None:
            pytest.skip("kubectl is not installed")
        cmd = [KUBECTL, "--kubeconfig", str(self.kubeconfig), "--cache-dir", str(self.cache_dir)]
        if namespaced:
            cmd += ["-n", self.namespace]
        return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=timeout,
                              env=self.env, check=False)

    def api_client(self) -> Any:
        """An official-client ApiClient loaded from the kubeconfig."""
        from kubernetes import config
        return config.new_client_from_config(config_file=str(self.kubeconfig),
                                             context=self.context)


def start_sandbox(root: Path, namespace: str = NAMESPACE,
                  timing: Timing | None = None) -> KubeSandbox:
    emulator = KubeEmulator(timing=timing or fast_timing(), seed_namespace=namespace).start()
    kubeconfig = emulator.write_kubeconfig(root / "kubeconfig", context=CONTEXT,
                                           namespace=namespace)
    return KubeSandbox(emulator, kubeconfig, namespace, root / "kube-cache")


@pytest.fixture
def kube_emulator(tmp_path: Path) -> Iterator[KubeSandbox]:
    """A fresh emulated cluster for one test."""
    sandbox = start_sandbox(tmp_path)
    try:
        yield sandbox
    finally:
        sandbox.emulator.stop()


# -- `kube`: the per-test emulator, checked for crashed controllers -----------------------
# Used by the emulator's own tests (test_kube_emulator_*.py); a module may define its own
# `kube` fixture instead (test_kube_steps.py does).


@pytest.fixture
def kube(kube_emulator: KubeSandbox) -> Iterator[KubeSandbox]:
    yield kube_emulator
    assert kube_emulator.emulator.cluster.errors == []  # no controller crashed meanwhile


# -- the fold check (tests/fold_check.py), at the end of every integration test -----------
# A test that makes no Run (the servers', the emulator's, the steps' own tests) costs nothing.


@pytest.fixture(autouse=True)
def fold_checked(fold_check: object) -> None:
    """A fresh process's fold of each journal equals what each app (Run) had and showed."""
