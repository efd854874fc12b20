"""One session's lifetime, the same for every front-end: `run`, `resume`, `attach`,
`rehearse` and the TUI all open and close a session through `Lifecycle`.

Opening a session to drive it takes the deployment lock first (a second run is refused
before anything is journaled), then opens the run (which takes the wheel), journals the
lock, and attaches the notifier. A follower (`attach`) takes no lock and gets no notifier:
it sees the driver's events, and posting them too would post every message twice. Should
the follower take the wheel (a handover, a takeover), it gets a notifier then.

Leaving closes in this order, each step even if an earlier one failed:
1. the notifier is flushed and closed: every message, "finished" the last, is delivered
   while this terminal still drives (so a failed delivery can still be journaled);
2. the run is left: a driver releases the wheel, a follower journals that it left;
3. the deployment lock is released: the next run may begin;
4. the journal is closed, when this lifecycle was handed it to own.

The lock (a Kubernetes Lease) and the notifier (a webhook) are step-kind code, which the
engine does not import: the composition root (`runbook.cli.common.session_services`)
hands them in as `SessionServices`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

from runbook.format.model import Environment, Runbook
from runbook.journal.store import JournalStore
from runbook.rules.events import Ev
from runbook.session.run import Run


class LockRefused(Exception):
    """The deployment lock cannot be taken: the message says who holds it, or why."""


class HeldLock(Protocol):
    """A deployment lock held for the session, renewed by its own thread."""

    previous: str  # the holder it was taken from (expired, or broken with a reason), or ""

    def describe(self) -> str:
        """What is held, for the journal: e.g. `lease ns/runbook-deploy-production`."""
        ...

    def release(self) -> None: ...


class Closable(Protocol):
    def close(self) -> None: ...


# (runbook path, environment, operator, kube context, dry run, break reason) -> the lock,
# or None when none applies; raises LockRefused
TakeLock = Callable[[str, Environment, str, str, bool, str], HeldLock | None]
# the session's notifier, subscribed to the run's events, or None without a webhook
AttachNotifier = Callable[[Run], Closable | None]


@dataclass(frozen=True, slots=True)
class SessionServices:
    """What the composition root plugs in; without it, a session takes no lock and posts
    nothing (tests, benchmarks)."""

    take_lock: TakeLock | None = None
    notifier: AttachNotifier | None = None


NO_SERVICES = SessionServices()


class Lifecycle:
    def __init__(self, journal: JournalStore, services: SessionServices = NO_SERVICES, *,
                 owns_journal: bool = False) -> None:
        self.journal = journal
        self.services = services
        self.owns_journal = owns_journal
        self.run: Run | None = None
        self.lock: HeldLock | None = None
        self.notifier: Closable | None = None
        self._closed = False

    def drive(self, open_run: Callable[[], Run], runbook: Runbook, env: str, operator: str,
              kube_context: str | None, dry_run: bool, break_reason: str = "") -> Run:
        """Take the lock, open the run with `open_run` (`Run.start`, `Run.resume`), journal
        the lock, attach the notifier. Raises LockRefused (nothing journaled), or whatever
        `open_run` raises (the lock released)."""
        environment = runbook.environment(env)
        if self.services.take_lock is not None:
            self.lock = self.services.take_lock(runbook.path, environment, operator,
                                                kube_context or environment.context, dry_run,
                                                break_reason)
        try:
            run = open_run()
            self.run = run
            journal_lock(run, self.lock, break_reason)
        except BaseException:
            self.close()
            raise
        return self._keep(run)

    def adopt(self, run: Run) -> Run:
        """A run opened without a lock: a follower (`Run.attach`), or a session handed in
        already open. It gets a notifier only while it drives."""
        self.run = run
        return self._keep(run)

    def close(self) -> None:
        """Leave the session (in the order of the module docstring); twice is harmless."""
        if self._closed:
            return
        self._closed = True
        steps: list[Callable[[], None]] = []
        if self.notifier is not None:
            steps.append(self.notifier.close)
        if self.run is not None:
            steps.append(self.run.close)
        if self.lock is not None:
            steps.append(self.lock.release)
        if self.owns_journal:
            steps.append(self.journal.close)
        _each(steps)

    def __enter__(self) -> Lifecycle:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _keep(self, run: Run) -> Run:
        if run.driving:
            self._attach_notifier(run)
        run.on_role.append(lambda role: self._attach_notifier(run) if role == "driver"
                           else None)
        return run

    def _attach_notifier(self, run: Run) -> None:
        if self.notifier is None and self.services.notifier is not None and not self._closed:
            self.notifier = self.services.notifier(run)


def journal_lock(run: Run, lock: HeldLock | None, break_reason: str) -> None:
    """Journal the lock the run holds, and whom it was taken from."""
    if lock is None:
        return
    guard = getattr(lock, "guard", None)  # while the lock is lost, mutating items are refused
    if guard is not None and guard not in run.mutation_guards:
        run.mutation_guards.append(guard)
    run.emit(Ev.GUARD_CONFIRMED, data={"guard": "lock", "reason": f"holding {lock.describe()}"})
    if lock.previous:
        why = break_reason or "the previous holder's lease had expired"
        run.emit(Ev.GUARD_OVERRIDE, data={"guard": "lock-break", "reason":
                                          f"took the lock from {lock.previous}: {why}"})


def _each(steps: list[Callable[[], None]]) -> None:
    """Run every step; re-raise the first failure once all have run."""
    first: BaseException | None = None
    for step in steps:
        try:
            step()
        except BaseException as e:  # the rest must still be closed
            first = first or e
    if first is not None:
        raise first
