"""The list-then-watch loop (steps/kube/list_watch.py) and the pod watcher on it, on the
emulator: a watch the server ends resumes from the newest version without listing again;
only 410 Gone lists again; close() cuts an open watch; the pod watcher sends changed rows
in batches, the next when the last one is acknowledged."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from runbook.sandbox.kube.resources import DEPLOYMENT
from steps.kube import pod_watch
from steps.kube.list_watch import ListWatch
from steps.kube.pod_watch import PodWatcher
from tests.integration.conftest import KubeSandbox


def until(pred: Callable[[], bool], timeout: float = 30.0) -> bool:  # generous: a loaded machine
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            return False
        time.sleep(0.02)
    return True


class ConfigMaps:
    """A ListWatch over the namespace's ConfigMaps, run on a thread, recording what it sees."""

    def __init__(self, kube: KubeSandbox, watch_seconds: int) -> None:
        self.kube = kube
        self.names: set[str] = set()
        self.errors: list[str] = []
        self.path = f"/api/v1/namespaces/{kube.namespace}/configmaps"
        self.lw = ListWatch(kube.api_client(), self.path, self._listed, self._event,
                            self.errors.append, watch_seconds=watch_seconds, backoff=(0.1, 0.5))
        self.thread = threading.Thread(target=self.lw.run, daemon=True)

    def _listed(self, items: list[dict[str, Any]]) -> None:
        self.names = {i["metadata"]["name"] for i in items}

    def _event(self, kind: str, obj: dict[str, Any]) -> None:
        if kind == "DELETED":
            self.names.discard(obj["metadata"]["name"])
        else:
            self.names.add(obj["metadata"]["name"])

    def create(self, name: str) -> None:
        from kubernetes import client
        client.CoreV1Api(self.kube.api_client()).create_namespaced_config_map(
            self.kube.namespace, {"metadata": {"name": name}})

    def requests(self, watch: bool) -> list[str]:
        return [path for method, path in self.kube.emulator.requests
                if method == "GET" and path.startswith(self.path)
                and ("watch=true" in path) == watch]


def test_a_watch_the_server_ends_resumes_without_listing(kube: KubeSandbox) -> None:
    cms = ConfigMaps(kube, watch_seconds=1)
    cms.thread.start()
    try:
        assert until(lambda: len(cms.requests(watch=True)) >= 3)  # two watches ended
        cms.create("after-three-watches")
        assert until(lambda: "after-three-watches" in cms.names)
        assert cms.lw.lists == 1 and len(cms.requests(watch=False)) == 1
        last = cms.requests(watch=True)[-1]
        assert f"resourceVersion={cms.lw.resource_version}" in last or \
            until(lambda: f"resourceVersion={cms.lw.resource_version}" in
                  cms.requests(watch=True)[-1])
        assert cms.errors == []
    finally:
        cms.lw.close()
        cms.thread.join(5)
    assert not cms.thread.is_alive()


def test_410_gone_lists_again(kube: KubeSandbox) -> None:
    cms = ConfigMaps(kube, watch_seconds=30)
    cms.thread.start()
    try:
        assert until(lambda: len(cms.requests(watch=True)) == 1)
        kube.emulator.faults.drop_watches()  # cut: it resumes from its version, no list
        assert until(lambda: len(cms.requests(watch=True)) == 2)
        assert cms.lw.lists == 1
        cms.create("before-compaction")
        assert until(lambda: "before-compaction" in cms.names)
        from kubernetes import client  # a change it does not watch: its version falls behind
        client.CoreV1Api(kube.api_client()).create_namespaced_secret(
            kube.namespace, {"metadata": {"name": "elsewhere"}})
        kube.emulator.faults.expire_resource_versions()
        kube.emulator.faults.drop_watches()  # resuming now gets 410 Gone: it lists again
        assert until(lambda: cms.lw.lists == 2)
        assert "before-compaction" in cms.names
        assert all(e.startswith("watch interrupted") for e in cms.errors)  # the two cuts
        cms.create("after-the-new-list")
        assert until(lambda: "after-the-new-list" in cms.names)
    finally:
        cms.lw.close()
        cms.thread.join(5)


def test_close_cuts_an_open_watch_at_once(kube: KubeSandbox) -> None:
    cms = ConfigMaps(kube, watch_seconds=60)
    cms.thread.start()
    assert until(lambda: len(cms.requests(watch=True)) == 1)
    time.sleep(0.2)
    started = time.monotonic()
    cms.lw.close()
    cms.thread.join(5)
    assert not cms.thread.is_alive() and time.monotonic() - started < 1.0


def test_pod_watcher_sends_changed_rows_when_the_last_batch_is_taken(
        kube: KubeSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pod_watch, "AGE_TICK", 1.0)
    batches: list[tuple[list[dict[str, Any]], list[str]]] = []
    statuses: list[str] = []
    w = PodWatcher(kube.api_client(), kube.namespace,
                   lambda changed, removed: batches.append((changed, removed)), statuses.append)
    w.start()
    try:
        assert until(lambda: len(batches) == 1)
        first, removed = batches[0]
        assert len(first) == 24 and removed == []
        assert set(first[0]) == {"name", "ready", "status", "restarts", "age", "node", "image"}
        assert until(lambda: statuses == [f"watching {kube.namespace}"])

        def scale(name: str, replicas: int) -> None:
            def change(d: dict[str, Any]) -> None:
                d["spec"]["replicas"] = replicas
                d["metadata"]["generation"] = int(d["metadata"].get("generation", 1)) + 1
            kube.emulator.store.modify(DEPLOYMENT, kube.namespace, name, change)

        scale("api-gateway", 3)  # not acknowledged yet: held back
        time.sleep(0.5)
        assert len(batches) == 1
        w.ack()
        assert until(lambda: len(batches) >= 2)
        gateway = {r["name"] for c, _ in batches[1:] for r in c if r["name"].startswith("api-g")}
        assert gateway  # the new pod, as a row
        scale("api-gateway", 1)

        def removed_two() -> bool:
            w.ack()  # as the pane does after each batch
            return sum(len(r) for _, r in batches) >= 2

        assert until(removed_two)  # two pods gone, named
        assert all(n.startswith("api-gateway-") for _, r in batches for n in r)

        seen = len(batches)  # no pod changes now, but their ages (in seconds) move on
        assert until(lambda: (w.ack(), len(batches) > seen + 1)[1], timeout=5)
        aged = {r["name"]: r["age"] for c, _ in batches[seen:] for r in c}
        assert len(aged) > 10 and all(a.endswith("s") for a in aged.values())
    finally:
        w.stop()
    assert w.list_watch.lists == 1
