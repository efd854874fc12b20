"""The screen is a fold of what another process reads (issue 11): the check every UI test ends with.

What the operator sees must be what was journaled, durably, for everyone. So every `Run` a
test makes is watched (tests/conftest.py installs the watch): the events it folded, the state
it holds, and, for a Pilot app, what its run screen showed (rows, detail, status bar) once
the screen had caught up with the state. A `Run` in a process the test starts (tmux, `runbook
rehearse`) is watched the same way by tests/fold_site/sitecustomize.py, which writes what
that process had to a dump file after every event. A fresh process (tests/fold_probe.py)
then opens each journal, loads the runbook its session recorded, folds the events with the
engine's fold and asks the report for the outcome; the check fails, saying what differs,
unless every app's state and screen equal that fold at the last event the app had folded,
and the fresh process has every event the app had.

When: as a Pilot test leaves `app.run_test()` (the app still lives and holds its journal),
and when the test's body has passed, for every state not checked yet. A TUI committing into
a deleted WAL (issue 11, item 1) showed a consistent screen and Run; only another process
saw less, and only until the TUI closed its connection. That is what this catches.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

if "fold_probe" in sys.modules:  # loaded as a file by tests/fold_site/sitecustomize.py
    item_view = sys.modules["fold_probe"].item_view
    override_view = sys.modules["fold_probe"].override_view
else:  # imported as tests.fold_check by pytest
    from tests.fold_probe import item_view, override_view

PROBE = Path(__file__).with_name("fold_probe.py")
SITE = Path(__file__).with_name("fold_site")
DUMP_ENV = "RUNBOOK_FOLDCHECK_DIR"
SCREEN_SETTLE_S = 20.0  # how long a screen may take to show its Run's state (loaded machine)
PROBE_TIMEOUT_S = 120.0


class Watched:
    """One `Run` (driver or follower) of an app: the events it folded, its state, its screen."""

    def __init__(self, run: Any, origin: str) -> None:
        self.run = run
        self.origin = origin
        self.locator = str(run.journal.locator())
        self.session = str(run.meta.id)
        self.lock = threading.Lock()
        self.seen: list[Any] = []
        self.state = run.state  # the newest state that all of `seen` made
        self.shown: list[dict[str, Any]] = []
        self.on_change: Callable[[Watched], None] | None = None
        if run.state.last_seq:  # opened (resume, attach): what it folded at the start
            self.seen = [e for e in run.journal.events(self.session)
                         if e.seq <= run.state.last_seq]
        run.subscribe(self.event)

    def event(self, ev: Any, state: Any) -> None:
        with self.lock:
            self.seen.append(ev)
            whole = ev.seq == state.last_seq  # the last of the batch folded into `state`
            if whole:
                self.state = state
        if whole and self.on_change is not None:
            self.on_change(self)

    def view(self) -> dict[str, Any]:
        """What the app had, in the probe's terms."""
        from runbook.rules.state import Status
        from runbook.session.report import build
        with self.lock:
            state, seen = self.state, list(self.seen)
        now = self.run.state
        if now.last_seq == state.last_seq:  # adjusted since (still running, interrupted)
            state = now
        seen = [e for e in seen if e.seq <= state.last_seq]
        run = self.run
        report = build(run.meta, seen, run.runbook)
        return {
            "origin": self.origin, "who": f"{run.operator.name} ({run.role})",
            "locator": self.locator, "session": self.session,
            "runbook_path": str(run.runbook.path), "runbook_text": run.runbook.source,
            "last_seq": state.last_seq,
            "events": [[e.seq, e.kind.value, e.item, e.actor, _note(e)] for e in seen],
            "items": {iid: item_view(st) for iid, st in state.items.items()},
            "running": sorted(i for i, st in state.items.items() if st.status is Status.RUNNING),
            "phase": state.phase, "finished": state.finished, "guards": dict(state.guards),
            "driver": state.driver, "outcome": report["outcome"],
            "overrides": [override_view(o) for o in report["overrides"]],
            "shown": list(self.shown),
        }


def _note(ev: Any) -> str:
    data = ev.data if isinstance(ev.data, dict) else {}
    return str(data.get("reason") or data.get("outcome") or data.get("option") or "")[:80]


# -- the watch: every Run made while it is installed ------------------------------------

