"""The lifetime of a rehearsal world: whatever ends the rehearsal, the world goes with it.

`runbook rehearse` runs inside `with WorldLifetime() as life:`. From then on SIGHUP (the
terminal closed), SIGTERM and SIGINT stop the rehearsal at any moment (starting the world,
the setup form, the run, the quit dialog, the rollback question, between runbooks) and
`__exit__` stops everything the world started: the detached step supervisors and step
commands started from it (told why: they cancel their step and journal it), PostgreSQL,
Redis, the emulator and stand-in servers, every folder; then the marker goes (see
runbook.sandbox.marker) and one line says what happened; exit status 128 + the signal.

Where the signal lands decides how it stops the rehearsal:
- until the world is started: deferred to the next step boundary (`Sandbox.progress`), so
  no server is left half-started (their commands run in sessions of their own, out of
  reach of the terminal's signals) and no folder unknown;
- a Textual app on screen: the app registered itself (`when_stopping`), so the signal asks
  it, on its event loop, to cancel what runs and exit; the rehearsal then stops at
  `check()`. Nothing is ever raised into a running event loop. A hung-up terminal is
  swapped for /dev/null first (runbook.sandbox.terminal), and should the app still not
  exit, a watchdog thread stops the world after WATCHDOG_SECONDS and leaves;
- stopping already (the world's own stop code is on the stack): only noted;
- anywhere else (a prompt, between runbooks, a headless run): `Stopped` is raised there.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

from runbook.sandbox import marker
from runbook.sandbox.procs import TAG_VAR, Proc
from runbook.sandbox.terminal import JOB_SIGNALS, guard_job_control, leave_dead_terminal

if TYPE_CHECKING:
    from runbook.sandbox.world import Sandbox

STOP_SIGNALS = (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)
WATCHDOG_SECONDS = 150.0  # an app asked to exit that has not within this: stop from a thread
_active: WorldLifetime | None = None


class Stopped(KeyboardInterrupt):
    """A stop signal, raised into the rehearsal's main thread (a KeyboardInterrupt, so that
    asyncio and `except Exception` let it through to the world's `__exit__`)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@dataclass(frozen=True)
class _Hook:
    loop: asyncio.AbstractEventLoop
    call: Callable[[str], object]
    running: Callable[[], bool]

    def fire(self, reason: str) -> bool:
        if self.loop.is_closed() or not self.running():
            return False
        self.loop.call_soon_threadsafe(self.call, reason)  # safe from a signal handler
        return True


def when_stopping(call: Callable[[str], object], running: Callable[[], bool]) -> None:
    """For an app on an event loop (call it from that loop, e.g. in on_mount): while
    `running()`, a stop signal runs `call(reason)` on the loop. Nothing outside a rehearsal."""
    life = _active
    if life is None:
        return
    hook = _Hook(asyncio.get_running_loop(), call, running)
    life.hooks = [h for h in life.hooks if not h.loop.is_closed() and h.running()] + [hook]
    if threading.current_thread() is threading.main_thread():
        guard_job_control(lambda: life.signum is not None)  # the app's driver's handlers
    if life.signum is not None and not life.raised and hook.fire(life.reason()):
        life.asked_app()  # the signal came while the app was starting


