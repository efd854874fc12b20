"""Engine benchmarks on this machine: `.venv/bin/python bench/engine.py [--dir DIR]`.

Prints one line per figure with its target next to it, and exits 1 if a figure misses its
target. Everything it writes goes to a temporary directory (under DIR if given, e.g. to
measure the disk the real journal lives on) that is removed at the end.

Figures:
  load+validate        the bundled runbook, from disk, median of several runs
  journal appends/s    durable appends (WAL, synchronous=FULL), one transaction each
  fold                 100,000 synthetic events over the runbook's item ids
  resume               the same 100,000 events read back from a journal and folded
  empty shell step     argv [true] through Run.execute (journal intent/result + spawn)
  shell output         `seq 1 1000000` through Run.execute into the step log
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import runbook.execute.executor as executor_module  # noqa: E402
from runbook.execute.stepkind import CancelToken, Outcome  # noqa: E402
from runbook.format.loader import load, load_text  # noqa: E402
from runbook.format.model import ItemKind, Runbook  # noqa: E402
from runbook.journal.sqlite import Journal  # noqa: E402
from runbook.rules.events import Ev, Event  # noqa: E402
from runbook.rules.fold import fold  # noqa: E402
from runbook.session.operator import current  # noqa: E402
from runbook.session.run import Run  # noqa: E402
from steps import default_registry  # noqa: E402

BUNDLED = REPO / "runbooks" / "creatorbridge-deploy.yaml"
FALLBACK = REPO / "runbooks" / "examples" / "hello.yaml"
FOLD_EVENTS = 100_000
FLOOD_LINES = 1_000_000
STEPS = 200
BREAKDOWN_STEPS = 50

misses: list[str] = []


def report(name: str, value: str, target: str = "", ok: bool | None = None) -> None:
    verdict = "" if ok is None else ("ok" if ok else "MISSED")
    if ok is False:
        misses.append(name)
    print(f"{name:<34} {value:<58} {('target ' + target) if target else '':<20} {verdict}",
          flush=True)


def median_of(fn: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def fs_type(path: Path) -> str:
    """The file system of `path`, from /proc/mounts (longest matching mount point)."""
    best, kind = "", "?"
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return kind
    real = str(path.resolve())
    for line in mounts:
        parts = line.split()
        if len(parts) > 2 and (real == parts[1] or real.startswith(parts[1].rstrip("/") + "/")) \
                and len(parts[1]) >= len(best):
            best, kind = parts[1], parts[2]
    return kind


# -- the figures --------------------------------------------------------------------

def bench_load(path: Path) -> Runbook:
    reg = default_registry()
    rb = load(path, reg)  # warm: imports, regex compilation
    seconds = median_of(lambda: load(path, reg), 30)
    n = sum(1 for _ in rb.all_items())
    report("load+validate", f"{seconds * 1000:.1f} ms median of 30 ({path.name}, {n} items)",
           "< 50 ms", seconds < 0.050)
    return rb


def bench_appends(tmp: Path) -> None:
    journal = Journal(tmp / "appends.db")
    sid = "bench-appends"
    journal.create_session(_meta(sid, tmp))
    data = {"outcome": "passed", "message": "exit status 0", "exit_code": 0, "seconds": 1.234,
            "facts": {"pid": 4242}, "log": str(tmp / "x.log"), "lines": 40,
            "tail": ["a line of output"] * 5}
    for _ in range(20):  # warm
        journal.append(sid, Ev.ITEM_RESULT, "item", "bench@host", data)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < 1.5 and n < 20_000:
        journal.append(sid, Ev.ITEM_RESULT, "item", "bench@host", data)
        n += 1
    seconds = time.perf_counter() - start
    journal.close()
    per = seconds / n
    report("journal appends (WAL, sync=FULL)",
           f"{n / seconds:,.0f}/s ({per * 1000:.2f} ms each, {fs_type(tmp)})",
           "none (info)")


def synthetic_events(rb: Runbook, count: int) -> list[Event]:
    """A long session: every automated item started/intended and resulted, confirmations,
    a choice, phase changes; repeated over the runbook's items until `count` events."""
    events: list[Event] = []
    ts = 1.7e9
    actor = "alice@ops-laptop"

    def add(kind: Ev, item: str | None = None, data: dict[str, Any] | None = None) -> None:
        nonlocal ts
        ts += 0.7
        events.append(Event(len(events) + 1, ts, kind, item, actor, data or {}))

    items = list(rb.all_items())
    add(Ev.SESSION_STARTED, data={"dry_run": False, "env": rb.environments[0].name,
                                  "runbook_hash": rb.content_hash, "variables": {}})
    chosen = False
    while len(events) < count:
        for n, phase in enumerate(rb.phases):
            if n:
                add(Ev.PHASE_ENTERED, data={"index": n, "phase": phase.id})
            for it in (i for i in items if i.phase == phase.id):
                if it.kind in (ItemKind.CHECK, ItemKind.ACTION, ItemKind.WAIT):
                    add(Ev.ITEM_INTENT if it.mutating else Ev.ITEM_STARTED, it.id,
                        {"command": f"{it.uses or 'wait'} --namespace creatorbridge-staging",
                         "step": it.uses or "wait", "dry_run": False, "mutating": it.mutating})
                    add(Ev.ITEM_RESULT, it.id,
                        {"outcome": "passed" if len(events) % 7 else "failed",
                         "message": "exit status 0", "exit_code": 0, "seconds": 2.5,
                         "facts": {"pid": 1000 + len(events)},
                         "log": f"/state/sessions/x/logs/{it.id}.log", "lines": 42,
                         "tail": [f"line {k} of the output" for k in range(5)]})
                elif it.kind is ItemKind.CONFIRM:
                    add(Ev.ITEM_CONFIRMED, it.id, {"note": "looked fine"})
                elif it.kind is ItemKind.CHOICE and not chosen and it.options:
                    add(Ev.ITEM_CHOSEN, it.id, {"option": it.options[0].id})
                    chosen = True
    return events[:count]


