"""One API client per kube context: kubeconfig (honouring $KUBECONFIG) or in-cluster.

Every call made through `call` has a request timeout and returns plain JSON
(dicts), read without the client's model deserialisation (faster, and the
same shape as `kubectl get -o json`). `get` and `open_get` do the same for a
path, through the ApiClient alone (its host, TLS and credentials): the watchers
use them, because importing a generated API class such as CoreV1Api takes about
half a second, and the Pods pane should not wait for it.
"""

from __future__ import annotations

import gc
import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

REQUEST_TIMEOUT = 10.0  # seconds, connect + read, for every non-watch call
THROTTLED = 429
RETRIES_429 = 10  # client-go's maxRetries
LONGEST_WAIT = 10.0  # seconds: a Retry-After beyond this is cut to it

_lock = threading.Lock()
_clients: dict[str, Any] = {}


class KubeError(Exception):
    """A clear, one-line failure talking to the API; `status` is its HTTP status, if any."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


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
            else:  # the client's own default is $KUBECONFIG as it was when it was imported
                api = config.new_client_from_config(
                    config_file=kubeconfig or os.environ.get("KUBECONFIG") or None,
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
        for attempt in range(RETRIES_429 + 1):
            try:
                resp = fn(*args, _preload_content=False, _request_timeout=timeout, **kwargs)
                return json.loads(resp.data or b"{}")
            except ApiException as e:
                if e.status != THROTTLED or attempt == RETRIES_429:
                    raise
                time.sleep(retry_after(e.headers))
        raise AssertionError("unreachable")
    except ApiException as e:
        raise KubeError(describe_api_error(e), e.status) from None
    except HTTPError as e:
        raise KubeError(f"API unreachable: {type(e).__name__}: {_short(e)}") from None
    except OSError as e:
        raise KubeError(f"API unreachable: {e}") from None


Query = Sequence[tuple[str, str | int | bool]]
Timeout = float | tuple[float, float]


def open_get(api: Any, path: str, query: Query = (), timeout: Timeout = REQUEST_TIMEOUT) -> Any:
    """GET `path` (e.g. "/api/v1/namespaces/x/pods") and return the urllib3 response, its
    body not read yet (to stream a watch); raises KubeError on an error status."""
    return _request(api, "GET", path, query, None, "", timeout)


def send(api: Any, method: str, path: str, body: Any, content_type: str = "application/json",
         timeout: Timeout = REQUEST_TIMEOUT) -> Any:
    """`method` (POST, PUT, PATCH) `path` with `body` sent as it is; its JSON reply."""
    from urllib3.exceptions import HTTPError
    resp = _request(api, method, path, (), body, content_type, timeout)
    try:
        return _parse(resp.data or b"{}")
    except HTTPError as e:
        raise KubeError(f"API unreachable: {type(e).__name__}: {_short(e)}") from None
    finally:
        resp.release_conn()


def retry_after(headers: Any) -> float:
    """The seconds a 429's Retry-After asks for (1 if it names none), at most LONGEST_WAIT."""
    try:
        seconds = float((headers or {}).get("Retry-After") or 1)
    except (TypeError, ValueError):
        seconds = 1.0
    return max(0.0, min(seconds, LONGEST_WAIT))


def _request(api: Any, method: str, path: str, query: Query, body: Any, content_type: str,
             timeout: Timeout) -> Any:
    """The urllib3 response of a request by path (body not read), 429s retried; raises
    KubeError on an error status."""
    from urllib3.exceptions import HTTPError
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = content_type
    try:
        for attempt in range(RETRIES_429 + 1):
            verb, url, sent, data, _ = api.param_serialize(
                method, path, query_params=list(query), header_params=dict(headers),
                body=body, auth_settings=["BearerToken"])
            resp = api.call_api(verb, url, sent, data, _request_timeout=timeout)
            if resp.status == THROTTLED and attempt < RETRIES_429:
                resp.read()
                time.sleep(retry_after(resp.getheaders()))
                continue
            if not 200 <= resp.status <= 299:
                raw = resp.read()
                raise KubeError(_error_text(resp.status, raw, resp.reason), resp.status)
            return resp.response
        raise AssertionError("unreachable")
    except HTTPError as e:
        raise KubeError(f"API unreachable: {type(e).__name__}: {_short(e)}") from None
    except OSError as e:
        raise KubeError(f"API unreachable: {e}") from None


def get(api: Any, path: str, query: Query = (), timeout: Timeout = REQUEST_TIMEOUT) -> Any:
    """GET `path` and return its JSON body, or raise KubeError."""
    from urllib3.exceptions import HTTPError
    resp = open_get(api, path, query, timeout)
    try:
        return _parse(resp.data or b"{}")
    except HTTPError as e:
        raise KubeError(f"API unreachable: {type(e).__name__}: {_short(e)}") from None
    except OSError as e:
        raise KubeError(f"API unreachable: {e}") from None
    finally:
        resp.release_conn()


BIG_BODY = 1 << 20  # bytes


def _parse(data: bytes) -> Any:
    """A body's JSON; a big one (the list of a namespace of thousands of pods) with the
    cyclic collector paused: parsing makes no cycles, and the collections its allocations
    set off would scan the growing result again and again (three times the parse)."""
    if len(data) < BIG_BODY:
        return json.loads(data)
    was_on = gc.isenabled()
    gc.disable()
    try:
        return json.loads(data)
    finally:
        if was_on:
            gc.enable()


def describe_api_error(e: Any) -> str:
    return _error_text(getattr(e, "status", None), getattr(e, "body", ""),
                       getattr(e, "reason", ""))


def _error_text(status: int | None, body: str | bytes | None, reason: object) -> str:
    message = ""
    try:
        message = str(json.loads(body or "{}").get("message", ""))
    except (ValueError, AttributeError):
        message = str(reason or "")
    return f"API error {status}: {message or reason or ''}".strip()


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
