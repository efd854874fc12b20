"""The Kubernetes API emulator's pod logs and exec, through kubectl and the client.

Shared helpers are in kube_emulator_helpers.py; the `kube` fixture is in conftest.py."""

from __future__ import annotations

import threading

import pytest
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream

from tests.integration.conftest import KubeSandbox, requires_kubectl
from tests.integration.kube_emulator_helpers import core

# -- logs and exec ----------------------------------------------------------------------


def test_logs_tail_and_follow(kube: KubeSandbox) -> None:
    api = core(kube)
    pod = api.list_namespaced_pod(kube.namespace, label_selector="app=api-gateway").items[0]
    name = pod.metadata.name
    # the kubelet's own chatter (a healthz line a second) must not land between the lines
    # written here and the tail read back: on a loaded machine a second passes easily
    kube.emulator.cluster.timing.log_interval = 0
    kube.emulator.logs.append(kube.namespace, name, "api-gateway", "one", "two", "three")
    tail = api.read_namespaced_pod_log(name, kube.namespace, tail_lines=2)
    assert tail == "two\nthree\n"
    followed: list[str] = []

    def follow() -> None:
        resp = api.read_namespaced_pod_log(name, kube.namespace, follow=True, tail_lines=0,
                                           _preload_content=False)
        for line in resp.stream(decode_content=False):
            followed.extend(line.decode().splitlines())
    reader = threading.Thread(target=follow, daemon=True)
    reader.start()

    def arrived() -> bool:  # keep writing until the follower is attached and reads it
        kube.emulator.logs.append(kube.namespace, name, "api-gateway", "after follow")
        return "after follow" in followed
    assert kube.emulator.wait_for(arrived, interval=0.1)
    api.delete_namespaced_pod(name, kube.namespace)  # the stream ends with the pod
    reader.join(timeout=10)
    assert not reader.is_alive()
    assert "after follow" in followed and "one" not in followed
    with pytest.raises(ApiException) as bad_container:
        api.read_namespaced_pod_log(
            api.list_namespaced_pod(kube.namespace).items[0].metadata.name, kube.namespace,
            container="nope")
    assert bad_container.value.status == 400



@requires_kubectl
def test_kubectl_logs_by_label(kube: KubeSandbox) -> None:
    out = kube.kubectl("logs", "-l", "app=api-gateway", "--tail=100")
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("listening on :8080") == 2



def _exec(kube: KubeSandbox, pod: str, command: list[str]) -> tuple[int, str, str]:
    resp = stream(core(kube).connect_get_namespaced_pod_exec, pod, kube.namespace,
                  command=command, stderr=True, stdin=False, stdout=True, tty=False,
                  _preload_content=False)
    resp.run_forever(timeout=10)
    out, err = resp.read_stdout(), resp.read_stderr()
    return int(resp.returncode), out, err



def test_exec_through_the_python_client(kube: KubeSandbox) -> None:
    pod = core(kube).list_namespaced_pod(kube.namespace,
                                         label_selector="app=asset-service").items[0]
    name = pod.metadata.name
    code, out, _ = _exec(kube, name, ["npx", "prisma", "migrate", "deploy"])
    assert code == 0
    assert "3 migrations found in prisma/migrations" in out
    assert "No pending migrations to apply." in out
    kube.emulator.execs.migrations.add_pending("asset-service", "20250301000000_asset_tags")
    code, out, _ = _exec(kube, name, ["npx", "prisma", "migrate", "deploy"])
    assert code == 0 and "All migrations have been successfully applied." in out
    assert "4 migrations found" in out
    kube.emulator.execs.migrations.fail("asset-service")
    code, out, err = _exec(kube, name, ["npx", "prisma", "migrate", "deploy"])
    assert code == 1 and "P3018" in err
    kube.emulator.faults.fail_exec("npx prisma", 2, "Error: P1001: Can't reach database server")
    code, _, err = _exec(kube, name, ["npx", "prisma", "migrate", "status"])
    assert (code, err) == (2, "Error: P1001: Can't reach database server\n")
    code, _, err = _exec(kube, name, ["no-such-tool"])
    assert code == 127 and "command not found" in err
    kube.emulator.execs.register("cat /app/VERSION", lambda _p, _c, _cmd: (0, ["v1.0.0"]))
    assert _exec(kube, name, ["cat", "/app/VERSION"])[:2] == (0, "v1.0.0\n")



@requires_kubectl
def test_kubectl_exec(kube: KubeSandbox) -> None:
    ok = kube.kubectl("exec", "deploy/asset-service", "--", "npx", "prisma", "migrate", "deploy")
    assert ok.returncode == 0, ok.stderr
    assert "No pending migrations to apply." in ok.stdout
    failed = kube.kubectl("exec", "deploy/asset-service", "--", "sh", "-c", "exit 3")
    assert failed.returncode == 3
    assert "command terminated with exit code 3" in failed.stderr
