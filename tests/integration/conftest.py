"""Session-scoped real servers for the integration tests (see servers.py).

Fixtures added by other helpers go below, each in its own block; append, never rewrite.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

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
