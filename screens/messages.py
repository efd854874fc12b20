"""Messages the UI receives from workers and watchers: dataclasses named for what happened."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from textual.message import Message

from runbook.rules.events import Event
from runbook.rules.state import RunState


@dataclass
class RunEvent(Message):
    """An event was journaled; `state` is the run state after it."""

    event: Event
    state: RunState


@dataclass
class PodsSnapshot(Message):
    """The pods of the namespace now: one dict per pod (name, ready, status, restarts, age,
    node, image)."""

    pods: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class PodsChanged(Message):
    """Pods added or changed (rows, as in PodsSnapshot) and removed (names) since the last
    batch; `done` is called once the batch is applied, so the watcher sends the next."""

    changed: list[dict[str, Any]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    done: Callable[[], object] = lambda: None


@dataclass
class HealthSnapshot(Message):
    """Health of services now: name -> {status, latency_ms, checked, detail}."""

    services: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class PodsStatus(Message):
    """The pod watcher's connection state, for the Pods pane's title."""

    text: str