class WorldLifetime:
    def __init__(self) -> None:
        self.tag = uuid.uuid4().hex
        self.sandbox: Sandbox | None = None
        self.marker: marker.Marker | None = None
        self.signum: int | None = None  # the first stop signal
        self.raised = False  # Stopped has been raised for it
        self.hooks: list[_Hook] = []
        self.exit_code = 0
        self.summary = ""
        self.cancelled: list[Proc] = []  # the step processes the stop ended
        self._deferring = False
        self._stopped = False
        self._stop_lock = threading.Lock()
        self._stopping = threading.Event()
        self._previous: dict[int, Any] = {}

    # -- entering: handlers, then the world ----------------------------------------------
    def __enter__(self) -> WorldLifetime:
        global _active
        if threading.current_thread() is threading.main_thread():
            for sig in JOB_SIGNALS:
                self._previous[sig] = signal.getsignal(sig)
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._on_signal)
        _active = self
        self._deferring = True  # until the world is started (`start`)
        return self

    def start(self, sandbox: Sandbox) -> Sandbox:
        """Start `sandbox` with a marker kept up to date; a stop signal meanwhile stops it at
        the next step boundary."""
        self.sandbox = sandbox
        sandbox.env[TAG_VAR] = self.tag
        self.marker = marker.new_marker(self.tag)
        sandbox.progress = self._progress
        try:
            self._progress()  # the marker names the world's folder; a signal so far stops here
            sandbox.start()
        finally:
            self._deferring = False
        self._progress()
        return sandbox

    def _progress(self) -> None:
        self._sync()
        self.check()

    def _sync(self) -> None:
        """Rewrite the marker with what the world has started so far."""
        m, sandbox = self.marker, self.sandbox
        if m is None or sandbox is None:
            return
        m.folders, m.processes = sandbox.folders(), sandbox.processes()
        try:
            m.write()
        except OSError as e:
            note = f"no marker for this rehearsal world ({e}): a kill -9 would leave it behind"
            if note not in sandbox.notes:
                sandbox.notes.append(note)

    # -- signals -----------------------------------------------------------------------------
    def reason(self) -> str:
        name = signal.Signals(self.signum).name if self.signum else "a signal"
        return f"the rehearsal was stopped by {name}"

    def check(self) -> None:
        """Raise Stopped here if a stop signal came and was not raised yet. Called after each
        app too: puts back the job-control handlers the app's driver left."""
        self._calm()
        if self.signum is not None and not self.raised:
            self.raised = True
            raise Stopped(self.signum)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            return  # the first one is being acted on
        self.signum = signum
        leave_dead_terminal()  # a hang-up: writes to it would fail, and block Textual's exit
        self._calm()  # no app may start its terminal mode again now (SIGCONT comes with SIGHUP)
        if any(h.fire(self.reason()) for h in self.hooks):
            self.asked_app()
            return
        try:
            asyncio.get_running_loop()
            return  # an app is starting on this loop: it sees the signal in when_stopping
        except RuntimeError:
            pass
        if self._deferring or self._stopped or _in_stop(frame):
            return
        self.raised = True
        raise Stopped(signum)

    def _calm(self) -> None:
        """Put back the job-control handlers of before the apps (a Textual driver leaves its
        own after the app exits: a SIGCONT would then start its terminal mode again)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in JOB_SIGNALS:
            if sig in self._previous and signal.getsignal(sig) is not self._previous[sig]:
                signal.signal(sig, self._previous[sig])

    def asked_app(self) -> None:
        threading.Thread(target=self._watchdog, name="rehearsal-watchdog", daemon=True).start()

    def _watchdog(self) -> None:
        """The app was asked to exit: if it has not let the world stop in time (stuck on a
        dead terminal), stop the world from this thread and leave."""
        if self._stopping.wait(WATCHDOG_SECONDS):
            return
        self.stop()
        _say(f"runbook: {self.reason()}, the app did not exit; {self.summary}")
        os._exit(128 + (self.signum or signal.SIGTERM))

    def _restore(self) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)

    # -- stopping ------------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop everything of the world (once; a signal meanwhile is only noted)."""
        self._stopping.set()
        with self._stop_lock:  # a second caller waits for the world to be stopped
            if self._stopped:
                return
            self._stopped = True
            self._calm()
            self._stop()

    def _stop(self) -> None:
        folders = self.sandbox.folders() if self.sandbox is not None else []
        existing = [f for f in folders if f.exists()]
        m = self.marker
        servers: list[Proc] = [p for p in (m.processes if m else []) if p.alive()]
        supervisors = marker.stop_tagged(self.tag, self.reason() if self.signum
                                         else "the rehearsal ended")
        if self.sandbox is not None:
            self.sandbox.stop()
        left = marker.stop_servers(folders, servers)
        marker.remove_folders(folders)
        if m is not None:
            m.remove()
        self.cancelled = supervisors
        stopped = supervisors + servers + [p for p in left if p not in servers]
        parts = [", ".join(p.label() for p in stopped)] if stopped else []
        if self.sandbox is not None and getattr(self.sandbox, "kube", None) is not None:
            parts.append("the Kubernetes emulator and the stand-in servers")
        self.summary = "; ".join(
            [f"stopped its world: {', '.join(parts) or 'nothing had started'}"]
            + ([f"removed {', '.join(str(f) for f in existing)}"] if existing else []))

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        global _active
        try:
            self.stop()
        finally:
            self._restore()
            _active = None
        if self.signum is None:
            if self.sandbox is not None:  # detached steps end with their world, and say so
                ended = ", ".join(p.label() for p in self.cancelled)
                _say("rehearsal world stopped" + (f"; steps ended with it: {ended}" if ended else ""))
            return False
        self.exit_code = 128 + self.signum
        # the signal is why this rehearsal ends, whatever it raised on its way (Stopped, an
        # EOFError at a hung-up prompt, an OSError writing to it): one line, no traceback
        _say(f"runbook: {signal.Signals(self.signum).name}: rehearsal stopped; {self.summary}")
        return True


def _in_stop(frame: FrameType | None) -> bool:
    """Is the world's own stop code on the stack (where an exception would cut it short)?"""
    from runbook.sandbox.world import Sandbox
    codes = {WorldLifetime.stop.__code__, WorldLifetime._stop.__code__,
             WorldLifetime.__exit__.__code__, Sandbox.stop.__code__}
    while frame is not None:
        if frame.f_code in codes:
            return True
        frame = frame.f_back
    return False


def _say(line: str) -> None:
    try:
        print(line, file=sys.stderr, flush=True)
    except (OSError, ValueError):  # the terminal is gone
        pass
