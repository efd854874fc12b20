"""Snapshots of the namespace: deployment versions (journaled) and a YAML export."""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

import yaml

from runbook.execute.stepkind import Outcome, Param, ParamType, StepContext, StepResult
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


class Export(KubeStep):
    name = "k8s.export"
    doc = "the namespace's resources to a YAML file in the session folder (secret values masked)"
    params: ClassVar[tuple[Param, ...]] = (
        Param("file", ParamType.STR, default="k8s-backup.yaml"),
        Param("kinds", ParamType.STR_LIST,
              default=("deployments", "services", "configmaps", "replicasets", "pods")),
    )

    def run_kube(self, ctx: StepContext, api: Any) -> StepResult:
        docs: list[dict[str, Any]] = []
        for kind in ctx.param("kinds", ()):
            if kind not in LISTERS:
                return StepResult(Outcome.FAILED, f"cannot export {kind!r} (known: "
                                  f"{', '.join(sorted(LISTERS))})")
            group, method = LISTERS[kind]
            client = apps(api) if group == "apps" else core(api)
            items = call(getattr(client, method), ctx.namespace)["items"]
            for it in items:
                it.get("metadata", {}).pop("managedFields", None)
                if kind == "secrets":
                    it["data"] = {k: "<redacted>" for k in (it.get("data") or {})}
                    it.pop("stringData", None)
            ctx.output.write_lines([f"{kind}: {len(items)}"])
            docs.append({"apiVersion": "v1", "kind": "List", "metadata": {"kind": kind},
                         "items": items})
        path = ctx.session_dir / str(ctx.param("file", "k8s-backup.yaml"))
        text = yaml.safe_dump_all(docs, sort_keys=False)
        path.write_text(text, encoding="utf-8")
        digest = hashlib.sha256(text.encode()).hexdigest()
        return StepResult(Outcome.PASSED, f"wrote {path.name} ({len(text)} bytes)",
                          facts={"file": str(path), "bytes": len(text), "sha256": digest})
