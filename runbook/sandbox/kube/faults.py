"""Fault injection: failing requests, cut watches, expired versions, bad images, outages;
and the strict modes in which the emulator behaves as a real cluster does where a kind one
hides bugs (watch latency, the sticky deadline condition, compaction, RBAC, strict MicroTime,
silent exec commands, API Priority and Fairness 429s)."""

from __future__ import annotations

import math
import shlex
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import ApiError, too_many_requests
from .store import Store

if TYPE_CHECKING:
    from .rbac import Rbac


@dataclass
class _Failure:
    prefix: str
    remaining: int
    code: int
    message: str
    methods: tuple[str, ...]


class Faults:
    """Switches that tests flip to make the emulated cluster misbehave."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._failures: list[_Failure] = []
        self.latency = 0.0  # seconds added to every request
        self.bad_images: set[str] = set()  # exact images (or image names) that never pull
        self.bad_tag_prefix = "bad"  # a tag starting with this never pulls ("" = off)
        self.exec_failures: list[tuple[tuple[str, ...], int, str, str]] = []
        self.exec_hangs: list[tuple[tuple[str, ...], tuple[str, ...], float, str]] = []
        self._stop: Callable[[], None] | None = None
        self._start: Callable[[], None] | None = None
        # -- strict modes (see `strict()`) --
        # the controller keeps a Progressing=False/ProgressDeadlineExceeded condition when
        # it re-adopts an existing ReplicaSet (a rollback), until it sees progress
        self.sticky_deadline = False
        self.compact_every = 0.0  # seconds between etcd-style compactions (0 = never)
        self.strict_micro_time = False  # Lease times must have exactly six fractional digits
        self.rbac: Rbac | None = None  # a role file's rules (None = everything allowed)
        self._throttle: tuple[int, int, str] | None = None  # (every, retry-after, prefix)
        self._throttle_count = 0

    # -- strict modes ----------------------------------------------------------------------

    @property
    def watch_latency(self) -> float:
        """Seconds between a write and its watch events (a real cluster: some ms)."""
        return self._store.watch_latency

    @watch_latency.setter
    def watch_latency(self, seconds: float) -> None:
        self._store.watch_latency = max(0.0, float(seconds))

    def strict(self, watch_latency: float = 0.05, compact_every: float = 5.0) -> None:
        """Behave like a real cluster: watch events `watch_latency` s after the write, the
        sticky deadline condition, compaction every `compact_every` s, strict MicroTime."""
        self.watch_latency = watch_latency
        self.sticky_deadline = True
        self.compact_every = compact_every
        self.strict_micro_time = True

    def load_rbac(self, path: str, user: str = "") -> None:
        """Authorize every request by the Role/ClusterRole objects of a role file."""
        from .rbac import DEFAULT_USER, Rbac
        self.rbac = Rbac.load(path, user or DEFAULT_USER)

    def throttle(self, every: int, retry_after: int = 1, prefix: str = "") -> None:
        """Answer every `every`-th request (whose path starts with `prefix`) 429 with
        Retry-After, as API Priority and Fairness does when a priority level is full;
        0 turns it off. Watches are not throttled (they are long-running requests)."""
        with self._lock:
            self._throttle = (every, retry_after, prefix) if every > 0 else None
            self._throttle_count = 0

    # -- requests --------------------------------------------------------------------------

    def fail_next(self, prefix: str, count: int = 1, code: int = 500,
                  message: str = "injected fault", methods: tuple[str, ...] = ()) -> None:
        """Make the next `count` requests whose path starts with `prefix` fail with `code`."""
        with self._lock:
            self._failures.append(_Failure(prefix, count, code, message, methods))

    def check(self, method: str, path: str, watch: bool = False) -> ApiError | None:
        """The injected error for this request, if one is armed (consumes it)."""
        with self._lock:
            for failure in self._failures:
                if path.startswith(failure.prefix) and (
                        not failure.methods or method in failure.methods):
                    failure.remaining -= 1
                    if failure.remaining <= 0:
                        self._failures.remove(failure)
                    if failure.code == 429:
                        return too_many_requests(1)
                    return ApiError(failure.code, failure.message)
            if self._throttle is not None and not watch and path.startswith(("/api/", "/apis/")):
                every, retry_after, prefix = self._throttle
                if path.startswith(prefix):
                    self._throttle_count += 1
                    if self._throttle_count % every == 0:
                        return too_many_requests(retry_after)
        return None

    def clear(self) -> None:
        with self._lock:
            self._failures.clear()
            self.exec_failures.clear()
            self.exec_hangs.clear()
            self._throttle = None
        self.latency = 0.0
        self.bad_images.clear()

    # -- watches and versions --------------------------------------------------------------

    def drop_watches(self) -> int:
        """Cut every open watch connection mid-stream; how many were cut."""
        return self._store.drop_watchers()

    def expire_resource_versions(self) -> int:
        """Compact history: watching or continuing from any older version gets 410 Gone."""
        return self._store.compact()

    # -- exec ------------------------------------------------------------------------------

    def fail_exec(self, command: str, exit_code: int = 1, stderr: str = "injected exec failure",
                  app: str = "") -> None:
        """Make commands starting with `command` (e.g. "npx prisma") exit with `exit_code`
        and print `stderr`, in every pod or only those labelled app=`app`."""
        with self._lock:
            self.exec_failures.append((tuple(shlex.split(command)), exit_code, stderr, app))

    def exec_failure(self, app: str, argv: list[str]) -> tuple[int, str] | None:
        with self._lock:
            for prefix, code, stderr, only in self.exec_failures:
                if tuple(argv[:len(prefix)]) == prefix and (not only or only == app):
                    return code, stderr
        return None

    def hang_exec(self, command: str, prints: tuple[str, ...] = ("working...",),
                  seconds: float = math.inf, app: str = "") -> None:
        """Make commands starting with `command` print `prints`, then stay silent for
        `seconds` (inf: until the client goes away) before exiting 0: a migration that
        logs a line and then waits on a database lock. In every pod, or those of `app`."""
        with self._lock:
            self.exec_hangs.append((tuple(shlex.split(command)), tuple(prints), seconds, app))

    def exec_hang(self, app: str, argv: list[str]) -> tuple[tuple[str, ...], float] | None:
        with self._lock:
            for prefix, prints, seconds, only in self.exec_hangs:
                if tuple(argv[:len(prefix)]) == prefix and (not only or only == app):
                    return prints, seconds
        return None

    # -- images ----------------------------------------------------------------------------

    def is_bad_image(self, image: str) -> bool:
        name, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "")
        return (image in self.bad_images or name in self.bad_images
                or bool(self.bad_tag_prefix and tag.startswith(self.bad_tag_prefix)))

    # -- outages ---------------------------------------------------------------------------

    def bind(self, stop: Callable[[], None], start: Callable[[], None]) -> None:
        self._stop, self._start = stop, start

    def unreachable(self) -> None:
        """Stop serving (connections refused) until `reachable()`; the state is kept."""
        if self._stop is not None:
            self._stop()

    def reachable(self) -> None:
        """Serve again, on the same port."""
        if self._start is not None:
            self._start()
