"""Fault injection: failing requests, cut watches, expired versions, bad images, outages."""

from __future__ import annotations

import shlex
import threading
from collections.abc import Callable
from dataclasses import dataclass

from .errors import ApiError
from .store import Store


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
        self._stop: Callable[[], None] | None = None
        self._start: Callable[[], None] | None = None

    # -- requests --------------------------------------------------------------------------

    def fail_next(self, prefix: str, count: int = 1, code: int = 500,
                  message: str = "injected fault", methods: tuple[str, ...] = ()) -> None:
        """Make the next `count` requests whose path starts with `prefix` fail with `code`."""
        with self._lock:
            self._failures.append(_Failure(prefix, count, code, message, methods))

    def check(self, method: str, path: str) -> ApiError | None:
        """The injected error for this request, if one is armed (consumes it)."""
        with self._lock:
            for failure in self._failures:
                if path.startswith(failure.prefix) and (
                        not failure.methods or method in failure.methods):
                    failure.remaining -= 1
                    if failure.remaining <= 0:
                        self._failures.remove(failure)
                    return ApiError(failure.code, failure.message)
        return None

    def clear(self) -> None:
        with self._lock:
            self._failures.clear()
            self.exec_failures.clear()
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
