"""pods/log and pods/exec: choosing the container, plain and followed logs, exec sessions."""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import BinaryIO, cast
from urllib.parse import parse_qs, urlsplit

from .cluster import Cluster
from .common import Obj
from .errors import ApiError, bad_request
from .execs import ExecResult
from .resources import POD, Route
from .streams import format_lines, serve_log_follow
from .websocket import OP_CLOSE, Channels, accept_key, choose_protocol, read_frame


def pick_container(pod: Obj, wanted: str) -> str:
    name = pod["metadata"]["name"]
    containers = [str(c.get("name")) for c in (pod.get("spec") or {}).get("containers") or []]
    if wanted:
        if wanted not in containers:
            raise bad_request(f"container {wanted} is not valid for pod {name}")
        return wanted
    default = ((pod["metadata"].get("annotations") or {})
               .get("kubectl.kubernetes.io/default-container"))
    if default in containers:
        return str(default)
    if len(containers) == 1:
        return containers[0]
    raise bad_request(f"a container name must be specified for pod {name}, choose one of: "
                      f"[{' '.join(containers)}]")


def _waiting(pod: Obj, container: str) -> str | None:
    """Why a container has not started, or None if it has."""
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        if cs.get("name") == container:
            waiting = (cs.get("state") or {}).get("waiting")
            if waiting is None:
                return None
            if waiting.get("reason") in ("ImagePullBackOff", "ErrImagePull"):
                return "trying and failing to pull image"
            return str(waiting.get("reason") or "ContainerCreating")
    return "ContainerCreating"


def serve_log(handler: BaseHTTPRequestHandler, cluster: Cluster, route: Route,
              query: dict[str, str], stopping: threading.Event) -> tuple[int, bytes] | None:
    """A plain log body (code, bytes), or None after streaming a followed log."""
    ns, name = route.namespace or "", route.name
    pod = cluster.store.get(POD, ns, name)
    container = pick_container(pod, query.get("container", ""))
    why = _waiting(pod, container)
    if why is not None and not cluster.logs.has(ns, name, container):
        raise bad_request(f'container "{container}" in pod "{name}" is waiting to start: {why}')
    if query.get("previous") == "true":
        raise bad_request(f'previous terminated container "{container}" in pod "{name}" not found')
    tail = int(query["tailLines"]) if query.get("tailLines") else None
    since = float(query["sinceSeconds"]) if query.get("sinceSeconds") else None
    lines, cursor = cluster.logs.read(ns, name, container, tail, since)
    stamps = query.get("timestamps") == "true"
    if query.get("follow") == "true":
        def alive() -> bool:
            found = cluster.store.find(POD, ns, name)
            return found is not None and found["metadata"]["uid"] == pod["metadata"]["uid"]
        serve_log_follow(handler, cluster.logs, ns, name, container, lines, cursor, stamps,
                         alive, stopping)
        return None
    body = format_lines(lines, stamps)
    limit = int(query.get("limitBytes") or 0)
    return 200, body[:limit] if limit else body


def exec_command(path: str) -> list[str]:
    return parse_qs(urlsplit(path).query, keep_blank_values=True).get("command", [])


def serve_exec(handler: BaseHTTPRequestHandler, cluster: Cluster, route: Route,
               query: dict[str, str]) -> None:
    """Run a command in a pod over a channel.k8s.io WebSocket (v4/v5 protocols)."""
    ns, name = route.namespace or "", route.name
    pod = cluster.store.get(POD, ns, name)
    container = pick_container(pod, query.get("container", ""))
    if (pod.get("status") or {}).get("phase") != "Running":
        raise bad_request(f"unable to upgrade connection: container not found (\"{container}\")")
    command = exec_command(handler.path)
    if not command:
        raise bad_request("you must specify at least 1 command")
    headers = handler.headers
    if (headers.get("Upgrade") or "").lower() != "websocket":
        raise bad_request("Upgrade request required (this emulator speaks WebSocket "
                          "channel.k8s.io only, not SPDY)")
    protocol = choose_protocol(headers.get("Sec-WebSocket-Protocol") or "")
    if protocol is None:
        raise ApiError(400, "unable to upgrade connection: no supported channel protocol",
                       "BadRequest")
    handler.send_response(101, "Switching Protocols")
    handler.send_header("Upgrade", "websocket")
    handler.send_header("Connection", "Upgrade")
    handler.send_header("Sec-WebSocket-Accept", accept_key(headers.get("Sec-WebSocket-Key", "")))
    handler.send_header("Sec-WebSocket-Protocol", protocol)
    handler.end_headers()
    handler.wfile.flush()
    handler.close_connection = True
    sock: socket.socket = handler.connection
    channels = Channels(sock, protocol)
    try:
        result = cluster.execs.run(pod, container, command)
    except Exception as e:  # a broken handler is the container's internal error
        result = ExecResult(126, (), [f"exec handler failed: {type(e).__name__}: {e}"])
    try:
        if result.stdout:
            channels.send(1, "".join(f"{line}\n" for line in result.stdout).encode())
        if result.stderr:
            channels.send(2, "".join(f"{line}\n" for line in result.stderr).encode())
        if result.silent > 0 and not _stay_silent(sock, result.silent):
            return  # the client hung up on a silent command: no exit status to send
        channels.send(3, json.dumps(exit_status(command, result.exit_code)).encode())
        channels.close()
        sock.settimeout(2.0)
        while True:  # wait for the client's close (it may send stdin first)
            opcode, _payload = read_frame(cast(BinaryIO, handler.rfile))
            if opcode == OP_CLOSE:
                break
    except (OSError, EOFError, ValueError):
        pass


def _stay_silent(sock: socket.socket, seconds: float) -> bool:
    """Stay silent up to `seconds`; True if they passed with the client still there, False
    as soon as the client closed or sent anything (a real container keeps running, but the
    stream ends with the connection)."""
    end = time.monotonic() + seconds
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return True
        readable, _, _ = select.select([sock], [], [], min(left, 1.0))
        if readable:
            return False


def exit_status(command: list[str], code: int) -> Obj:
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: error executing command "
                       f"[{' '.join(command)}], exit code {code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}
