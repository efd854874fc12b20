"""Kubernetes step figures, on the API emulator (runbook/sandbox/kube), in one go.

    .venv/bin/python bench/kube.py [--rollouts N] [--watch-latency MS] [--only abcd]

The emulator runs as strict as a cluster (issue 14): watch events are delivered
--watch-latency ms after the write (default 50; 0 = at once), the deadline condition is
sticky on re-adopted ReplicaSets, history is compacted, Lease times are strict. kubectl and
our steps see the same cluster, so figure a compares them under the same latency.

Prints one line per figure with its target (PASS/FAIL), and indented detail lines; exits 1
when a figure misses its target (or could not be measured), else 0:

a. how long after `kubectl rollout status` prints success our k8s.rollout-status step
   (the shared DeploymentWatch + follow) marks the same rollout done: both started together
   right after the image is patched, N rollouts; median and max (targets: median < 50 ms,
   max < 150 ms). Negative = ours first.
b. watch event -> Pods table: time from the emulator committing a pod change to the PodTable
   showing it (row added or removed), in-process with Pilot, during a rollout; p95 < 100 ms.
c. time to show 5,000 pods: a namespace seeded with 5,000 pods, the app opened on it, time
   from the app starting to 5,000 rows (< 1.5 s; the watcher starts after the first paint).
d. resident memory of one DeploymentWatch over twelve deployments (in a subprocess) vs
   twelve `kubectl rollout status` processes (sum of their RSS), all following stuck rollouts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runbook.sandbox.kube import CREATORBRIDGE_SERVICES, KubeEmulator, Timing

NS = "creatorbridge-sandbox"
REGISTRY = "creatorbridge.azurecr.io"
KUBECTL = shutil.which("kubectl")
misses: list[str] = []
STRICT = {"watch_latency": 0.05, "compact_every": 30.0}  # set from the command line


def line(label: str, value: str, target: str, ok: bool | None) -> None:
    verdict = "" if ok is None else ("PASS" if ok else "FAIL")
    if ok is False:
        misses.append(label)
    print(f"{label}: {value} (target {target}) {verdict}".rstrip(), flush=True)


def start(root: Path, timing: Timing, ns: str = NS) -> tuple[KubeEmulator, Path]:
    emu = KubeEmulator(timing=timing, seed_namespace=ns)
    emu.faults.strict(**STRICT)
    emu.start()
    kubeconfig = emu.write_kubeconfig(root / "kubeconfig", context="sandbox", namespace=ns)
    return emu, kubeconfig


def rss_kib(pid: int) -> int:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmRSS:"):
            return int(row.split()[1])
    return 0


# -- a. kubectl rollout status vs our step ------------------------------------------------


def bench_a(root: Path, rollouts: int) -> None:
    from kubernetes import client

    from runbook.execute.stepkind import CancelToken, Outcome, StepContext
    from steps.kube.client import api_client, forget_clients
    from steps.kube.deploy import RolloutStatusStep
    from steps.kube.rollout import DeploymentWatch
    if KUBECTL is None:
        line("a. our rollout done after kubectl's", "skipped: no kubectl", "<50 ms", None)
        return
    timing = Timing(tick=0.02, pod_start=0.6, image_backoff=0.2, terminate=0.1,
                    deadline_scale=0.05, log_interval=0)
    emu, kubeconfig = start(root, timing)
    os.environ["KUBECONFIG"] = str(kubeconfig)
    forget_clients()
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "KUBECACHEDIR": str(root / "cache")}
    apps = client.AppsV1Api(api_client("sandbox", str(kubeconfig)))
    step = RolloutStatusStep()
    deltas: list[float] = []
    try:
        for i in range(rollouts):
            name = CREATORBRIDGE_SERVICES[i % len(CREATORBRIDGE_SERVICES)]
            apps.patch_namespaced_deployment(name, NS, {"spec": {"template": {"spec": {
                "containers": [{"name": name, "image": f"{REGISTRY}/{name}:b{i}"}]}}}})
            proc = subprocess.Popen([KUBECTL, "--kubeconfig", str(kubeconfig), "-n", NS,
                                     "rollout", "status", f"deployment/{name}", "--timeout=30s"],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                    env=env)
            ours: list[float] = []
            outcome: list[Any] = []

            class Sink:
                def write_lines(self, lines: Any) -> None:
                    pass

            ctx = StepContext(item_id="x", params={"deployment": name, "timeout": 30.0},
                              cancel=CancelToken(), output=Sink(), session_dir=root,
                              dry_run=False, namespace=NS, kube_context="sandbox",
                              process_env={"KUBECONFIG": str(kubeconfig)})

            def run_ours(c: StepContext = ctx, done: list[float] = ours,
                         got: list[Any] = outcome) -> None:
                r = step.run(c)
                done.append(time.monotonic())
                got.append(r)

            t = threading.Thread(target=run_ours, daemon=True)
            t.start()
            theirs = 0.0
            assert proc.stdout is not None
            for out in proc.stdout:
                if "successfully rolled out" in out:
                    theirs = time.monotonic()
            proc.wait(30)
            t.join(30)
            if not theirs or not ours or outcome[0].outcome is not Outcome.PASSED:
                print(f"    rollout {i}: kubectl ok={bool(theirs)} ours={outcome}", flush=True)
                continue
            deltas.append((ours[0] - theirs) * 1000)
        DeploymentWatch.close_all()
    finally:
        emu.stop()
        forget_clients()
    if not deltas:
        line("a. our rollout done after kubectl's", "no samples", "median <50 ms", False)
        return
    med, worst = statistics.median(deltas), max(deltas)
    line("a. our rollout done after kubectl's (median)", f"{med:+.1f} ms", "<50 ms", med < 50)
    line("a. our rollout done after kubectl's (max)", f"{worst:+.1f} ms", "<150 ms",
         worst < 150)
    print(f"    {len(deltas)} rollouts; min {min(deltas):+.1f} ms; negative = ours first",
          flush=True)


# -- b and c: the Pods pane, in-process ---------------------------------------------------


def make_app(root: Path, ns: str) -> Any:
    from runbook.format.loader import load_text
    from runbook.journal.sqlite import Journal
    from runbook.session.operator import Operator
    from screens.app import AppConfig, build_app
    from steps import default_registry
    text = (f"runbook: 1\ntitle: Pods bench\nenvironments:\n"
            f"  sandbox: {{namespace: {ns}, context: sandbox}}\n"
            "phases:\n  - id: p\n    title: P\n    sections:\n      - id: s\n        title: S\n"
            "        items:\n          - {id: pods, kind: check, title: Pods, uses: k8s.pods}\n")
    path = root / f"{ns}.yaml"
    path.write_text(text)
    reg = default_registry()
    rb = load_text(text, str(path), reg)
    return build_app(AppConfig(rb, reg, Journal(root / f"{ns}-journal.db"),
                               Operator("bench", "h", ""), "sandbox", {}, False))


async def _until(pilot: Any, pred: Any, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            return False
        await asyncio.sleep(0.005)
    return True


def bench_b(root: Path) -> None:
    from kubernetes import client

    from runbook.sandbox.kube.store import Store
    from screens.widgets.pod_table import PodTable
    from steps.kube.client import api_client, forget_clients
    timing = Timing(tick=0.02, pod_start=0.5, image_backoff=0.2, terminate=0.3,
                    deadline_scale=0.05, log_interval=0)
    emu, kubeconfig = start(root, timing)
    os.environ["KUBECONFIG"] = str(kubeconfig)
    forget_clients()
    committed: dict[tuple[str, str], float] = {}  # (pod, ADDED/DELETED) -> time
    shown: dict[tuple[str, str], float] = {}
    original_commit = Store._commit

    def commit(self: Store, kind: str, res: Any, obj: Any, prev: Any, *a: Any, **k: Any) -> Any:
        result = original_commit(self, kind, res, obj, prev, *a, **k)
        if res.kind == "Pod" and kind in ("ADDED", "DELETED"):
            committed.setdefault((obj["metadata"]["name"], kind), time.monotonic())
        return result

    original_apply = PodTable.apply_changes  # every change of rows goes through it

    def apply(self: PodTable, changed: list[dict[str, Any]], removed: Any) -> None:
        before = set(self._rows)
        original_apply(self, changed, removed)
        now, after = time.monotonic(), set(self._rows)
        for n in after - before:
            shown.setdefault((n, "ADDED"), now)
        for n in before - after:
            shown.setdefault((n, "DELETED"), now)

    Store._commit = commit  # type: ignore[method-assign]
    PodTable.apply_changes = apply  # type: ignore[method-assign]
    apps = client.AppsV1Api(api_client("sandbox", str(kubeconfig)))

    async def drive() -> None:
        app = make_app(root, NS)
        async with app.run_test(size=(180, 50)) as pilot:
            await pilot.press("3")
            table = app.screen.query_one(PodTable)
            await _until(pilot, lambda: table.row_count == 24, 10)
            for name in CREATORBRIDGE_SERVICES[:6]:
                await asyncio.to_thread(apps.patch_namespaced_deployment, name, NS, {
                    "spec": {"template": {"spec": {"containers": [
                        {"name": name, "image": f"{REGISTRY}/{name}:v7"}]}}}})
                await asyncio.sleep(0.15)
            await asyncio.to_thread(emu.wait_rolled_out, NS, None, 20)
            await asyncio.sleep(0.6)

    try:
        asyncio.run(drive())
    finally:
        Store._commit = original_commit  # type: ignore[method-assign]
        PodTable.apply_changes = original_apply  # type: ignore[method-assign]
        emu.stop()
        forget_clients()
    lags = sorted((shown[k] - t) * 1000 for k, t in committed.items() if k in shown)
    if not lags:
        line("b. watch event -> pod table p95", "no samples", "<100 ms", False)
        return
    p95 = lags[min(len(lags) - 1, int(len(lags) * 0.95))]
    line("b. watch event -> pod table p95", f"{p95:.0f} ms", "<100 ms", p95 < 100)
    print(f"    {len(lags)} pod changes (of {len(committed)}); median "
          f"{statistics.median(lags):.0f} ms, max {lags[-1]:.0f} ms", flush=True)


def bench_c(root: Path, count: int = 5000) -> None:
    """The emulator runs in a process of its own, as a real API server would: in the app's
    process its controllers would compete with the client for the GIL."""
    import json
    import subprocess
    import sys as _sys

    from screens.widgets.pod_table import PodTable
    from steps.kube.client import forget_clients
    ns = "bulk"
    pods = [{"apiVersion": "v1", "kind": "Pod",
             "metadata": {"name": f"worker-{i:05d}", "namespace": ns, "labels": {"app": "w"}},
             "spec": {"containers": [{"name": "w", "image": "worker:v1"}],
                      "nodeName": f"sandbox-node-{i % 3 + 1}"}} for i in range(count)]
    fixture = root / "bulk-pods.json"
    fixture.write_text(json.dumps([{"apiVersion": "v1", "kind": "Namespace",
                                    "metadata": {"name": ns}}, *pods]))
    kubeconfig = root / "bulk-kubeconfig"
    seeded_at = time.monotonic()
    proc = subprocess.Popen([_sys.executable, "-m", "runbook.sandbox.kube", "--fixture",
                             str(fixture), "--kubeconfig", str(kubeconfig)],
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None
        for _ in range(2):
            proc.stdout.readline()  # "serving ...", "kubeconfig ..."
        time.sleep(3.0)  # let its kubelet settle the pods, as a running cluster has
        seeded = time.monotonic() - seeded_at
        os.environ["KUBECONFIG"] = str(kubeconfig)
        forget_clients()
        result: list[float] = []

        async def drive() -> None:
            app = make_app(root, ns)
            started = time.monotonic()
            async with app.run_test(size=(180, 50)) as pilot:
                await pilot.press("3")
                table = app.screen.query_one(PodTable)
                if await _until(pilot, lambda: table.row_count >= count, 20):
                    result.append(time.monotonic() - started)

        asyncio.run(drive())
    finally:
        proc.terminate()
        proc.wait(10)
        forget_clients()
    if not result:
        line(f"c. time to show {count} pods", "not shown in 20 s", "<1.5 s", False)
        return
    line(f"c. time to show {count} pods", f"{result[0]:.2f} s", "<1.5 s", result[0] < 1.5)
    print(f"    from app start, emulator in its own process (started and settled in "
          f"{seeded:.1f} s)", flush=True)


# -- d. memory ------------------------------------------------------------------------------

OURS = r"""
import sys, threading, time
sys.path.insert(0, sys.argv[1])
from steps.kube.client import api_client
from steps.kube.rollout import DeploymentWatch, follow
names = sys.argv[3].split(",")
api = api_client("sandbox", sys.argv[2])
w = DeploymentWatch.acquire(api, sys.argv[4])
for n in names:
    threading.Thread(target=follow, args=(w, n, time.monotonic() + 60, lambda: False,
                     lambda m: None), daemon=True).start()
