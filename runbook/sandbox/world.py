"""The local rehearsal world behind `runbook rehearse`.

Starts, on loopback ports: the Kubernetes API emulator seeded with the CreatorBridge
namespace; one stand-in HTTP server for the ten health endpoints (answered from the
emulated deployments' readiness) and the external services; a real PostgreSQL primary
and streaming replica and a real Redis when their binaries are installed; a stand-in
`helm` and `npm` first on PATH. Stops everything it started.

Faults for practising the rollback: bad-image:SERVICE, unhealthy:SERVICE, replica-lag,
redis-down; and for practising a busy or stuck cluster: throttle (every 5th API request
answered 429 with Retry-After, as API Priority and Fairness does), migration-hang:SERVICE
(`npx prisma ...` in that service's pods prints a line, then hangs).

The emulated cluster is as strict as a real one (watch events 50 ms after the write, the
sticky deadline condition on a re-adopted ReplicaSet, compaction, strict Lease times), and
its namespace holds the variety of a real one beside the deployed services (a
matchExpressions selector, a sidecar, a Completed and an Evicted pod, a paused deployment,
a WaitForFirstConsumer claim): see runbook/sandbox/kube/variety.py.

`progress` is called between the steps of `start` (runbook.sandbox.lifetime keeps the
world's marker there and stops a start a signal interrupted); `folders()` and
`processes()` say what the world holds so far.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from runbook.format.model import Runbook
from runbook.sandbox.http_standins import StandinServer
from runbook.sandbox.procs import Proc, proc
from runbook.sandbox.servers import PgCluster, RedisServer, pg_bindir
from runbook.sandbox.standins import write_standins

NAMESPACE = "creatorbridge-sandbox"
FAULTS = ("bad-image", "unhealthy", "replica-lag", "redis-down", "throttle", "migration-hang")
SERVICE_FAULTS = ("bad-image", "unhealthy", "migration-hang")
COMPACT_EVERY = 20.0  # seconds between etcd-style compactions (a real server: 5 minutes)
SANDBOX_TAG = "v1.0.0"


class SandboxError(Exception):
    pass


def parse_faults(specs: Iterable[str], services: set[str]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for spec in specs:
        kind, _, arg = spec.partition(":")
        if kind not in FAULTS:
            raise SandboxError(f"--fault {spec!r}: unknown fault (use {', '.join(FAULTS)})")
        if kind in SERVICE_FAULTS:
            if arg not in services:
                raise SandboxError(f"--fault {spec!r}: name a service ({kind}:SERVICE), one of: "
                                   + ", ".join(sorted(services)))
        elif arg:
            raise SandboxError(f"--fault {spec!r}: {kind} takes no argument")
        out.append((kind, arg))
    return out


class Sandbox:
    def __init__(self, runbook: Runbook, faults: Iterable[str] = (), root: Path | None = None,
                 databases: bool = True) -> None:
        self.runbook = runbook
        deployable = {s.name for s in runbook.services if not s.infrastructure}
        self.faults = parse_faults(faults, deployable)
        self.root = root or Path(tempfile.mkdtemp(prefix="runbook-sandbox-"))
        self.want_databases = databases
        self.notes: list[str] = []  # what could not be started here, and why
        self.env: dict[str, str] = {}  # process environment for the run
        self.values: dict[str, str] = {}  # the sandbox environment's values, actual ports
        self._stops: list[tuple[str, object]] = []
        self._lag_stop = threading.Event()
        self.progress: Callable[[], None] = lambda: None

    # -- start -----------------------------------------------------------------------------
    def start(self) -> Sandbox:
        started = time.monotonic()
        try:
            for step in (self._kube, self._http, self._files):
                step()
                self.progress()
            if self.want_databases:
                self._postgres()
                self._redis()
                self.progress()
            else:
                self.notes.append("PostgreSQL and Redis not started (--no-databases)")
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - started
        return self

    def _kube(self) -> None:
        from runbook.sandbox.kube.emulator import KubeEmulator
        from runbook.sandbox.kube.parts import Timing
        # a stuck rollout reaches its progress deadline (600 s) in about 15 s here
        kube = KubeEmulator(seed_namespace=NAMESPACE, timing=Timing(deadline_scale=0.025),
                            variety=True)
        kube.faults.strict(watch_latency=0.05, compact_every=COMPACT_EVERY)
        kube.start()
        self._stops.append(("kube", kube))
        self.kube = kube
        kubeconfig = self.root / "kubeconfig"
        kube.write_kubeconfig(kubeconfig, context="sandbox", namespace=NAMESPACE)
        kube.wait_rolled_out(NAMESPACE)
        bad = {arg for kind, arg in self.faults if kind == "bad-image"}
        if bad:
            plain = kube.faults.is_bad_image

            def is_bad(image: str) -> bool:
                """Any new image of a faulty service never pulls; its current one still does."""
                name, _, tag = image.rpartition(":")
                return plain(image) or (name.rsplit("/", 1)[-1] in bad and tag != SANDBOX_TAG)

            setattr(kube.faults, "is_bad_image", is_bad)  # noqa: B010
        if any(kind == "throttle" for kind, _ in self.faults):
            kube.faults.throttle(every=5, retry_after=1)
        for kind, arg in self.faults:
            if kind == "migration-hang":
                kube.faults.hang_exec("npx prisma", ("Prisma schema loaded from "
                                                     "prisma/schema.prisma",), app=arg)
        self.env.update(KUBECONFIG=str(kubeconfig), SANDBOX_KUBE_URL=kube.url)

    def _readiness(self, name: str) -> tuple[bool, str]:
        from runbook.sandbox.kube.resources import DEPLOYMENT
        dep = self.kube.store.find(DEPLOYMENT, NAMESPACE, name)
        if dep is None:
            return False, "deployment not found"
        want = dep["spec"].get("replicas", 1)
        status = dep.get("status", {})
        ready = status.get("readyReplicas", 0)
        for cond in status.get("conditions") or []:
            if cond.get("reason") == "ProgressDeadlineExceeded":
                return False, "rollout broken: progress deadline exceeded"
        if status.get("unavailableReplicas", 0) and status.get("updatedReplicas", 0) < want:
            return False, "rollout in progress or stuck: unavailable replicas"
        if want == 0 or ready < want:
            return False, f"{ready}/{want} replicas ready"
        return True, ""

    def _http(self) -> None:
        paths = {s.name: s.health for s in self.runbook.services if s.health}
        server = StandinServer(paths, self._readiness).start()
        self._stops.append(("http", server))
        server.unhealthy = {arg for kind, arg in self.faults if kind == "unhealthy"}
        self.http = server
        self.values.update(
            base_url=f"{server.url}/svc/${{service.name}}", registry_url=f"{server.url}/acr",
            cdn_url=f"{server.url}/cdn", blob_probe_url=f"{server.url}/blob/health/probe.txt",
            stripe_api_url=f"{server.url}/stripe", sendgrid_api_url=f"{server.url}/sendgrid")
        self.env.update(SANDBOX_HTTP_URL=server.url,
                        SANDBOX_HEALTH_PATHS=",".join(f"{k}={v}" for k, v in paths.items()),
                        STRIPE_SECRET_KEY="sk_test_sandbox_0000",
                        SENDGRID_API_KEY="SG.sandbox-0000")

    def _files(self) -> None:
        bindir, app = write_standins(self.root)
        self.app_dir = app
        state = self.root / "helm-state.json"
        state.write_text(json.dumps({"creatorbridge": [
            {"revision": 1, "tag": SANDBOX_TAG, "status": "deployed"}]}))
        self.env.update(PATH=f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
                        SANDBOX_HELM_STATE=str(state), RUNBOOK_WAIT_SCALE="0.005")

    def _postgres(self) -> None:
        from runbook.sandbox import servers
        try:
            bindir = servers.pg_bindir()
            pgroot = servers.make_tempdir("runbook-sandbox-pg-")
        except servers.Unavailable as e:
            self.notes.append(f"PostgreSQL items cannot run here: {e}")
            return
        self._stops.append(("pgdir", pgroot))
        self.progress()
        primary = servers.start_primary(pgroot, bindir, max_connections=300)
        self._stops.append(("pg", primary))
        self.progress()
        primary.sql(f"CREATE DATABASE creatorbridge OWNER {servers.TEST_USER}")
        self.progress()
        replica = servers.start_replica(primary, pgroot)
        self._stops.append(("pg", replica))
        self.progress()
        servers.wait_streaming(replica)
        user = servers.TEST_USER
        self.values.update(
            database_url=f"postgresql://{user}@127.0.0.1:{primary.port}/creatorbridge",
            replica_url=f"postgresql://{user}@127.0.0.1:{replica.port}/creatorbridge")
        self.env["PGPASSWORD"] = servers.TEST_PASSWORD
        self.primary, self.replica = primary, replica
        if any(kind == "replica-lag" for kind, _ in self.faults):
            replica.sql("SELECT pg_wal_replay_pause()")
            threading.Thread(target=self._write_load, daemon=True).start()

    def _write_load(self) -> None:
        while not self._lag_stop.wait(0.5):
            try:
                self.primary.sql("CREATE TABLE IF NOT EXISTS lag_load (x text); "
                                 "INSERT INTO lag_load SELECT repeat('x', 1000) "
                                 "FROM generate_series(1, 2000)", db="creatorbridge")
            except Exception:
                return

    def _redis(self) -> None:
        from runbook.sandbox import servers
        if any(kind == "redis-down" for kind, _ in self.faults):
            port = servers.free_port()
            self.values["redis_url"] = f"redis://127.0.0.1:{port}/0"  # nothing listens
            return
        server = servers.RedisServer(self.root / "redis", servers.free_port(),
                                     ["--maxmemory", "256mb"])
        self._stops.append(("redis", server))  # before it starts: a failed start stops it too
        try:
            server.start()
        except servers.Unavailable as e:
            self.notes.append(f"Redis items cannot run here: {e}")
            return
        self.values["redis_url"] = server.url

    # -- the runbook, wired to it ---------------------------------------------------------
    def runbook_for(self, runbook: Runbook) -> Runbook:
        """The runbook with its sandbox environment's values pointed at this world."""
        from dataclasses import replace
        envs = []
        for e in runbook.environments:
            if e.name == "sandbox":
                values = dict(e.values)
                values.update({k: v for k, v in self.values.items() if k in values})
                e = replace(e, values=tuple(values.items()), namespace=NAMESPACE,
                            context="sandbox")
            envs.append(e)
        return replace(runbook, environments=tuple(envs))

    # -- what it holds -----------------------------------------------------------------------
    def folders(self) -> list[Path]:
        return [self.root] + [Path(str(t)) for kind, t in self._stops if kind == "pgdir"]

    def processes(self) -> list[Proc]:
        """Its server processes running now, with their start times (for the marker)."""
        out = []
        for _, thing in list(self._stops):
            found = None
            if isinstance(thing, PgCluster):
                found = proc(f"postgres {thing.datadir.name}", _postmaster_pid(thing.datadir))
            elif isinstance(thing, RedisServer) and thing.proc is not None:
                found = proc("redis", thing.proc.pid)
            if found is not None:
                out.append(found)
        return out

    # -- stop ------------------------------------------------------------------------------
    def stop(self) -> None:
        self._lag_stop.set()
        for kind, thing in reversed(self._stops):
            try:
                if kind == "pgdir":
                    _stop_clusters_in(Path(str(thing)))
                    shutil.rmtree(str(thing), ignore_errors=True)
                else:
                    thing.stop()  # type: ignore[attr-defined]
            except Exception as e:  # keep stopping the rest
                self.notes.append(f"stopping {kind}: {e}")
        self._stops.clear()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _postmaster_pid(datadir: Path) -> int:
    try:
        return int((datadir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def _stop_clusters_in(pgroot: Path) -> None:
    """Stop any cluster still running in `pgroot`: one whose start was cut short never made
    it into the stops (its postmaster.pid says it runs)."""
    for pidfile in sorted(pgroot.glob("*/postmaster.pid")):
        PgCluster(pg_bindir(), pidfile.parent, pgroot, 0).stop()
