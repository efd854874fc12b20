"""Helpers shared by the Kubernetes API emulator tests (test_kube_emulator_*.py): the
official client's APIs for a sandbox, raw JSON bodies, a deployment's image.

Their `kube` fixture (conftest.py's `kube_emulator`, checked for crashed controllers) is in
conftest.py.
"""

from __future__ import annotations

import json
from typing import Any

from kubernetes import client

from tests.integration.conftest import KubeSandbox

REGISTRY = "creatorbridge.azurecr.io"


def core(kube: KubeSandbox) -> Any:
    return client.CoreV1Api(kube.api_client())


def apps(kube: KubeSandbox) -> Any:
    return client.AppsV1Api(kube.api_client())


def raw(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """An API call's JSON body, without the client's model conversion."""
    return json.loads(fn(*args, _preload_content=False, **kwargs).data)


def image_of(kube: KubeSandbox, name: str) -> str:
    dep = apps(kube).read_namespaced_deployment(name, kube.namespace)
    return str(dep.spec.template.spec.containers[0].image)