time.sleep(3)
for row in open("/proc/self/status"):
    if row.startswith("VmRSS:"):
        print(row.split()[1], flush=True)
"""


def bench_d(root: Path) -> None:
    if KUBECTL is None:
        line("d. RSS", "skipped: no kubectl", "less than kubectl's", None)
        return
    timing = Timing(tick=0.02, pod_start=0.1, image_backoff=0.2, terminate=0.05,
                    deadline_scale=0.2, log_interval=0)  # 600 s deadline = 120 s: stuck
    emu, kubeconfig = start(root, timing)
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "KUBECACHEDIR": str(root / "cache")}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        from runbook.sandbox.kube.resources import DEPLOYMENT
        for name in CREATORBRIDGE_SERVICES:  # bad images: the rollouts never finish
            def bad(d: dict[str, Any], n: str = name) -> None:
                d["spec"]["template"]["spec"]["containers"][0]["image"] = f"{REGISTRY}/{n}:bad"
                d["metadata"]["generation"] = int(d["metadata"].get("generation", 1)) + 1
            emu.store.modify(DEPLOYMENT, NS, name, bad)
        time.sleep(0.5)
        repo = str(Path(__file__).resolve().parent.parent)
        ours = subprocess.run([sys.executable, "-c", OURS, repo, str(kubeconfig),
                               ",".join(CREATORBRIDGE_SERVICES), NS], capture_output=True,
                              text=True, timeout=60, env=env, check=False)
        ours_kib = int(ours.stdout.strip() or 0)
        for name in CREATORBRIDGE_SERVICES:
            procs.append(subprocess.Popen([KUBECTL, "--kubeconfig", str(kubeconfig), "-n", NS,
                                           "rollout", "status", f"deployment/{name}"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                          env=env))
        time.sleep(3)
        alive = [p for p in procs if p.poll() is None]
        theirs_kib = sum(rss_kib(p.pid) for p in alive)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(5)
        emu.stop()
    if not ours_kib:
        line("d. RSS of one watch over 12 deployments", "failed: " + ours.stderr[-200:],
             "less than 12 kubectl", False)
        return
    line("d. RSS of one watch over 12 deployments", f"{ours_kib / 1024:.0f} MiB",
         f"less than 12 kubectl rollout status: {theirs_kib / 1024:.0f} MiB "
         f"({len(alive)} processes)", ours_kib < theirs_kib)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rollouts", type=int, default=20)
    parser.add_argument("--only", default="abcd")
    parser.add_argument("--watch-latency", type=float, default=50.0, metavar="MS",
                        help="watch events delivered this long after the write (0 = at once)")
    args = parser.parse_args()
    STRICT["watch_latency"] = args.watch_latency / 1000.0
    print(f"    emulator strict: watch latency {args.watch_latency:g} ms, sticky deadline, "
          f"compaction every {STRICT['compact_every']:g} s", flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="runbook-bench-kube-") as tmp:
        root = Path(tmp)
        for key, fn in (("a", lambda r: bench_a(r, args.rollouts)), ("b", bench_b),
                        ("c", bench_c), ("d", bench_d)):
            if key in args.only:
                sub = root / key
                sub.mkdir()
                fn(sub)
    print(f"    total {time.monotonic() - started:.0f} s; "
          + (f"MISSED: {', '.join(misses)}" if misses else "every figure met its target"),
          flush=True)
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