class FoldWatch:
    def __init__(self, dump_dir: Path) -> None:
        self.dump_dir = dump_dir
        self.watched: list[Watched] = []
        self.verified: set[str] = set()  # views found equal to a fresh fold (see verify)

    def install(self, setattr_: Callable[[object, str, Any], None], screens: bool = True) -> None:
        """Watch every driver and follower `Run` made in this process, and (`screens`) every
        Pilot app's screen when its test is done with it (`setattr_`: monkeypatch.setattr)."""
        from runbook.session.run import Run
        init = Run.__init__
        watch = self

        def watched_init(run: Any, *args: Any, **kwargs: Any) -> None:
            init(run, *args, **kwargs)
            if run.role != "agent":
                watch.watched.append(Watched(run, "this test's process"))

        setattr_(Run, "__init__", watched_init)
        if screens:
            self._install_screens(setattr_)

    def _install_screens(self, setattr_: Callable[[object, str, Any], None]) -> None:
        import asyncio

        from screens.app import RunbookApp
        watch = self
        run_test = RunbookApp.run_test

        @contextlib.asynccontextmanager
        async def checked_run_test(app: Any, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            async with run_test(app, *args, **kwargs) as pilot:
                yield pilot
                await watch.capture_screen(app, pilot)
                # checked now, while the app lives and holds its journal: a process that
                # commits into a deleted WAL hands its events over when it closes it
                await asyncio.to_thread(watch.verify)

        setattr_(RunbookApp, "run_test", checked_run_test)

    async def capture_screen(self, app: Any, pilot: Any) -> None:
        """Record what the app's run screen shows, once it shows its Run's state (a
        screen that never catches up is recorded as it is: the check then says how)."""
        import asyncio

        from screens.run.screen import RunScreen
        if not app.is_running:
            return
        screen = next((s for s in app.screen_stack if isinstance(s, RunScreen)), None)
        if screen is None:
            return
        mine = next((w for w in self.watched if w.run is screen.run), None)
        if mine is None:
            return
        end = time.monotonic() + SCREEN_SETTLE_S
        while True:
            state = screen.run.state
            shown = read_screen(screen)
            if shown == expected_screen(screen, state) or time.monotonic() > end:
                break
            await asyncio.sleep(0.05)
            await pilot.pause()
        mine.shown.append({"seq": state.last_seq, **shown})

    # -- the check --------------------------------------------------------------------
    def views(self) -> list[dict[str, Any]]:
        out = [w.view() for w in self.watched]
        for path in sorted(self.dump_dir.glob("*.json")):
            try:
                out.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue  # being replaced: the rename is atomic, this is never a torn file
        return out

    def recorder_errors(self) -> list[str]:
        path = self.dump_dir / "errors.txt"
        return path.read_text().splitlines() if path.exists() else []

    def verify(self) -> None:
        """Fail (AssertionError) unless a fresh process's fold equals what every app had.

        A test may call it before the end (before it removes a journal, or to check a
        moment of its own); what it found equal then is not checked again unless it changed."""
        problems = [f"recording a process's run failed: {e}" for e in self.recorder_errors()]
        views = [v for v in self.views() if _mark(v) not in self.verified]
        if views:
            fresh = probe(views)
            for v in views:
                problems += compare(v, fresh[(v["locator"], v["session"])])
        if problems:
            raise AssertionError("fold check: what the app showed is not what another process "
                                 "reads\n  " + "\n  ".join(problems))
        self.verified.update(_mark(v) for v in views)


def _mark(view: dict[str, Any]) -> str:
    return json.dumps([view["origin"], view["who"], view["locator"], view["session"],
                       view["last_seq"], view["items"], view["shown"]], sort_keys=True)


def probe(views: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Run tests/fold_probe.py in a fresh process on every (journal, session) of `views`."""
    import subprocess
    asks: dict[tuple[str, str], dict[str, Any]] = {}
    for v in views:
        key = (v["locator"], v["session"])
        ask = asks.setdefault(key, {"locator": key[0], "session": key[1], "cuts": set(),
                                    "runbook_path": v["runbook_path"],
                                    "runbook_text": v["runbook_text"]})
        ask["cuts"].update([v["last_seq"], *(s["seq"] for s in v["shown"])])
    request = [{**a, "cuts": sorted(a["cuts"])} for a in asks.values()]
    env = {k: val for k, val in os.environ.items() if k not in (DUMP_ENV, "PYTHONPATH")}
    done = subprocess.run([sys.executable, str(PROBE)], input=json.dumps(request),
                          capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, env=env,
                          check=False)
    if done.returncode != 0:
        raise AssertionError(f"fold check: the fresh process failed ({done.returncode}): "
                             f"{done.stderr.strip()[-2000:]}")
    results = json.loads(done.stdout)
    return {(a["locator"], a["session"]): r for a, r in zip(request, results, strict=True)}


# -- comparing ---------------------------------------------------------------------------

def compare(app: dict[str, Any], fresh: dict[str, Any]) -> list[str]:
    """What differs between what one app had (and showed) and the fresh process's fold."""
    who = f"session {app['session']}, {app['who']} in {app['origin']}"
    if "error" in fresh:
        return [f"{who}: a fresh process cannot read it: {fresh['error']}"]
    out: list[str] = []
    if not fresh["gapless"]:
        out.append(f"{who}: the journal's sequence numbers have gaps")
    have = {e[0]: e for e in fresh["events"]}
    missing = [e for e in app["events"] if e[0] not in have]
    if missing or fresh["last_seq"] < app["last_seq"]:
        more = f"; and {len(missing) - 12} more" if len(missing) > 12 else ""
        out.append(f"{who}: the app folded {app['last_seq']} events, a fresh process sees "
                   f"{fresh['last_seq']}; missing: " + "; ".join(_event(e) for e in missing[:12])
                   + more)
    for e in app["events"]:
        other = have.get(e[0])
        if other is not None and list(other[:4]) != list(e[:4]):
            out.append(f"{who}: event {e[0]} is {_event(e)} for the app, "
                       f"{_event(other)} for a fresh process")
    cut = fresh["cuts"][str(app["last_seq"])]
    for iid in sorted(set(app["items"]) | set(cut["items"])):
        mine, theirs = app["items"].get(iid), cut["items"].get(iid)
        if mine is None or theirs is None:
            out.append(f"{who}: item {iid} is only in {'the app' if theirs is None else 'the fold'}")
            continue
        if iid in app["running"] and iid in cut["open"]:  # started, no result yet: running
            mine, theirs = {**mine, "status": "running"}, {**theirs, "status": "running"}
        if mine != theirs:
            out.append(f"{who}: item {iid}: the app has {_item(mine)}, a fresh fold "
                       f"{_item(theirs)}")
    for key in ("phase", "finished", "guards", "driver", "outcome", "overrides"):
        if app[key] != cut[key]:
            out.append(f"{who}: {key}: the app has {app[key]!r}, a fresh process {cut[key]!r}")
    for shown in app["shown"]:
        out += compare_screen(who, shown, fresh["cuts"][str(shown["seq"])])
    return out


def compare_screen(who: str, shown: dict[str, Any], cut: dict[str, Any]) -> list[str]:
    from runbook.rules.state import Status
    from screens.glyphs import GLYPH
    at = f"{who}: the screen (at event {shown['seq']})"
    out: list[str] = []
    running = GLYPH[Status.RUNNING]
    for iid, glyph in shown["rows"].items():
        fresh = str(cut["items"][iid]["status"])
        if glyph == running and iid in cut["open"]:  # started, no result yet
            continue
        if glyph != GLYPH[Status(fresh)]:
            out.append(f"{at}: the row of {iid} shows {glyph}, a fresh fold says {fresh} "
                       f"({GLYPH[Status(fresh)]})")
    if shown["detail"] is not None:
        iid, word, reason = shown["detail"]
        fresh = str(cut["items"][iid]["status"])
        if word != fresh and not (word == Status.RUNNING.value and iid in cut["open"]):
            out.append(f"{at}: the detail of {iid} says {word}, a fresh fold {fresh}")
        fresh_reason = (str(cut["items"][iid]["reason"]).splitlines() or [""])[0]
        if reason != fresh_reason:
            out.append(f"{at}: the detail of {iid} gives the reason {reason!r}, a fresh fold "
                       f"{cut['items'][iid]['reason']!r}")
    if shown["required_done"] is not None and shown["required_done"] != cut["required_done"]:
        out.append(f"{at}: the status bar says {shown['required_done'][0]}/"
                   f"{shown['required_done'][1]} required done, a fresh fold "
                   f"{cut['required_done'][0]}/{cut['required_done'][1]}")
    if shown["phase"] is not None and shown["phase"] != [cut["phase"] + 1, cut["phases"]]:
        out.append(f"{at}: the status bar says phase {shown['phase'][0]}/{shown['phase'][1]}, "
                   f"a fresh fold {cut['phase'] + 1}/{cut['phases']}")
    return out


def _event(e: list[Any]) -> str:
    note = f" {e[4]!r}" if len(e) > 4 and e[4] else ""
    return f"{e[0]} {e[1]}{' ' + e[2] if e[2] else ''} by {e[3]}{note}"


def _item(v: dict[str, Any]) -> str:
    extra = [f"{k} {v[k]!r}" for k in ("reason", "choice", "cosigned_by") if v.get(k)]
    return f"{v['status']} (attempts {v['attempts']}{', ' if extra else ''}{', '.join(extra)})"


# -- reading a Pilot app's run screen ------------------------------------------------------

def read_screen(screen: Any) -> dict[str, Any]:
    """The rows' status glyphs, the detail's item, status and reason, the status bar's counts."""
    import re

    from textual.widgets import Static

    from screens.widgets.item_list import ItemList
    from screens.widgets.status_bar import StatusBar
    table = screen.query_one(ItemList)
    rows = {it.id: str(table.get_row(it.id)[0]) for it in table.items}
    detail = None
    view = screen.detail()
    if view.item is not None:
        lines = str(view.query_one(Static).content).splitlines()
        word = lines[0].split()[1] if lines and len(lines[0].split()) > 1 else ""
        reason = next((ln[len("reason: "):] for ln in lines if ln.startswith("reason: ")), "")
        detail = [view.item.id, word, reason]
    bar = str(screen.query_one(StatusBar).content)
    done = re.search(r"(\d+)/(\d+) required done", bar)
    phase = re.search(r"phase (\d+)/(\d+)", bar)
    return {"rows": rows, "detail": detail,
            "required_done": [int(done[1]), int(done[2])] if done else None,
            "phase": [int(phase[1]), int(phase[2])] if phase else None}


def expected_screen(screen: Any, state: Any) -> dict[str, Any]:
    """What `read_screen` reads when the screen shows `state`."""
    from runbook.rules.state import DONE, Status
    from screens.glyphs import GLYPH
    from screens.widgets.item_list import ItemList
    table = screen.query_one(ItemList)
    rb = screen.run.runbook
    detail = None
    view = screen.detail()
    if view.item is not None:
        st = state.items[view.item.id]
        detail = [view.item.id, st.status.value, (st.reason.splitlines() or [""])[0]]
    required = [i.id for i in rb.all_items()
                if i.required and state.items[i.id].status is not Status.NOT_TAKEN]
    return {"rows": {it.id: GLYPH[state.items[it.id].status] for it in table.items},
            "detail": detail,
            "required_done": [sum(1 for i in required if state.items[i].status in DONE),
                              len(required)],
            "phase": [state.phase + 1, len(rb.phases)]}


# -- a process the test starts (tmux, rehearse): see tests/fold_site/sitecustomize.py --------

def record_runs(module: Any, dump_dir: Path) -> None:
    """Watch every driver and follower Run of `module` (runbook.session.run, just imported by
    a process the test started) and write what it has to `dump_dir` after every event it
    folds (from a thread of its own, so that the app's threads only note that it changed),
    and at exit. Never raises into the product: errors go to dump_dir/errors.txt."""
    import atexit

    watched: list[Watched] = []
    changed: set[int] = set()  # indexes into `watched`
    wake = threading.Condition()
    writing = threading.Lock()

    def dump(n: int) -> None:
        try:
            with writing:  # the view inside: the last one written is the newest
                text = json.dumps(watched[n].view(), default=str)
                path = dump_dir / f"{os.getpid()}-{n}.json"
                tmp = path.with_suffix(".tmp")
                tmp.write_text(text)
                os.replace(tmp, path)
        except Exception as e:
            _error(dump_dir, f"pid {os.getpid()}: {type(e).__name__}: {e}")

    def note(w: Watched) -> None:
        with wake:
            changed.add(watched.index(w))
            wake.notify()

    def writer() -> None:
        while True:
            with wake:
                while not changed:
                    wake.wait()
                todo = sorted(changed)
                changed.clear()
            for n in todo:
                dump(n)

    threading.Thread(target=writer, name="fold-check-dumps", daemon=True).start()
    init = module.Run.__init__

    def watched_init(run: Any, *args: Any, **kwargs: Any) -> None:
        init(run, *args, **kwargs)
        if run.role == "agent":
            return
        try:
            w = Watched(run, f"pid {os.getpid()} ({' '.join(sys.argv[:3])})")
            with wake:
                watched.append(w)
            w.on_change = note
            note(w)
        except Exception as e:
            _error(dump_dir, f"pid {os.getpid()}: {type(e).__name__}: {e}")

    module.Run.__init__ = watched_init
    atexit.register(lambda: [dump(n) for n in range(len(watched))])


def _error(dump_dir: Path, line: str) -> None:
    with contextlib.suppress(OSError), open(dump_dir / "errors.txt", "a") as f:
        f.write(line.replace("\n", " ") + "\n")
