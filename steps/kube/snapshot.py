"""Snapshots of the namespace: deployment versions (journaled) and a YAML export."""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

import yaml

from runbook.execute.stepkind import Outcome, StepContext, StepResult
from runbook.format.params import Param, ParamType
from steps.kube.base import KubeStep
from steps.kube.client import apps, call, core
from steps.kube.identity import recorded_here

LISTERS = {
    "deployments": ("apps", "list_namespaced_deployment"),
    "replicasets": ("apps", "list_namespaced_replica_set"),
    "statefulsets": ("apps", "list_namespaced_stateful_set"),
    "daemonsets": ("apps", "list_namespaced_daemon_set"),
    "pods": ("core", "list_namespaced_pod"),
    "services": ("core", "list_namespaced_service"),
    "configmaps": ("core", "list_namespaced_config_map"),
    "secrets": ("core", "list_namespaced_secret"),
    "persistentvolumeclaims": ("core", "list_namespaced_persistent_volume_claim"),
}


def versions_of(deployments: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for d in deployments:
        meta, spec = d["metadata"], d.get("spec", {})
        out[meta["name"]] = {
            "containers": {c["name"]: c.get("image", "")
                           for c in spec.get("template", {}).get("spec", {}).get("containers", [])},
            "replicas": spec.get("replicas", 1),
            "revision": (meta.get("annotations") or {}).get("deployment.kubernetes.io/revision", ""),
        }
    return out


class Versions(KubeStep):
    name = "k8s.versions"
    doc = "snapshot of every deployment's images, replicas and revision (journaled)"

    def run_kube(self, ctx: StepContext, api: Any) -> StepResult:
        items = call(apps(api).list_namespaced_deployment, ctx.namespace)["items"]
        versions = versions_of(items)
        for name, v in sorted(versions.items()):
            images = ", ".join(f"{c}={i}" for c, i in v["containers"].items())
            ctx.output.write_lines([f"{name}: {images} replicas={v['replicas']} "
                                    f"revision={v['revision'] or '?'}"])
        if not versions:
            return StepResult(Outcome.FAILED, f"no deployments in {ctx.namespace}")
        return StepResult(Outcome.PASSED, f"recorded {len(versions)} deployments",
                          facts={"versions": versions, **recorded_here(ctx, api)})


# What the API server sets and `kubectl apply` must not be given back: kept in the live file.
SERVER_SET = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields",
              "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds")


def manifest_and_live(item: dict[str, Any], kind: str, api_version: str,
                      secret: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """An object as `kubectl apply -f` takes it back, and what the server set apart.

    A list's items come without kind and apiVersion (a real API server's lists are so);
    kubectl fills them in when it prints a list, and `apply` needs them. Secret values are
    never written: the manifest keeps no data (applying it leaves the values alone), the
    live part names the keys."""
    md = dict(item.get("metadata") or {})
    live: dict[str, Any] = {"kind": kind, "apiVersion": api_version,
                            "metadata": {k: md[k] for k in ("name", "namespace", *SERVER_SET)
                                         if k in md and k != "managedFields"}}
    for k in SERVER_SET:
        md.pop(k, None)
    body = {k: v for k, v in item.items() if k not in ("metadata", "status", "kind",
                                                        "apiVersion")}
    if "status" in item:
        live["status"] = item["status"]
    if secret:
        live["keys"] = sorted({*(body.get("data") or {}), *(body.get("stringData") or {})})
        body.pop("data", None)
        body.pop("stringData", None)
    return {"apiVersion": api_version, "kind": kind, "metadata": md, **body}, live


class Export(KubeStep):
    """The namespace's objects in a file `kubectl apply -f` takes back (what `kubectl get -o
    yaml` writes: a v1 List, each item with its kind and apiVersion, without what the server
    sets), and their status and server-set fields apart in NAME.live.yaml, for the audit."""

    name = "k8s.export"
    doc = "the namespace's resources to a re-appliable YAML file (secret values never written)"
    params: ClassVar[tuple[Param, ...]] = (
        Param("file", ParamType.STR, default="k8s-backup.yaml"),
        Param("kinds", ParamType.STR_LIST,
              default=("deployments", "services", "configmaps", "replicasets", "pods")),
    )

    def run_kube(self, ctx: StepContext, api: Any) -> StepResult:
        items: list[dict[str, Any]] = []
        lives: list[dict[str, Any]] = []
        for kind in ctx.param("kinds", ()):
            if kind not in LISTERS:
                return StepResult(Outcome.FAILED, f"cannot export {kind!r} (known: "
                                  f"{', '.join(sorted(LISTERS))})")
            group, method = LISTERS[kind]
            client = apps(api) if group == "apps" else core(api)
            listed = call(getattr(client, method), ctx.namespace)
            single = str(listed.get("kind", "")).removesuffix("List")
            version = str(listed.get("apiVersion") or ("apps/v1" if group == "apps" else "v1"))
            for it in listed["items"]:
                doc, live = manifest_and_live(it, single, version, kind == "secrets")
                items.append(doc)
                lives.append(live)
            ctx.output.write_lines([f"{kind}: {len(listed['items'])}"])
        path = ctx.session_dir / str(ctx.param("file", "k8s-backup.yaml"))
        text = yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items,
                               "metadata": {"resourceVersion": ""}}, sort_keys=False)
        path.write_text(text, encoding="utf-8")
        live_path = path.with_name(f"{path.stem}.live{path.suffix or '.yaml'}")
        live_path.write_text(yaml.safe_dump_all(lives, sort_keys=False), encoding="utf-8")
        digest = hashlib.sha256(text.encode()).hexdigest()
        return StepResult(Outcome.PASSED, f"wrote {path.name} ({len(text)} bytes; status in "
                          f"{live_path.name})",
                          facts={"file": str(path), "bytes": len(text), "sha256": digest,
                                 "live_file": str(live_path)})
