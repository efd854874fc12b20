"""helm.upgrade / helm.rollback with a stand-in `helm` on PATH (a real subprocess)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from runbook.execute.stepkind import CancelToken, Outcome, StepContext
from steps.helm import HelmRollback, HelmUpgrade

FAKE_HELM = r"""#!/usr/bin/env bash
# stand-in helm: keeps the release revision in $HELM_STATE, logs every call
state="$HELM_STATE"; echo "$@" >> "$state.calls"
rev=$(cat "$state" 2>/dev/null || echo 0)
case "$1" in
  status)
    if [ "$rev" = 0 ]; then echo "Error: release: not found" >&2; exit 1; fi
    echo "{\"name\": \"$2\", \"version\": $rev, \"info\": {\"status\": \"deployed\"}}";;
  upgrade)
    trap 'echo "got SIGTERM, marking release failed"; echo term > "$state.term"; exit 1' TERM
    echo "Release \"$3\" is being upgraded"
    for i in $(seq 1 ${HELM_SLEEP:-1}); do sleep 0.1 & wait $!; done
    echo $((rev + 1)) > "$state"; echo "STATUS: deployed, REVISION: $((rev + 1))";;
  rollback)
    echo $((rev + 1)) > "$state"; echo "Rollback was a success! Happy Helming!";;
  *) echo "unknown $1" >&2; exit 2;;
esac
"""


@pytest.fixture
def helm_env(tmp_path: Path) -> dict[str, str]:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    helm = bindir / "helm"
    helm.write_text(FAKE_HELM)
    helm.chmod(0o755)
    state = tmp_path / "helm-state"
    state.write_text("3")
    return {"PATH": f"{bindir}:{os.environ['PATH']}", "HELM_STATE": str(state)}


class Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def write_lines(self, lines: Any) -> None:
        self.lines.extend(lines)


def make_ctx(params: dict[str, Any], env: dict[str, str], tmp: Path,
             recall: dict[str, Any] | None = None) -> tuple[StepContext, Lines, dict[str, Any]]:
    out = Lines()
    facts: dict[str, Any] = {}
    return StepContext(item_id="helm", params=params, cancel=CancelToken(), output=out,
                       session_dir=tmp, dry_run=False, process_env=env, kube_context="sandbox",
                       fact=facts.__setitem__,
                       recall=lambda k: (recall or {}).get(k)), out, facts


PARAMS = {"release": "creatorbridge", "chart": "./helm/creatorbridge",
          "namespace": "cb", "set": {"image.tag": "v1.2.3"}, "timeout": 600.0}


def test_upgrade_journals_revisions_and_args(helm_env: dict[str, str], tmp_path: Path) -> None:
    c, out, _ = make_ctx(PARAMS, helm_env, tmp_path)
    result = HelmUpgrade().run(c)
    assert result.outcome is Outcome.PASSED, result.message
    assert result.facts["helm_before"]["revision"] == 3
    assert result.facts["helm_after"]["revision"] == 4
    calls = Path(helm_env["HELM_STATE"] + ".calls").read_text().splitlines()
    assert ("upgrade --install creatorbridge ./helm/creatorbridge --namespace cb --kube-context "
            "sandbox --set image.tag=v1.2.3 --wait --timeout 600s") in calls
    assert any("REVISION: 4" in line for line in out.lines)


def test_cancel_sends_sigterm_and_waits(helm_env: dict[str, str], tmp_path: Path) -> None:
    env = {**helm_env, "HELM_SLEEP": "300"}
    c, out, _ = make_ctx(PARAMS, env, tmp_path)
    threading.Timer(1.0, c.cancel.cancel, ("operator",)).start()
    started = time.monotonic()
    result = HelmUpgrade().run(c)
    assert result.outcome is Outcome.CANCELLED
    assert time.monotonic() - started < 10
    # helm got SIGTERM and ran its handler (a SIGKILL would have left no marker)
    assert Path(helm_env["HELM_STATE"] + ".term").read_text().strip() == "term"
    assert any("got SIGTERM" in line for line in out.lines)


def test_rollback_to_recorded_revision(helm_env: dict[str, str], tmp_path: Path) -> None:
    recorded = {"helm_before": {"release": "creatorbridge", "namespace": "cb", "revision": 3}}
    c, _, _ = make_ctx({"release": "creatorbridge", "namespace": "cb", "revision": "recorded",
                        "timeout": 60.0}, helm_env, tmp_path, recorded)
    result = HelmRollback().run(c)
    assert result.outcome is Outcome.PASSED, result.message
    assert result.facts["rolled_back_to"] == 3
    calls = Path(helm_env["HELM_STATE"] + ".calls").read_text().splitlines()
    assert "rollback creatorbridge 3 --namespace cb --kube-context sandbox --wait --timeout 60s" \
        in calls
    c, _, _ = make_ctx({"release": "other", "namespace": "cb", "revision": "recorded"},
                       helm_env, tmp_path, recorded)
    assert "no recorded revision" in HelmRollback().run(c).message
