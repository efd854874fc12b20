"""Service-step and sandbox benchmarks: `.venv/bin/python bench/services.py`.

Prints one line per figure with its target next to it, and exits 1 if a figure misses its
target. Loopback only; everything it starts it stops; about 30-60 s in all.

Figures:
  http.health round     one round of steps/http/health.py over ten local endpoints that
                        answer in 50-300 ms: against the slowest endpoint and against the
                        sequential sum (the round is concurrent), median of several rounds
  http.health hung      the same with one endpoint that never answers and a 1 s timeout
  sandbox start / stop  `Sandbox(...).start()` and `.stop()` of the rehearsal world
                        (Kubernetes emulator, stand-in HTTP, PostgreSQL primary+replica and
                        Redis when installed), median of 3
  sandbox leftovers     after each stop: no process it started (postgres, redis-server, or
                        anything naming its temp dirs) still alive, every port it listened
                        on closed, its temp dirs removed
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from runbook.execute.stepkind import CancelToken, Outcome, StepContext  # noqa: E402
from runbook.format.loader import load  # noqa: E402
from runbook.format.model import Service  # noqa: E402
from steps import default_registry  # noqa: E402
from steps.http.health import HttpHealth  # noqa: E402

BUNDLED = REPO / "runbooks" / "creatorbridge-deploy.yaml"
DELAYS_MS = (50, 80, 110, 140, 170, 200, 230, 260, 280, 300)  # ten endpoints
ROUNDS = 7
HUNG_TIMEOUT = 1.0
SANDBOX_RUNS = 3

misses: list[str] = []


def report(name: str, value: str, target: str = "", ok: bool | None = None) -> None:
    verdict = "" if ok is None else ("ok" if ok else "MISSED")
    if ok is False:
        misses.append(name)
    print(f"{name:<30} {value:<62} {('target ' + target) if target else '':<26} {verdict}",
          flush=True)


# -- http.health -----------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    delays: dict[str, float] = {}  # path -> seconds; a negative delay never answers
    hang = threading.Event()  # set at the end to release hung handlers

    def do_GET(self) -> None:
        delay = self.delays.get(self.path)
        if delay is None:
            self._send(404, {"error": "no route"})
            return
        if delay < 0:
            self.hang.wait(30)
            return
        time.sleep(delay)
        self._send(200, {"status": "healthy"})

    def _send(self, code: int, body: Any) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def endpoints(delays: dict[str, float]) -> Iterator[str]:
    Handler.delays = delays
    Handler.hang.clear()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.request_queue_size = 64
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        Handler.hang.set()
        srv.shutdown()
        srv.server_close()


class Sink:
    def write_lines(self, lines: Any) -> None:
        pass


def health_round(base: str, services: tuple[Service, ...], timeout: float) -> tuple[float, Any]:
    ctx = StepContext(item_id="bench", params={"base_url": base + "/${service.name}",
                                               "timeout": timeout},
                      cancel=CancelToken(), output=Sink(), session_dir=Path("/tmp"),
                      dry_run=False, services=services)
    started = time.perf_counter()
    result = HttpHealth().run(ctx)
    return time.perf_counter() - started, result


def client_setup() -> float:
    import httpx

    def make() -> None:
        httpx.Client().close()
    times = []
    for _ in range(5):
        t = time.perf_counter()
        make()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_health() -> None:
    names = [f"svc{n}" for n in range(len(DELAYS_MS))]
    services = tuple(Service(name=n, port=1, health="/health", expect=(("status", "healthy"),))
                     for n in names)
    delays = {f"/{n}/health": ms / 1000 for n, ms in zip(names, DELAYS_MS, strict=True)}
    slowest, total = max(DELAYS_MS) / 1000, sum(DELAYS_MS) / 1000
    with endpoints(delays) as base:
        health_round(base, services, 5.0)  # warm: imports, first connections
        times = []
        for _ in range(ROUNDS):
            seconds, result = health_round(base, services, 5.0)
            if result.outcome is not Outcome.PASSED:
                report("http.health round", f"round failed: {result.message}", "", False)
                return
            times.append(seconds)
    med = statistics.median(times)
    over = (med - slowest) * 1000
    report("http.health round (10 endpoints)",
           f"{med * 1000:.0f} ms median of {ROUNDS} (slowest endpoint {slowest * 1000:.0f} ms, "
           f"+{over:.0f} ms)", "<= slowest + 25 ms", over <= 25)
    report("http.health round vs sequential",
           f"{med / total:.2f}x of the sequential sum ({total * 1000:.0f} ms)",
           "<= 0.35x", med / total <= 0.35)
    report("  of which httpx.Client()", f"{client_setup() * 1000:.0f} ms median of 5 (the step builds "
           "one per run; its TLS context loads the CA bundle)", "none (info)")

    hung = dict(delays)
    hung[f"/{names[-1]}/health"] = -1.0
    with endpoints(hung) as base:
        times = []
        for _ in range(3):
            seconds, result = health_round(base, services, HUNG_TIMEOUT)
            if result.outcome is not Outcome.FAILED or "timeout" not in result.message:
                report("http.health hung endpoint", f"unexpected: {result.outcome.value} "
                       f"{result.message}", "", False)
                return
            times.append(seconds)
    med = statistics.median(times)
    over = (med - HUNG_TIMEOUT) * 1000
    report("http.health round, one hung",
           f"{med * 1000:.0f} ms median of 3 (timeout {HUNG_TIMEOUT:g} s, +{over:.0f} ms), "
           "reported as timeout", "<= timeout + 50 ms", over <= 50)


# -- the sandbox -----------------------------------------------------------------------

def port_of(url: str) -> int:
    return int(urlsplit(url).port or 0)


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status  # a zombie is dead, just not reaped by its parent


def children_of(pids: set[int]) -> set[int]:
    """Every live process whose parent is in `pids` (postgres backends, walsender...)."""
    out: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid in pids:
            out.add(int(entry.name))
    return out


def naming(needles: list[str]) -> set[int]:
    """Live processes whose command line mentions one of `needles`."""
    out: set[int] = set()
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(n in cmd for n in needles) and alive(int(entry.name)):
            out.add(int(entry.name))
    return out


def inventory(sandbox: Any) -> tuple[set[int], set[int], list[str]]:
    """What the running sandbox started: pids, ports, directories."""
    pids: set[int] = set()
    ports: set[int] = set()
    dirs = [str(sandbox.root)]
    for kind, thing in list(sandbox._stops):
        if kind == "pgdir":
            dirs.append(str(thing))
        elif kind == "pg":
            ports.add(thing.port)
            pidfile = thing.datadir / "postmaster.pid"
            if pidfile.exists():
                pids.add(int(pidfile.read_text().split()[0]))
        elif kind == "redis":
            ports.add(thing.port)
            if thing.proc is not None:
                pids.add(thing.proc.pid)
        elif kind in ("kube", "http"):
            ports.add(port_of(thing.url))
    pids |= children_of(pids)
    pids |= naming(dirs)
    return pids, ports, dirs


def bench_sandbox() -> None:
    from runbook.sandbox.world import Sandbox
    reg = default_registry()
    rb = load(BUNDLED, reg)
    starts, stops, problems = [], [], []
    notes: list[str] = []
    counts = ""
    threads_before = threading.active_count()
    for _ in range(SANDBOX_RUNS):
        t = time.perf_counter()
        sandbox = Sandbox(rb).start()
        starts.append(time.perf_counter() - t)
        notes = list(sandbox.notes)
        pids, ports, dirs = inventory(sandbox)
        counts = f"{len(pids)} processes, {len(ports)} ports"
        t = time.perf_counter()
        sandbox.stop()
        stops.append(time.perf_counter() - t)
        deadline = time.monotonic() + 2.0  # let a dying process go away
        while time.monotonic() < deadline and any(alive(p) for p in pids):
            time.sleep(0.05)
        left = sorted(p for p in pids if alive(p)) + sorted(naming(dirs) - pids)
        if left:
            problems.append(f"processes left: {left}")
        open_ports = sorted(p for p in ports if listening(p))
        if open_ports:
            problems.append(f"ports still open: {open_ports}")
        kept = [d for d in dirs if Path(d).exists()]
        if kept:
            problems.append(f"dirs left: {kept}")
    time.sleep(0.2)
    extra_threads = threading.active_count() - threads_before
    what = "kube, http, pg primary+replica, redis" if not notes else "; ".join(notes)
    report("sandbox start", f"{statistics.median(starts):.2f} s median of {SANDBOX_RUNS} "
           f"({what})", "none (info)")
    report("sandbox stop", f"{statistics.median(stops):.2f} s median of {SANDBOX_RUNS}",
           "none (info)")
    report("sandbox leftovers", "none" + f" ({counts} checked each time; {extra_threads:+d} "
           "threads)" if not problems else "; ".join(problems), "nothing left", not problems)


def main() -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    bench_health()
    bench_sandbox()
    if misses:
        print(f"missed: {', '.join(misses)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
