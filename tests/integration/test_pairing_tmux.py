"""Two Unix users pair in tmux on the emulator: one drives, the other attaches and co-signs.

The test creates two users and a group they share (root only), a group-writable state
folder for the journal, and one tmux window with two panes: the driver runs a
production-like runbook, the follower `runbook attach`es to it. The driver's two-person
item is refused until the follower co-signs it; then the typed environment name, and the
scale really happens on the emulated cluster. The journal names both users.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from runbook.journal.sqlite import Journal
from runbook.rules.events import Ev
from runbook.sandbox.kube.resources import DEPLOYMENT
from tests.fold_check import FoldWatch
from tests.integration.conftest import KubeSandbox
from tests.tui.test_tmux_smoke import TMUX, Tmux

pytestmark = [
    pytest.mark.skipif(TMUX is None, reason="tmux is not installed"),
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("useradd") is None,
                       reason="creating two Unix users needs root and useradd"),
    pytest.mark.timeout(120),
]

REPO = Path(__file__).resolve().parents[2]
DEPLOY = "api-gateway"
RUNBOOK = f"""\
runbook: 1
title: Pairing on the emulator
environments:
  prodlike:
    namespace: creatorbridge-sandbox
    context: sandbox
    production: true
    policy: {{two_person: [scale], typed_confirmation: true}}
phases:
  - id: p
    title: Change
    sections:
      - id: s
        title: Scale
        items:
          - {{id: scale, kind: action, title: Scale {DEPLOY} to 3, uses: k8s.scale,
             with: {{deployment: {DEPLOY}, replicas: "3", timeout: 30s}}}}
