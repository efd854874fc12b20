"""Sandbox smoke tests: the gateway (or, with --all, every service) answers healthy.

Reads the stand-in server's URL and the services' health paths from the environment
($SANDBOX_HTTP_URL, $SANDBOX_HEALTH_PATHS as name=path,...).
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request


def check(name: str, path: str) -> bool:
    url = f"{os.environ['SANDBOX_HTTP_URL']}/svc/{name}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            ok = bool(json.loads(resp.read()).get("status") == "healthy")
    except (urllib.error.URLError, OSError, ValueError):
        ok = False
    print(f"  {'✓' if ok else '✗'} {name} {path}")
    return ok


def main(argv: list[str]) -> int:
    paths = dict(p.split("=", 1) for p in os.environ.get("SANDBOX_HEALTH_PATHS", "").split(",") if p)
    names = list(paths) if "--all" in argv else ["api-gateway"]
    print("smoke tests (sandbox):")
    results = [check(n, paths[n]) for n in names if n in paths]
    passed = sum(results)
    print(f"smoke: {passed} of {len(results)} checks passed")
    return 0 if results and all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
