"""`python -m runbook.sandbox.kube --port 0 --seed creatorbridge-sandbox [--kubeconfig FILE]`.

The strict flags make it behave as a real cluster does where a kind emulator hides bugs:
`--strict` (all of the below with cluster-like values), or one by one `--watch-latency MS`,
`--sticky-deadline`, `--compact-every SECONDS`, `--strict-microtime`, `--rbac ROLES.yaml`,
`--throttle N` (every N-th request 429 with Retry-After), and `--variety` for a seeded
namespace holding what real ones do besides the deployed services.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import threading
from pathlib import Path

from .common import Obj
from .emulator import KubeEmulator
from .parts import Timing


def _fixture(path: str) -> list[Obj]:
    """Objects from a JSON file: a list, a `List` with items, or one object."""
    data = json.loads(Path(path).read_text())
    if isinstance(data, dict):
        return list(data["items"]) if "items" in data else [data]
    return list(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runbook.sandbox.kube",
                                     description="Serve the Kubernetes API emulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = any free port")
    parser.add_argument("--seed", metavar="NAMESPACE", action="append", default=[],
                        help="seed this namespace with the CreatorBridge deployments")
    parser.add_argument("--fixture", metavar="FILE.json", action="append", default=[],
                        help="create the objects of this JSON file")
    parser.add_argument("--kubeconfig", metavar="FILE", help="where to write the kubeconfig")
    parser.add_argument("--context", default="sandbox")
    parser.add_argument("--deadline-scale", type=float, default=1.0,
                        help="multiplies progressDeadlineSeconds (0.01 = 100x faster)")
    strict = parser.add_argument_group("as strict as a cluster")
    strict.add_argument("--strict", action="store_true",
                        help="watch latency 50 ms, sticky deadline, compaction every 5 min, "
                             "strict MicroTime")
    strict.add_argument("--watch-latency", type=float, metavar="MS",
                        help="deliver watch events this many milliseconds after the write")
    strict.add_argument("--sticky-deadline", action="store_true",
                        help="keep ProgressDeadlineExceeded on a re-adopted ReplicaSet until "
                             "progress, as the real controller does")
    strict.add_argument("--compact-every", type=float, metavar="SECONDS",
                        help="etcd-style compaction: older resourceVersions get 410 Expired")
    strict.add_argument("--strict-microtime", action="store_true",
                        help="reject Lease times without six fractional digits (400)")
    strict.add_argument("--rbac", metavar="ROLES", help="authorize requests by the Role and "
                        "ClusterRole objects of this file (JSON or YAML); 403 otherwise")
    strict.add_argument("--rbac-user", default="", help="the user named in 403 messages")
    strict.add_argument("--throttle", type=int, metavar="N", default=0,
                        help="answer every N-th request 429 with Retry-After (API Priority "
                             "and Fairness)")
    strict.add_argument("--variety", action="store_true",
                        help="seed matchExpressions, a sidecar, Completed and Evicted pods, "
                             "a paused deployment, a WaitForFirstConsumer claim")
    args = parser.parse_args(argv)
    objects: list[Obj] = []
    for path in args.fixture:
        objects += _fixture(path)
    emulator = KubeEmulator(host=args.host, port=args.port,
                            timing=Timing(deadline_scale=args.deadline_scale),
                            seed_objects=objects)
    for ns in args.seed:
        from .seed import creatorbridge
        from .variety import vary
        world = creatorbridge(ns)
        emulator.seed(vary(world, ns) if args.variety else world)
        if args.variety:
            emulator.add_variety_after_settle(ns)
    try:
        _strictness(emulator, args)
    except (OSError, ValueError) as e:
        print(f"python -m runbook.sandbox.kube: --rbac {args.rbac}: {e}", file=sys.stderr)
        return 2
    emulator.start()
    path = args.kubeconfig or str(Path(tempfile.mkdtemp(prefix="kube-emulator-")) / "kubeconfig")
    namespace = args.seed[0] if args.seed else "default"
    written = emulator.write_kubeconfig(path, args.context, namespace)
    print(f"serving {emulator.url}", flush=True)
    print(f"kubeconfig {written}", flush=True)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    emulator.stop()
    return 0


def _strictness(emulator: KubeEmulator, args: argparse.Namespace) -> None:
    faults = emulator.faults
    if args.strict:
        faults.strict(watch_latency=0.05, compact_every=300.0)
    if args.watch_latency is not None:
        faults.watch_latency = args.watch_latency / 1000.0
    if args.sticky_deadline:
        faults.sticky_deadline = True
    if args.compact_every is not None:
        faults.compact_every = args.compact_every
    if args.strict_microtime:
        faults.strict_micro_time = True
    if args.throttle:
        faults.throttle(args.throttle)
    if args.rbac:
        faults.load_rbac(args.rbac, args.rbac_user)


if __name__ == "__main__":
    sys.exit(main())