"""


def run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=30)


@pytest.fixture
def two_users() -> Iterator[tuple[str, str, str]]:
    """(driver, follower, group): created for the test, removed after it."""
    tag = f"{os.getpid() % 100000}{uuid.uuid4().hex[:3]}"
    group, users = f"rbpair{tag}", (f"rbdrive{tag}", f"rbfollow{tag}")
    run("groupadd", group)
    made: list[str] = []
    try:
        for u in users:
            run("useradd", "-M", "-N", "-g", group, "-s", "/bin/bash", u)
            made.append(u)
        yield users[0], users[1], group
    finally:
        for u in made:  # their processes first (the panes' shells), or userdel refuses
            subprocess.run(["pkill", "-KILL", "-u", u], capture_output=True, check=False)
        for u in made:
            for _ in range(50):
                if subprocess.run(["userdel", u], capture_output=True, check=False).returncode \
                        in (0, 6):  # 6: no such user
                    break
                time.sleep(0.1)
        subprocess.run(["groupdel", group], capture_output=True, check=False)


@pytest.fixture
def reachable() -> Iterator[None]:
    """Other users may traverse (not list) the folders holding Python and the project."""
    changed: list[tuple[Path, int]] = []
    targets = [Path(os.path.realpath(sys.executable)), REPO / ".venv" / "bin", REPO]
    for target in targets:
        for d in [*reversed(target.parents), target] if target.is_dir() else target.parents:
            mode = d.stat().st_mode
            if not mode & stat.S_IXOTH:
                changed.append((d, mode))
                d.chmod(mode | stat.S_IXOTH)
    try:
        yield
    finally:
        for d, mode in reversed(changed):
            d.chmod(stat.S_IMODE(mode))


def pane(t: Tmux, index: int) -> str:
    return t.tmux("capture-pane", "-p", "-t", f"{t.session}.{index}")


def wait_pane(t: Tmux, index: int, *texts: str | re.Pattern[str], timeout: float = 20) -> str:
    end = time.monotonic() + timeout
    while True:
        s = pane(t, index)
        if all((x.search(s) is not None) if isinstance(x, re.Pattern) else x in s
               for x in texts):
            return s
        if time.monotonic() > end:
            raise AssertionError(f"pane {index}: not on screen: {texts}\n{s}")
        time.sleep(0.1)


def test_two_users_co_sign_a_production_like_item(
        two_users: tuple[str, str, str], reachable: None, kube_emulator: KubeSandbox,
        fold_check: FoldWatch) -> None:
    driver, follower, group = two_users
    shared = Path(tempfile.mkdtemp(prefix="runbook-pair-", dir="/tmp"))
    try:
        os.chown(shared, 0, grp.getgrnam(group).gr_gid)
        shared.chmod(0o2770)  # the group's; new files inherit the group
        rb = shared / "pair.yaml"
        rb.write_text(RUNBOOK)
        kubeconfig = shared / "kubeconfig"
        shutil.copy(kube_emulator.kubeconfig, kubeconfig)
        for f in (rb, kubeconfig):
            os.chown(f, 0, grp.getgrnam(group).gr_gid)
            f.chmod(0o640)
        state = shared / "state"

        def command(user: str, *args: str) -> str:
            home = shared / f"home-{user}"
            env = ["env", f"HOME={home}", f"RUNBOOK_STATE_DIR={state}",
                   f"KUBECONFIG={kubeconfig}", f"PATH={os.environ['PATH']}", "TERM=xterm-256color"]
            inner = shlex.join([*env, sys.executable, "-m", "runbook", *args])
            shell = (f"umask 007; mkdir -p {shlex.quote(str(home))}; cd {shlex.quote(str(REPO))}; "
                     f"{inner}; echo runbook exited with status $?; sleep 60")
            return shlex.join(["runuser", "-u", user, "--", "bash", "-c", shell])

        t = Tmux(f"runbook-pair-{os.getpid()}-{uuid.uuid4().hex[:6]}", "pair")
        try:
            t.tmux("new-session", "-d", "-s", "pair", "-x", "240", "-y", "45",
                   command(driver, "run", str(rb), "--env", "prodlike"))
            t.socket_path = t.tmux("display-message", "-p", "#{socket_path}").strip()
            wait_pane(t, 0, "PRODLIKE", f"Scale {DEPLOY} to 3", "two-person rule")
            t.tmux("split-window", "-h", "-t", "pair", command(follower, "attach"))
            wait_pane(t, 1, "FOLLOWING", f"{driver}@", "drives")
            wait_pane(t, 0, f"watching: {follower}@")

            # the driver cannot run it alone
            t.tmux("send-keys", "-t", "pair.0", "r")
            wait_pane(t, 0, "two-person rule: a second operator")

            # the follower co-signs it
            t.tmux("send-keys", "-t", "pair.1", "g")
            wait_pane(t, 1, "Co-sign scale")
            t.tmux("send-keys", "-t", "pair.1", "y")
            wait_pane(t, 0, "co-signed by", f"{follower}@")

            # now the driver runs it, typing the environment's name
            t.tmux("send-keys", "-t", "pair.0", "r")
            wait_pane(t, 0, "prodlike")
            time.sleep(0.3)
            t.tmux("send-keys", "-t", "pair.0", "-l", "prodlike")
            t.tmux("send-keys", "-t", "pair.0", "Enter")
            wait_pane(t, 0, "✔ passed", "1/1 required done", timeout=30)
            wait_pane(t, 1, "✔ passed", "1/1 required done")  # the follower sees it
        finally:
            t.kill()

        deps = {d["metadata"]["name"]: d for d in
                kube_emulator.emulator.store.list(DEPLOYMENT, "creatorbridge-sandbox")[0]}
        assert deps[DEPLOY]["spec"]["replicas"] == 3
        journal = Journal(state / "journal.db")
        try:
            (meta,) = journal.sessions()
            events = journal.events(meta.id)
        finally:
            journal.close()
        host = os.uname().nodename
        by_kind = {(e.kind, e.item): e.actor for e in events}
        assert meta.operator == driver
        assert by_kind[(Ev.FOLLOWER_JOINED, None)] == f"{follower}@{host}"
        assert by_kind[(Ev.ITEM_COSIGNED, "scale")] == f"{follower}@{host}"
        assert by_kind[(Ev.ITEM_INTENT, "scale")] == f"{driver}@{host}"
        assert next(e for e in events if e.kind is Ev.ITEM_RESULT).get("outcome") == "passed"
        assert pwd.getpwnam(driver).pw_uid != pwd.getpwnam(follower).pw_uid
        fold_check.verify()  # now: the journal goes with the shared folder
    finally:
        shutil.rmtree(shared, ignore_errors=True)
