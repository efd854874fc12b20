"""One API client per kube context: kubeconfig (honouring $KUBECONFIG) or in-cluster.

Every call made through `call` has a request timeout and returns plain JSON
(dicts), read without the client's model deserialisation (faster, and the
same shape as `kubectl get -o json`).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from typing import Any

REQUEST_TIMEOUT = 10.0  # seconds, connect + read, for every non-watch call

_lock = threading.Lock()
_clients: dict[str, Any] = {}


class KubeError(Exception):
    """A clear, one-line failure talking to the API."""


def api_client(context: str = "", kubeconfig: str | None = None) -> Any:
    """The ApiClient for a context ('' = the current context), created once."""
    from kubernetes import client, config
    key = f"{kubeconfig or os.environ.get('KUBECONFIG', '')}|{context}"
    with _lock:
        found = _clients.get(key)
        if found is not None:
            return found
        try:
            if not context and "KUBERNETES_SERVICE_HOST" in os.environ and not kubeconfig \
                    and not os.environ.get("KUBECONFIG"):
                config.load_incluster_config()
                api = client.ApiClient()
            else:
                api = config.new_client_from_config(config_file=kubeconfig,
                                                    context=context or None)
        except Exception as e:  # config errors come in many types
            where = f"context {context!r}" if context else "the current context"
            raise KubeError(f"cannot load kube config for {where}: {e}") from None
        _clients[key] = api
        return api


def forget_clients() -> None:
    """Drop cached clients (tests start emulators on new ports)."""
    with _lock:
        _clients.clear()


def call(fn: Callable[..., Any], *args: Any, timeout: float = REQUEST_TIMEOUT,
         **kwargs: Any) -> Any:
    """Call an API method and return its JSON body, or raise KubeError."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError
    try:
        resp = fn(*args, _preload_content=False, _request_timeout=timeout, **kwargs)
        return json.loads(resp.data or b"{}")
    except ApiException as e:
        raise KubeError(describe_api_error(e)) from None
    except HTTPError as e:
        raise KubeError(f"API unreachable: {type(e).__name__}: {_short(e)}") from None
    except OSError as e:
        raise KubeError(f"API unreachable: {e}") from None


def describe_api_error(e: Any) -> str:
    status = getattr(e, "status", None)
    message = ""
    try:
        body = json.loads(getattr(e, "body", "") or "{}")
        message = str(body.get("message", ""))
    except (ValueError, AttributeError):
        message = str(getattr(e, "reason", ""))
    return f"API error {status}: {message or getattr(e, 'reason', '')}".strip()


def _short(e: Exception) -> str:
    text = str(e)
    return text if len(text) < 160 else text[:157] + "..."


def core(api: Any) -> Any:
    from kubernetes import client
    return client.CoreV1Api(api)


def apps(api: Any) -> Any:
    from kubernetes import client
    return client.AppsV1Api(api)


def coordination(api: Any) -> Any:
    from kubernetes import client
    return client.CoordinationV1Api(api)
