"""`python -m runbook.sandbox.kube --port 0 --seed creatorbridge-sandbox [--kubeconfig FILE]`."""

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
    args = parser.parse_args(argv)
    objects: list[Obj] = []
    for path in args.fixture:
        objects += _fixture(path)
    emulator = KubeEmulator(host=args.host, port=args.port,
                            timing=Timing(deadline_scale=args.deadline_scale),
                            seed_objects=objects)
    for ns in args.seed:
        from .seed import creatorbridge
        emulator.seed(creatorbridge(ns))
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


if __name__ == "__main__":
    sys.exit(main())
