"""The `shell` step kind with real subprocesses: output, status, timeout, cancel, process groups.

Most tests run one item through `Run.execute` on a journal in tmp_path, so the executor, the
item log and the journal are exercised too; a few call the step directly with a StepContext.
Timing bounds are deliberately generous: they catch a hang, not a slow machine.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from runbook.execute.stepkind import CancelToken, Outcome, StepContext, StepResult
from runbook.format.loader import load_text
from runbook.journal.sqlite import Journal
from runbook.rules.events import Ev, Event
from runbook.session.operator import current
from runbook.session.run import Run
from steps import default_registry
from steps.shell import ShellStep

pytestmark = pytest.mark.timeout(60)


# -- helpers ---------------------------------------------------------------

def runbook_text(params: dict[str, Any], timeout: str | None = None) -> str:
    item: dict[str, Any] = {"id": "x", "kind": "action", "title": "X", "uses": "shell",
                            "with": params}
    if timeout is not None:
        item["timeout"] = timeout
    return (
        "runbook: 1\ntitle: Shell test\nenvironments:\n  local: {namespace: default}\n"
        "phases:\n  - id: p\n    title: P\n    sections:\n      - id: s\n        title: S\n"
        f"        items:\n          - {json.dumps(item)}\n"
    )


class Outcomes:
    """What one item run produced: result, listener batches, journal events, log file."""

    def __init__(self, result: StepResult, batches: list[list[str]], events: list[Event],
                 seconds: float) -> None:
        self.result = result
        self.batches = batches
        self.events = events
        self.seconds = seconds
        self.result_event = next(e for e in events if e.kind is Ev.ITEM_RESULT)

    @property
    def lines(self) -> list[str]:
        return [line for batch in self.batches for line in batch]

    @property
    def log_lines(self) -> list[str]:
        return Path(self.result_event.data["log"]).read_text(encoding="utf-8").splitlines()

    @property
    def pid(self) -> int:
        return int(self.result.facts["pid"])


def run_item(tmp_path: Path, params: dict[str, Any], timeout: str | None = None,
             cancel: CancelToken | None = None,
             cancel_when: Callable[[list[str]], bool] | None = None,
             reason: str = "cancelled") -> Outcomes:
    """Run item x; with `cancel_when`, cancel it once its output so far satisfies that (so the
    command provably runs: a cancel during the start is tests/integration/test_detached_start)."""
    reg = default_registry()
    rb = load_text(runbook_text(params, timeout), str(tmp_path / "t.yaml"), reg)
    journal = Journal(tmp_path / "journal.db")
    token = cancel or CancelToken()
    cancelled_at: list[float] = []
    try:
        run = Run.start(journal, rb, "local", {}, reg, current(), dry_run=False)
        batches: list[list[str]] = []

        def listener(item: str, lines: list[str]) -> None:
            batches.append(list(lines))
            if cancel_when is not None and not cancelled_at and \
                    cancel_when([ln for b in batches for ln in b]):
                cancelled_at.append(time.monotonic())
                token.cancel(reason)

        started = time.monotonic()
        result = run.execute("x", token, listener=listener)
        ended = time.monotonic()
        events = journal.events(run.meta.id)
    finally:
        journal.close()
    return Outcomes(result, batches, events, ended - (cancelled_at[0] if cancelled_at else started))


class ListSink:
    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def write_lines(self, lines: Iterable[str]) -> None:
        self.batches.append(list(lines))


def run_direct(tmp_path: Path, params: dict[str, Any], sink: Any = None,
               timeout_s: float | None = None) -> tuple[StepResult, dict[str, Any]]:
    facts: dict[str, Any] = {}
    ctx = StepContext(item_id="x", params=params, cancel=CancelToken(), output=sink or ListSink(),
                      session_dir=tmp_path, dry_run=False, timeout_s=timeout_s,
                      fact=facts.__setitem__)
    return ShellStep().run(ctx), facts


def live_in_group(pgid: int) -> list[int]:
    """Processes of group `pgid` that are not zombies (a zombie has ended already)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text(encoding="ascii", errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.append(int(name))
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def assert_group_gone(pgid: int, pids: Iterable[int] = ()) -> None:
    """No process of the group (nor any of `pids`) runs; allows a moment for reaping."""
    deadline = time.monotonic() + 3.0
    while (live_in_group(pgid) or any(alive(p) for p in pids)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert live_in_group(pgid) == []
    assert [p for p in pids if alive(p)] == []
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        pass  # nothing at all left, not even a zombie
    else:  # only zombies may remain, waiting for init to reap them
        assert live_in_group(pgid) == []


# -- output ----------------------------------------------------------------

def test_output_over_time_arrives_in_several_batches(tmp_path: Path) -> None:
    script = "for i in $(seq 1 10); do echo line$i; sleep 0.05; done"
    o = run_item(tmp_path, {"script": script})
    assert o.result.outcome is Outcome.PASSED
    assert o.lines == [f"line{i}" for i in range(1, 11)]
    assert len(o.batches) >= 2  # streamed while running, not all at the end
    assert all(o.batches)  # never an empty batch
    assert o.log_lines == o.lines


def test_fast_flood_is_batched_and_logged_completely_in_order(tmp_path: Path) -> None:
    o = run_item(tmp_path, {"argv": ["seq", "1", "200000"]})
    assert o.result.outcome is Outcome.PASSED
    expected = [str(i) for i in range(1, 200001)]
    assert o.lines == expected
    assert len(o.batches) < 200  # time-based batches, never one call per line
    assert o.log_lines == expected
    assert o.result_event.data["lines"] == 200000
    assert o.result_event.data["tail"] == expected[-5:]


def test_last_line_without_newline_is_kept(tmp_path: Path) -> None:
    o = run_item(tmp_path, {"argv": ["printf", "a\\nb"]})
    assert o.lines == ["a", "b"]


def test_ansi_escapes_and_carriage_returns_are_stripped(tmp_path: Path) -> None:
    script = ("printf '\\033[1;31mred\\033[0m plain\\n'; printf '\\033]0;title\\007after\\r\\n'; "
              "printf '\\033[2K\\033[10Gcol\\n'")
    o = run_item(tmp_path, {"script": script})
    assert o.lines == ["red plain", "after", "col"]
    assert not any("\x1b" in line for line in o.log_lines)


def test_invalid_utf8_does_not_break_the_step(tmp_path: Path) -> None:
    o = run_item(tmp_path, {"script": "printf 'ok \\377\\376 end\\n'"})
    assert o.result.outcome is Outcome.PASSED
    assert o.lines[0].startswith("ok ") and o.lines[0].endswith(" end")


def test_stderr_is_captured_with_stdout(tmp_path: Path) -> None:
    o = run_item(tmp_path, {"script": "echo to-out; echo to-err >&2; echo again"})
    assert o.lines == ["to-out", "to-err", "again"]


# -- status ----------------------------------------------------------------

def test_exit_status_zero_passes_and_records_pid(tmp_path: Path) -> None:
    o = run_item(tmp_path, {"argv": ["true"]})
    assert o.result.outcome is Outcome.PASSED
    assert o.result.exit_code == 0
    assert o.result.message == "exit status 0"
    assert o.result_event.data["outcome"] == "passed"
    assert o.result_event.data["facts"]["pid"] == o.pid > 0
    kinds = [e.kind for e in o.events]
    assert kinds == [Ev.SESSION_STARTED, Ev.ITEM_INTENT, Ev.ITEM_FACT, Ev.ITEM_RESULT]
    assert o.events[2].data == {"key": "pid", "value": o.pid}  # journaled at once


def test_nonzero_exit_status_fails_with_the_code(tmp_path: Path) -> None:
    o = run_item(tmp_path, {"script": "echo failing; exit 3"})
    assert o.result.outcome is Outcome.FAILED
    assert o.result.exit_code == 3
    assert o.result.message == "exit status 3"
    assert o.result_event.data["exit_code"] == 3


def test_death_by_signal_is_named(tmp_path: Path) -> None:
    o = run_item(tmp_path, {"script": "kill -USR1 $$"})
    assert o.result.outcome is Outcome.FAILED
    assert o.result.exit_code == -10
    assert o.result.message == "killed by SIGUSR1"


def test_missing_program_fails_with_a_clear_message(tmp_path: Path) -> None:
    o = run_item(tmp_path, {"argv": ["no-such-program-runbook-test", "x"]})
    assert o.result.outcome is Outcome.FAILED
    assert o.result.message == "cannot start 'no-such-program-runbook-test': program not found"
    assert o.result_event.data["outcome"] == "failed"


def test_program_that_is_not_executable_fails_cleanly(tmp_path: Path) -> None:
    target = tmp_path / "not-exec.sh"
    target.write_text("#!/bin/sh\necho hi\n")
    o = run_item(tmp_path, {"argv": [str(target)]})
    assert o.result.outcome is Outcome.FAILED
    assert o.result.message.startswith(f"cannot start {str(target)!r}: ")
    assert "ermission denied" in o.result.message


# -- parameters --------------------------------------------------------------

def test_cwd_is_honoured(tmp_path: Path) -> None:
    work = tmp_path / "work dir"
    work.mkdir()
    o = run_item(tmp_path, {"argv": ["pwd"], "cwd": str(work)})
    assert o.lines == [str(work)]


def test_missing_cwd_fails_with_a_clear_message(tmp_path: Path) -> None:
    o = run_item(tmp_path, {"argv": ["pwd"], "cwd": str(tmp_path / "nope")})
    assert o.result.outcome is Outcome.FAILED
    assert o.result.message == f"working directory {str(tmp_path / 'nope')!r} does not exist"


def test_env_is_honoured_and_inherits_the_rest(tmp_path: Path) -> None:
    params = {"script": 'echo "$RB_A|$RB_B|$${PATH:+has-path}"',
              "env": {"RB_A": "one two", "RB_B": "it's $HOME"}}
    o = run_item(tmp_path, params)
    assert o.lines == ["one two|it's $HOME|has-path"]


def test_stdin_is_not_inherited(tmp_path: Path) -> None:
    o = run_item(tmp_path, {"script": "cat; echo eof"}, timeout="10s")
    assert o.result.outcome is Outcome.PASSED
    assert o.lines == ["eof"]


# -- timeout and cancel --------------------------------------------------------

def test_timeout_ends_the_command(tmp_path: Path) -> None:
    o = run_item(tmp_path, {"argv": ["sleep", "30"]}, timeout="1s")
    assert o.result.outcome is Outcome.TIMED_OUT
    assert o.result.message == "timed out after 1s"
    assert 0.9 <= o.seconds < 1 + 5 + 3  # timeout + default grace + slack
    assert o.result_event.data["outcome"] == "timed-out"
    assert_group_gone(o.pid)


def test_cancel_from_another_thread_ends_the_command(tmp_path: Path) -> None:
    o = run_item(tmp_path, {"script": "echo started; sleep 30; echo never"},
                 cancel_when=lambda lines: "started" in lines, reason="operator pressed c")
    assert o.result.outcome is Outcome.CANCELLED
    assert o.result.message == "cancelled (operator pressed c)"
    assert o.lines == ["started"]
    assert o.seconds < 20  # from the cancel (a hang would be the 30 s sleep)
    assert_group_gone(o.pid)


def test_timeout_kills_background_children_of_the_group(tmp_path: Path) -> None:
    script = "sleep 300 & echo $!; sleep 300 & echo $!; wait"
    o = run_item(tmp_path, {"script": script}, timeout="1s")
    assert o.result.outcome is Outcome.TIMED_OUT
    children = [int(x) for x in o.lines]
    assert len(children) == 2
    assert o.seconds < 1 + 5 + 3
    assert_group_gone(o.pid, children)


def test_cancel_kills_background_children_of_the_group(tmp_path: Path) -> None:
    cancel = CancelToken()
    script = "sleep 300 & echo $!; (sleep 300; echo x) & echo $!; wait"
    o = run_item(tmp_path, {"script": script}, cancel=cancel,
                 cancel_when=lambda lines: len(lines) >= 2)
    assert o.result.outcome is Outcome.CANCELLED
    children = [int(x) for x in o.lines]
    assert len(children) == 2
    assert o.seconds < 20
    assert_group_gone(o.pid, children)


def test_sigterm_ignored_is_followed_by_sigkill_after_grace(tmp_path: Path) -> None:
    script = 'trap "" TERM; sleep 300 & echo $!; sleep 300'
    o = run_item(tmp_path, {"script": script, "grace": "1s"}, timeout="1s")
    assert o.result.outcome is Outcome.TIMED_OUT
    assert o.result.exit_code == -9  # it took SIGKILL
    assert 1.5 <= o.seconds < 1 + 1 + 4  # timeout + grace (+ slack)
    assert_group_gone(o.pid, [int(o.lines[0])])


def test_cancel_of_a_sigterm_ignoring_command(tmp_path: Path) -> None:
    # (a cancel 0.3 s after the start used to land before the detached step had begun:
    # tests/integration/test_detached_start.py covers every point of the start)
    o = run_item(tmp_path, {"script": 'trap "" TERM; echo started; sleep 300', "grace": 0.5},
                 cancel_when=lambda lines: "started" in lines)
    assert o.result.outcome is Outcome.CANCELLED
    assert o.result.exit_code == -9  # it ignored SIGTERM and took SIGKILL after the grace
    assert o.seconds < 20
    assert_group_gone(o.pid)


def test_command_that_closes_its_output_still_times_out(tmp_path: Path) -> None:
    # the pipe reaches end-of-file long before the command ends
    o = run_item(tmp_path, {"script": "echo bye; exec >/dev/null 2>&1; sleep 300"}, timeout="1s")
    assert o.result.outcome is Outcome.TIMED_OUT
    assert o.lines == ["bye"]
    assert o.seconds < 1 + 5 + 3
    assert_group_gone(o.pid)


def test_command_that_closes_its_output_can_be_cancelled(tmp_path: Path) -> None:
    o = run_item(tmp_path, {"script": "echo started; exec >&- 2>&-; sleep 300"},
                 cancel_when=lambda lines: "started" in lines)
    assert o.result.outcome is Outcome.CANCELLED
    assert o.seconds < 20
    assert_group_gone(o.pid)


# -- leftovers after a normal exit ---------------------------------------------

def test_exit_with_a_background_child_holding_stdout_returns_promptly(tmp_path: Path) -> None:
    o = run_item(tmp_path, {"script": "sleep 300 & echo $!; echo done"})
    assert o.result.outcome is Outcome.PASSED
    assert o.lines[1:] == ["done"]
    assert o.seconds < 4  # a short linger, then the leftover is ended
    assert_group_gone(o.pid, [int(o.lines[0])])


def test_background_child_output_during_the_linger_is_kept(tmp_path: Path) -> None:
    o = run_item(tmp_path, {"script": "(sleep 0.1; echo late; sleep 300) & echo early"})
    assert o.result.outcome is Outcome.PASSED
    assert o.lines == ["early", "late"]
    assert_group_gone(o.pid)


def test_exit_with_a_detached_background_child_leaves_no_orphan(tmp_path: Path) -> None:
    # the child does not hold the pipe, so the pipe closes with the command
    o = run_item(tmp_path, {"script": "sleep 300 >/dev/null 2>&1 & echo $!"})
    assert o.result.outcome is Outcome.PASSED
    assert o.seconds < 4
    assert_group_gone(o.pid, [int(o.lines[0])])


def test_background_child_ignoring_sigterm_is_killed_after_grace(tmp_path: Path) -> None:
    o = run_item(tmp_path, {"script": '(trap "" TERM; sleep 300) & echo $!', "grace": 0.5})
    assert o.result.outcome is Outcome.PASSED
    assert o.seconds < 5
    assert_group_gone(o.pid, [int(o.lines[0])])


# -- directly, without the executor -------------------------------------------

def test_direct_run_records_pid_fact(tmp_path: Path) -> None:
    sink = ListSink()
    result, facts = run_direct(tmp_path, {"script": "echo $$"}, sink)
    assert result.outcome is Outcome.PASSED
    assert facts["pid"] == int(sink.batches[0][0])


def test_direct_run_timeout_without_executor(tmp_path: Path) -> None:
    started = time.monotonic()
    result, facts = run_direct(tmp_path, {"argv": ["sleep", "30"], "grace": 1.0}, timeout_s=0.5)
    assert result.outcome is Outcome.TIMED_OUT
    assert result.message == "timed out after 0.5s"
    assert time.monotonic() - started < 5
    assert_group_gone(facts["pid"])


def test_failing_output_sink_leaves_no_process_behind(tmp_path: Path) -> None:
    class Broken:
        def write_lines(self, lines: Iterable[str]) -> None:
            raise RuntimeError("sink broke")

    facts: dict[str, Any] = {}
    ctx = StepContext(item_id="x", params={"script": "sleep 300 & echo hi; sleep 300"},
                      cancel=CancelToken(), output=Broken(), session_dir=tmp_path, dry_run=False,
                      fact=facts.__setitem__)
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="sink broke"):
        ShellStep().run(ctx)
    assert time.monotonic() - started < 10
    assert_group_gone(facts["pid"])


def test_failing_listener_of_a_detached_step_does_not_touch_the_step(tmp_path: Path) -> None:
    reg = default_registry()
    rb = load_text(runbook_text({"script": "echo hi; sleep 0.3; echo bye"}),
                   str(tmp_path / "t.yaml"), reg)
    journal = Journal(tmp_path / "journal.db")
    run = Run.start(journal, rb, "local", {}, reg, current(), dry_run=False)

    def listener(item: str, lines: list[str]) -> None:
        raise RuntimeError("listener broke")

    result = run.execute("x", CancelToken(), listener=listener)
    journal.close()
    assert result.outcome is Outcome.PASSED  # the view broke; the step ran on
    log = tmp_path / "sessions" / run.meta.id / "logs" / "x.log"
    assert log.read_text().split() == ["hi", "bye"]


def test_failing_listener_fails_the_item_and_leaves_no_process(tmp_path: Path) -> None:
    reg = default_registry()
    rb = load_text(runbook_text({"script": "echo hi; sleep 300"}), str(tmp_path / "t.yaml"), reg)
    journal = Journal(tmp_path / "journal.db")
    run = Run.start(journal, rb, "local", {}, reg, current(), dry_run=False)

    def listener(item: str, lines: list[str]) -> None:
        raise RuntimeError("listener broke")

    # in the TUI's own process (a step that does not detach) the listener is the step's sink
    result = run.execute("x", CancelToken(), listener=listener, detach=False)
    journal.close()
    assert result.outcome is Outcome.FAILED
    assert "listener broke" in result.message
    assert_group_gone(int(result.facts["pid"]))  # the pid fact survives the failure
