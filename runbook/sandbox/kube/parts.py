"""What the simulated control plane's controllers share: its timing, and the parts they use.

`Cluster` (cluster.py) makes the kubelet and the two controllers and drives them; they in
turn need only the parts it holds (the store, the faults, the event recorder, the pod
logs, the timing), named here as `ClusterParts`. So the controllers import this module,
not the cluster, and the cluster imports them: no circle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .events import Recorder
from .faults import Faults
from .podlogs import PodLogs
from .store import Store


@dataclass
class Timing:
    """How fast the simulated cluster moves (seconds of wall time)."""

    tick: float = 0.05  # controller loop period
    pod_start: float = 0.15  # creation -> Running and Ready
    image_backoff: float = 0.3  # ErrImagePull -> ImagePullBackOff
    terminate: float = 0.1  # deletion -> gone (graceful termination)
    deadline_scale: float = 1.0  # multiplies spec.progressDeadlineSeconds
    log_interval: float = 1.0  # a running container logs a line this often (0 = never)


class ClusterParts(Protocol):
    """The parts of the cluster a controller works with."""

    store: Store
    faults: Faults
    timing: Timing
    recorder: Recorder
    logs: PodLogs