def bench_fold(rb: Runbook, tmp: Path) -> None:
    env = rb.environments[0].name
    events = synthetic_events(rb, FOLD_EVENTS)
    fold(rb, env, events[:1000])  # warm
    seconds = median_of(lambda: fold(rb, env, events), 3)
    report(f"fold {FOLD_EVENTS:,} events", f"{seconds:.3f} s median of 3 "
           f"({FOLD_EVENTS / seconds:,.0f} events/s)", "< 1 s", seconds < 1.0)

    # the same events in a journal, read back and folded as `resume` does
    journal = Journal(tmp / "fold.db")
    sid = "bench-fold"
    journal.create_session(_meta(sid, tmp))
    con = journal._db  # bulk fill in one transaction: appending one by one is measured above
    con.execute("BEGIN")
    con.executemany(
        "INSERT INTO events (session_id, seq, ts, kind, item, actor, data) VALUES (?,?,?,?,?,?,?)",
        [(sid, e.seq, e.ts, e.kind.value, e.item, e.actor, json.dumps(e.data, sort_keys=True))
         for e in events])
    con.execute("COMMIT")
    seconds = median_of(lambda: fold(rb, env, journal.iter_events(sid)), 3)
    journal.close()
    report(f"resume: read+fold {FOLD_EVENTS:,} events", f"{seconds:.3f} s median of 3",
           "< 1 s", seconds < 1.0)


def _shell_runbook(tmp: Path) -> Runbook:
    items = [{"id": f"t{n}", "kind": "check", "title": "nothing", "uses": "shell",
              "with": {"argv": ["true"]}} for n in range(STEPS + 10 + BREAKDOWN_STEPS)]
    items.append({"id": "flood", "kind": "check", "title": "flood", "uses": "shell",
                  "with": {"argv": ["seq", "1", str(FLOOD_LINES)]}})
    text = ("runbook: 1\ntitle: Bench\nenvironments:\n  local: {namespace: default}\n"
            "phases:\n  - id: p\n    title: P\n    sections:\n      - id: s\n        title: S\n"
            "        items:\n" + "".join(f"          - {json.dumps(i)}\n" for i in items))
    return load_text(text, str(tmp / "bench.yaml"), default_registry())


