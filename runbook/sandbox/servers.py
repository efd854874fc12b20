"""Real PostgreSQL and Redis servers on loopback ports, for the test fixtures and `rehearse`.

PostgreSQL: initdb + pg_ctl (as the `postgres` user when running as root, because initdb
refuses root), a primary with password auth on 127.0.0.1 and a streaming replica cloned with
`pg_basebackup -R`. Redis: `redis-server` in the foreground, owned by the test process.
Everything lives in one temp dir under /tmp (pytest's own tmp dirs are 0700 root-owned,
which the postgres user cannot enter) and is removed at the end.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PG_VERSION = "15"
TEST_USER = "runbook_test"
TEST_PASSWORD = "Zq7-wH1SPER-pw-91x"  # distinctive, so a grep for it finds any leak
REPL_USER = "replicator"
REPL_PASSWORD = "R3pl-only-pw-55k"
REDIS_PASSWORD = "Rd5-auth-pw-37q"


class Unavailable(Exception):
    """A binary or the postgres user is missing: the tests that need it are skipped."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_cluster_port() -> int:
    """A free port P <= 55535 with P + 10000 free too (Redis Cluster's bus port)."""
    for _ in range(200):
        port = free_port()
        if port > 55535:
            continue
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind(("127.0.0.1", port + 10000))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


def pg_bindir() -> Path:
    candidates = [f"/usr/lib/postgresql/{PG_VERSION}/bin",
                  *sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for d in candidates:
        if os.path.exists(os.path.join(d, "initdb")):
            return Path(d)
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise Unavailable("PostgreSQL server binaries (initdb, pg_ctl) not found: "
                      "apt-get install postgresql")


def make_tempdir(prefix: str) -> Path:
    """A temp dir the postgres user may use (owned by it when we are root)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(path)
            raise Unavailable("running as root but there is no 'postgres' user to run "
                              "initdb as") from None
        os.chown(path, pw.pw_uid, pw.pw_gid)
    return path


def _as_pg(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", "postgres", "--", *argv]
    return ["su", "postgres", "-c", " ".join(argv)]


def _run(argv: list[str], env: dict[str, str] | None = None, timeout: float = 60) -> str:
    """Run a PostgreSQL tool in a session of its own: a hang-up or Ctrl-C of the terminal
    reaches only runbook, which lets the tool finish before it stops the servers (a pg_ctl
    killed mid-start would leave a postmaster starting up after the clean-up)."""
    proc = subprocess.run(_as_pg(argv), capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL, check=False,
                          start_new_session=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc.stdout


@dataclass
class PgCluster:
    bindir: Path
    datadir: Path
    sockdir: Path
    port: int
    running: bool = False

    @property
    def logfile(self) -> Path:
        return self.datadir.parent / f"{self.datadir.name}.log"

    def url(self, user: str = TEST_USER, password: str | None = None, db: str = "appdb") -> str:
        auth = f"{user}:{password}" if password else user
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{db}"

    def admin_conninfo(self, db: str = "postgres") -> str:
        """Superuser over the unix socket (trust): for setting up and poking at the server."""
        return f"host={self.sockdir} port={self.port} user=postgres dbname={db}"

    def initdb(self, max_connections: int = 50) -> None:
        pwfile = self.sockdir / "pw"
        pwfile.write_text("unused-superuser-pw\n")
        _run([str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", "postgres", "-N",
              "-A", "trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8",
              "--locale=C"])
        conf = (f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                f"unix_socket_directories = '{self.sockdir}'\n"
                f"max_connections = {max_connections}\nsuperuser_reserved_connections = 3\n"
                "wal_level = replica\nmax_wal_senders = 5\nfsync = off\n"
                "synchronous_commit = off\nfull_page_writes = off\nshared_buffers = 16MB\n"
                "wal_retrieve_retry_interval = 500ms\nwal_receiver_status_interval = 1s\n")
        with open(self.datadir / "postgresql.conf", "a") as f:
            f.write(conf)
        hba = (f"local all all trust\nhost replication {REPL_USER} 127.0.0.1/32 scram-sha-256\n"
               "host all all 127.0.0.1/32 scram-sha-256\n")
        (self.datadir / "pg_hba.conf").write_text(hba)

    def start(self) -> None:
        _run([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.logfile),
              "-w", "-t", "30", "start"])
        self.running = True

    def stop(self) -> None:
        if (self.datadir / "postmaster.pid").exists():
            _run([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w",
                  "-t", "30", "stop"])
        self.running = False

    def sql(self, statement: str, db: str = "postgres") -> list[tuple[object, ...]]:
        import psycopg

        with psycopg.connect(self.admin_conninfo(db), autocommit=True, connect_timeout=5) as c:
            cur = c.execute(statement.encode())
            return cur.fetchall() if cur.description else []


def start_primary(root: Path, bindir: Path, max_connections: int = 50) -> PgCluster:
    pg = PgCluster(bindir, root / "primary", root, free_port())
    pg.initdb(max_connections)
    pg.start()
    pg.sql(f"CREATE ROLE {TEST_USER} LOGIN PASSWORD '{TEST_PASSWORD}' IN ROLE pg_monitor")
    pg.sql(f"CREATE ROLE {REPL_USER} LOGIN REPLICATION PASSWORD '{REPL_PASSWORD}'")
    pg.sql(f"CREATE DATABASE appdb OWNER {TEST_USER}")
    pg.sql(f"CREATE DATABASE scratch OWNER {TEST_USER}")
    pg.sql(f"SET ROLE {TEST_USER}; CREATE TABLE creators (id serial PRIMARY KEY, name text);"
           "INSERT INTO creators (name) SELECT 'creator ' || g FROM generate_series(1, 500) g;"
           "CREATE TABLE filler (id serial PRIMARY KEY, payload text)", db="appdb")
    return pg


def start_replica(primary: PgCluster, root: Path) -> PgCluster:
    rep = PgCluster(primary.bindir, root / "replica", root, free_port())
    _run([str(primary.bindir / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port),
          "-U", REPL_USER, "-D", str(rep.datadir), "-R", "-X", "stream", "-c", "fast", "-N"],
         env={"PGPASSWORD": REPL_PASSWORD})
    with open(rep.datadir / "postgresql.conf", "a") as f:
        f.write(f"port = {rep.port}\nhot_standby = on\n")
    rep.start()
    return rep


def wait_streaming(replica: PgCluster, timeout: float = 15) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if replica.sql("SELECT status FROM pg_stat_wal_receiver") == [("streaming",)]:
                return
        except Exception:  # still starting
            pass
        time.sleep(0.1)
    raise RuntimeError(f"replica on port {replica.port} not streaming after {timeout}s")


@dataclass
class RedisServer:
    dir: Path
    port: int
    args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise Unavailable("redis-server not found: apt-get install redis-server")
        self.dir.mkdir(parents=True, exist_ok=True)
        argv = [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(self.dir), "--daemonize", "no",
                "--logfile", str(self.dir / "redis.log"), *self.args]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {(self.dir / 'redis.log').read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"redis-server did not listen on {self.port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # redis-server shuts down cleanly on SIGTERM
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
