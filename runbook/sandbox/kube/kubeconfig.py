"""A kubeconfig for the emulator, readable by kubectl and by the official Python client."""

from __future__ import annotations

import json
import os
from pathlib import Path


def kubeconfig_text(server: str, context: str = "sandbox", namespace: str = "default",
                    cluster: str = "", user: str = "") -> str:
    """The kubeconfig document (JSON, which is valid YAML for both readers)."""
    cluster = cluster or f"{context}-cluster"
    user = user or f"{context}-admin"
    doc = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": cluster, "cluster": {"server": server}}],
        "users": [{"name": user, "user": {"token": "sandbox-token"}}],
        "contexts": [{"name": context, "context": {"cluster": cluster, "user": user,
                                                   "namespace": namespace}}],
        "current-context": context,
    }
    return json.dumps(doc, indent=2) + "\n"


def write_kubeconfig(path: str | os.PathLike[str], server: str, context: str = "sandbox",
                     namespace: str = "default", cluster: str = "", user: str = "") -> Path:
    """Write the kubeconfig (mode 0600, as kubectl likes it) and return its path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(kubeconfig_text(server, context, namespace, cluster, user))
    target.chmod(0o600)
    return target
