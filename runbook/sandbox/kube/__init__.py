"""A Kubernetes API emulator for tests and rehearsals (stdlib only).

It speaks the JSON API for the kinds runbook uses (namespaces, nodes, pods with log and exec,
services, config maps, secrets, PVCs, events, deployments with scale and status, replica sets,
leases), with discovery, watch, the three patch types, server-side tables, and a simulated
deployment controller, so both the official Python client and the real `kubectl` work on it.
"""

from .emulator import KubeEmulator
from .errors import ApiError
from .execs import ExecResult
from .faults import Faults
from .kubeconfig import write_kubeconfig
from .parts import Timing
from .seed import CREATORBRIDGE_SERVICES

__all__ = ["CREATORBRIDGE_SERVICES", "ApiError", "ExecResult", "Faults", "KubeEmulator",
           "Timing", "write_kubeconfig"]
