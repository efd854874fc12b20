"""A rollout is judged only on a copy of the deployment that shows the PATCH just made.

Under load, the shared watch's copy can still be the object from before the PATCH: after a
failed rollout that copy says "exceeded its progress deadline", so an undo was reported failed
at once (the rollback rehearsal's `rollout-undo` flake); before a set-image it says "done".
"""

from __future__ import annotations

import threading
from typing import Any

from steps.kube.rollout import Change, RolloutStatus, follow, rollout_status

DEADLINE = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
            "lastUpdateTime": "2026-12-07T02:10:00Z"}


def dep(generation: int, observed: int, conditions: list[dict[str, Any]] | None = None,
        updated: int = 2, available: int = 2, replicas: int = 2) -> dict[str, Any]:
    return {"metadata": {"name": "payout", "generation": generation},
            "spec": {"replicas": 2},
            "status": {"observedGeneration": observed, "conditions": conditions or [],
                       "updatedReplicas": updated, "availableReplicas": available,
                       "replicas": replicas}}


class FakeWatch:
    def __init__(self, obj: dict[str, Any]) -> None:
        self.obj, self.error, self.synced = obj, "", True
        self.cond = threading.Condition()

    def get(self, name: str) -> dict[str, Any]:
        with self.cond:
            return self.obj

    def set(self, obj: dict[str, Any]) -> None:
        with self.cond:
            self.obj = obj
            self.cond.notify_all()

    def wait_change(self, timeout: float) -> None:
        with self.cond:
            self.cond.wait(timeout)


def run_follow(watch: FakeWatch, change: Change | None) -> tuple[RolloutStatus, list[str]]:
    import time
    seen: list[str] = []
    st = follow(watch, "payout", time.monotonic() + 30, lambda: False, seen.append,  # type: ignore[arg-type]
                change)
    return st, seen


def test_an_undo_is_not_failed_by_the_copy_from_before_its_patch() -> None:
    failed = dep(3, 3, [DEADLINE], updated=0, available=0)
    patched = dep(4, 3, [DEADLINE], updated=0, available=0)  # what the PATCH returned
    watch = FakeWatch(failed)  # the watch has not delivered the PATCH's event yet
    later = [dep(4, 4, [DEADLINE], updated=1, available=1, replicas=3),  # sticky condition
             dep(4, 4, [DEADLINE])]

    def deliver() -> None:
        for obj in later:
            threading.Event().wait(0.2)
            watch.set(obj)

    t = threading.Thread(target=deliver)
    t.start()
    st, seen = run_follow(watch, Change.of(patched))
    t.join()
    assert st.done and not st.failed, seen
    assert "to be seen" in seen[0]


def test_a_set_image_is_not_done_on_the_copy_from_before_its_patch() -> None:
    assert rollout_status(dep(1, 1)).done
    st = rollout_status(dep(1, 1), Change(generation=2))
    assert not st.done and not st.failed


def test_a_new_deadline_after_the_patch_still_fails_the_rollout() -> None:
    newer = {**DEADLINE, "lastUpdateTime": "2026-12-07T02:20:00Z"}
    change = Change.of(dep(4, 3, [DEADLINE], updated=0))
    st = rollout_status(dep(4, 4, [newer], updated=0, available=0), change)
    assert st.failed


def test_a_patch_that_changed_nothing_keeps_the_deadline() -> None:
    change = Change.of(dep(3, 3, [DEADLINE], updated=0))
    assert change.stale_deadline is None
    assert rollout_status(dep(3, 3, [DEADLINE], updated=0), change).failed
