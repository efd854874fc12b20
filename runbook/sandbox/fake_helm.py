"""A stand-in `helm` for the rehearsal: template, upgrade --install --wait, status, rollback.

It changes the emulated cluster for real (the image tag of every deployment in the
namespace) through the Kubernetes API at $SANDBOX_KUBE_URL, and keeps the release's
revisions in the JSON file $SANDBOX_HELM_STATE. Like helm, SIGTERM during an upgrade
marks the release failed.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.request
from pathlib import Path
from types import FrameType
from typing import Any


def _api(method: str, path: str, body: Any = None, ctype: str = "application/json") -> Any:
    url = os.environ["SANDBOX_KUBE_URL"].rstrip("/") + path
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": ctype})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"{}")


def _deployments(ns: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = _api("GET", f"/apis/apps/v1/namespaces/{ns}/deployments")["items"]
    return items


def _state() -> dict[str, Any]:
    path = Path(os.environ["SANDBOX_HELM_STATE"])
    if path.exists():
        loaded: dict[str, Any] = json.loads(path.read_text())
        return loaded
    return {}


def _save(state: dict[str, Any]) -> None:
    Path(os.environ["SANDBOX_HELM_STATE"]).write_text(json.dumps(state, indent=1))


def _opts(argv: list[str]) -> tuple[list[str], dict[str, str], dict[str, str]]:
    pos: list[str] = []
    opts: dict[str, str] = {}
    sets: dict[str, str] = {}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("--set",):
            k, _, v = argv[i + 1].partition("=")
            sets[k] = v.replace("\\,", ",")
            i += 2
        elif a in ("--namespace", "-n", "--timeout", "--kube-context", "-o", "--output"):
            opts[a.lstrip("-")] = argv[i + 1]
            i += 2
        elif a.startswith("--"):
            opts[a.lstrip("-")] = "true"
            i += 1
        else:
            pos.append(a)
            i += 1
    return pos, opts, sets


def _set_tag(ns: str, tag: str) -> None:
    for d in _deployments(ns):
        containers = [{"name": c["name"], "image": c["image"].rsplit(":", 1)[0] + ":" + tag}
                      for c in d["spec"]["template"]["spec"]["containers"]]
        _api("PATCH", f"/apis/apps/v1/namespaces/{ns}/deployments/{d['metadata']['name']}",
             {"spec": {"template": {"spec": {"containers": containers}}}},
             "application/strategic-merge-patch+json")
        print(f"deployment.apps/{d['metadata']['name']} configured")


def _wait(ns: str, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        pending = []
        for d in _deployments(ns):
            st, want = d.get("status", {}), d["spec"].get("replicas", 1)
            done = (d["metadata"].get("generation", 0) <= st.get("observedGeneration", 0)
                    and st.get("updatedReplicas", 0) == want == st.get("availableReplicas", 0)
                    and st.get("replicas", 0) == want)
            if not done:
                pending.append(d["metadata"]["name"])
        if not pending:
            return True
        time.sleep(0.2)
    print(f"still not ready: {', '.join(pending)}")
    return False


def _release(state: dict[str, Any], name: str) -> list[dict[str, Any]]:
    revs: list[dict[str, Any]] = state.setdefault(name, [])
    return revs


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: helm template|upgrade|status|rollback ...", file=sys.stderr)
        return 2
    cmd, rest = argv[0], argv[1:]
    pos, opts, sets = _opts(rest)
    ns = opts.get("namespace", "default")
    state = _state()
    if cmd == "template":
        tag = sets.get("image.tag", "latest")
        for d in _deployments(ns):
            image = d["spec"]["template"]["spec"]["containers"][0]["image"].rsplit(":", 1)[0]
            print(f"---\n# Source: creatorbridge/templates/{d['metadata']['name']}.yaml\n"
                  f"kind: Deployment\nmetadata:\n  name: {d['metadata']['name']}\n"
                  f"  namespace: {ns}\nspec:\n  template:\n    spec:\n      containers:\n"
                  f"        - image: {image}:{tag}")
        return 0
    if cmd == "status":
        revs = _release(state, pos[0])
        if not revs:
            print("Error: release: not found", file=sys.stderr)
            return 1
        last = revs[-1]
        print(json.dumps({"name": pos[0], "namespace": ns, "version": last["revision"],
                          "info": {"status": last["status"]}}))
        return 0
    if cmd in ("upgrade", "rollback"):
        name = pos[0]
        revs = _release(state, name)
        if cmd == "upgrade":
            tag = sets.get("image.tag", "latest")
        else:
            wanted = int(pos[1]) if len(pos) > 1 else revs[-2]["revision"]
            tag = next(r["tag"] for r in revs if r["revision"] == wanted)
        rev = {"revision": (revs[-1]["revision"] + 1) if revs else 1, "tag": tag,
               "status": "pending-upgrade"}
        revs.append(rev)
        _save(state)

        def on_term(signum: int, frame: FrameType | None) -> None:
            rev["status"] = "failed"
            _save(state)
            print("Error: UPGRADE FAILED: interrupted (release marked failed)")
            sys.exit(1)

        signal.signal(signal.SIGTERM, on_term)
        print(f'Release "{name}" is being {"upgraded" if cmd == "upgrade" else "rolled back"}'
              f" to image.tag={tag}")
        _set_tag(ns, tag)
        timeout = float(opts.get("timeout", "300s").rstrip("s"))
        if "wait" in opts and not _wait(ns, timeout):
            rev["status"] = "failed"
            _save(state)
            print("Error: UPGRADE FAILED: context deadline exceeded")
            return 1
        rev["status"] = "deployed"
        _save(state)
        print(f"STATUS: deployed\nREVISION: {rev['revision']}")
        return 0
    print(f"Error: unknown command {cmd!r} for the sandbox helm", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