def bench_shell(tmp: Path) -> None:
    rb = _shell_runbook(tmp)
    journal = Journal(tmp / "shell.db")
    run = Run.start(journal, rb, "local", {}, default_registry(), current(), dry_run=False)
    batches: list[int] = []

    def listener(item: str, lines: list[str]) -> None:
        batches.append(len(lines))

    times = []
    for n in range(STEPS + 10):
        t = time.perf_counter()
        result = run.execute(f"t{n}", CancelToken(), listener)
        if n >= 10:  # the first few warm up
            times.append(time.perf_counter() - t)
        assert result.outcome is Outcome.PASSED, result
    step = statistics.median(times)
    p90 = sorted(times)[int(len(times) * 0.9)]
    report("empty shell step (Run.execute)", f"{step * 1000:.2f} ms median, {p90 * 1000:.2f} ms "
           f"p90, of {STEPS}", "< 5 ms", step < 0.005)
    parts = _step_breakdown(run, listener)
    unseen = [name for name, value in parts.items() if value is None]
    if unseen:  # the instrumented call is no longer on the step's path: say so, not a traceback
        report("  where it goes (medians)", f"not measured: {', '.join(unseen)} never called", "")
    else:
        _report_breakdown({k: v or 0.0 for k, v in parts.items()})

    batches.clear()
    t = time.perf_counter()
    result = run.execute("flood", CancelToken(), listener)
    seconds = time.perf_counter() - t
    log = Path(journal.events(run.meta.id)[-1].data["log"])
    journal.close()
    complete = (result.outcome is Outcome.PASSED and sum(batches) == FLOOD_LINES
                and log.read_text() == "".join(f"{n}\n" for n in range(1, FLOOD_LINES + 1)))
    rate = FLOOD_LINES / seconds
    report("shell output into the step log",
           f"{rate:,.0f} lines/s ({FLOOD_LINES:,} in {seconds:.2f} s, {len(batches)} batches)",
           ">= 100,000/s", rate >= 100_000)
    report("  log file", "exactly 1,000,000 lines, in order" if complete
           else f"INCOMPLETE or out of order ({result.outcome}, {sum(batches)} lines)", "",
           complete)


def _report_breakdown(parts: dict[str, float]) -> None:
    append, log, step, total = (parts[k] for k in ("append", "log", "step", "total"))
    fork = median_of(lambda: subprocess.run(["true"], check=True), 50)
    report("  where it goes (medians)",
           f"2 appends {append * 2000:.2f}, log file {log * 1000:.2f}, step {step * 1000:.2f} ms", "")
    report("", f"(of which bare spawn {fork * 1000:.2f} ms); rest "
           f"{(total - 2 * append - log - step) * 1000:.2f} ms", "")


def _step_breakdown(run: Run,
                    listener: Callable[[str, list[str]], None]) -> dict[str, float | None]:
    """Median seconds per part of an empty step, timed inside Run.execute (instrumented);
    None for a part that was never called. Run.emit journals through append_checked (the
    rules are checked against the latest journaled state in the same transaction)."""
    acc: dict[str, list[float]] = {"append": [], "log": [], "step": [], "total": []}

    def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                acc[name].append(time.perf_counter() - t)
        return wrapper

    shell = run.registry.get("shell")
    targets = [(run.journal, "append_checked", "append"), (shell, "run", "step"),
               (executor_module, "ItemLog", "log")]
    saved = [(obj, attr, vars(obj).get(attr)) for obj, attr, _ in targets]
    for obj, attr, name in targets:
        setattr(obj, attr, timed(name, getattr(obj, attr)))
    try:
        for n in range(STEPS + 10, STEPS + 10 + BREAKDOWN_STEPS):
            t = time.perf_counter()
            run.execute(f"t{n}", CancelToken(), listener)
            acc["total"].append(time.perf_counter() - t)
    finally:
        for obj, attr, value in saved:
            if value is None:
                delattr(obj, attr)  # it was the class's method
            else:
                setattr(obj, attr, value)
    return {k: statistics.median(v) if v else None for k, v in acc.items()}


def _meta(sid: str, tmp: Path) -> Any:
    from runbook.journal.store import SessionMeta
    return SessionMeta(id=sid, created=time.time(), runbook_path="bench.yaml",
                       runbook_title="bench", runbook_hash="0", env="local", dry_run=False,
                       operator="bench", host="host", ssh="", kube_context="", variables={},
                       dir=str(tmp))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", help="make the temporary directory under DIR (default: $TMPDIR)")
    args = ap.parse_args()
    started = time.perf_counter()
    path = BUNDLED
    if not path.exists():
        print(f"note: {BUNDLED.relative_to(REPO)} not found; using {FALLBACK.relative_to(REPO)}")
        path = FALLBACK
    load_avg = " ".join(Path("/proc/loadavg").read_text().split()[:3]) \
        if Path("/proc/loadavg").exists() else "?"
    print(f"runbook engine benchmarks, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"load average {load_avg}")
    if load_avg != "?" and float(load_avg.split()[0]) > 0.5 * (os.cpu_count() or 1):
        print("note: the machine is busy; timings (fsync latency above all) will be pessimistic")
    with tempfile.TemporaryDirectory(prefix="runbook-bench-", dir=args.dir) as name:
        tmp = Path(name)
        rb = bench_load(path)
        bench_appends(tmp)
        bench_fold(rb, tmp)
        bench_shell(tmp)
    print(f"done in {time.perf_counter() - started:.1f} s; "
          + (f"MISSED: {', '.join(misses)}" if misses else "every figure met its target"))
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
