"""A run is a session: journal + runbook + state, guarded transitions, thread-safe.

Every change goes through `emit`: the transition rules are checked, the event
is committed to the journal, the state is folded forward, and only then are
listeners told. The headless runner and the TUI both drive a `Run`.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from runbook.execute.executor import ExecutionContext, Executor
from runbook.execute.itemlog import Listener
from runbook.execute.scope import render_params, scope_for
from runbook.execute.stepkind import CancelToken, StepKind, StepRegistry, StepResult
from runbook.format.model import Environment, Item, Runbook
from runbook.format.template import TemplateError, render
from runbook.journal.store import JournalStore, SessionMeta
from runbook.rules.events import Ev, Event
from runbook.rules.fold import apply, fold, interrupt
from runbook.rules.redact import MASK, Redactor
from runbook.rules.state import RunState
from runbook.rules.transitions import refusal
from runbook.rules.two_person import two_person_refusal
from runbook.session.detached_steps import DetachedSteps, SupervisorRefused, still_running
from runbook.session.operator import Operator
from runbook.session.pairing import Pairing
from runbook.session.pairing import Refused as Refused
from runbook.session.wheel import WheelKeeper

Subscriber = Callable[[Event, RunState], None]
# Says (guard, reason) while mutating items must not run (the deployment lock was lost).
MutationGuard = Callable[[], tuple[str, str] | None]




# what a follower (a terminal attached to watch) may journal
FOLLOWER_KINDS = frozenset({Ev.ITEM_COSIGNED, Ev.WHEEL_REQUESTED, Ev.WHEEL_PASSED,
                            Ev.FOLLOWER_JOINED, Ev.FOLLOWER_LEFT, Ev.NOTIFY_FAILED})


class Run(Pairing, DetachedSteps):
    def __init__(self, journal: JournalStore, meta: SessionMeta, runbook: Runbook,
                 variables: dict[str, str], registry: StepRegistry, operator: Operator,
                 redactor: Redactor, state: RunState, role: str = "driver") -> None:
        self.journal = journal
        self.role = role  # driver (holds the wheel), follower (attached) or agent (a step)
        self.detach = os.environ.get("RUNBOOK_DETACH", "1") != "0"
        self.wheel = WheelKeeper(journal, meta.id, operator.name)
        self.wheel.on_lost = self._lost_wheel
        self.on_role: list[Callable[[str], None]] = []
        self.meta = meta
        self.runbook = runbook
        self.env: Environment = runbook.environment(meta.env)
        self.variables = variables
        self.registry = registry
        self.operator = operator
        self.redactor = redactor
        self.state = state
        self.dir = Path(meta.dir)
        self._lock = threading.RLock()
        self._notify = threading.Lock()
        self._subscribers: list[Subscriber] = []
        self._texts: dict[tuple[str, str], str] = {}
        self._topics: list[Callable[[str, Any], None]] = []
        self.mutation_guards: list[MutationGuard] = []  # set by the deployment lock
        self.executor = Executor(registry, self, ExecutionContext(
            session_dir=self.dir, dry_run=meta.dry_run, env_name=self.env.name,
            namespace=self.env.namespace, kube_context=meta.kube_context, redactor=redactor,
            params_for=self._params_for, recall=self.recall, publish=self.publish,
            services=runbook.services,
        ))

    # -- creation ---------------------------------------------------------
    @classmethod
    def start(cls, journal: JournalStore, runbook: Runbook, env: str, variables: dict[str, str],
              registry: StepRegistry, operator: Operator, dry_run: bool,
              kube_context: str | None = None) -> Run:
        environment = runbook.environment(env)
        redactor = _redactor(runbook, variables)
        sid = time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + f"-{env}-{secrets.token_hex(2)}"
        sdir = journal.sessions_root / sid
        sdir.mkdir(parents=True, exist_ok=True)
        shown = {k: (MASK if runbook.variable(k) and runbook.variable(k).secret  # type: ignore[union-attr]
                     else redactor(v)) for k, v in variables.items()}
        meta = SessionMeta(
            id=sid, created=time.time(), runbook_path=str(Path(runbook.path).resolve()),
            runbook_title=runbook.title, runbook_hash=runbook.content_hash, env=env,
            dry_run=dry_run, operator=operator.user, host=operator.host, ssh=operator.ssh,
            kube_context=kube_context or environment.context, variables=shown, dir=str(sdir),
        )
        journal.create_session(meta)
        try:  # the runbook as it was, for the audit and to explain changes on resume
            (sdir / "runbook.yaml").write_bytes(Path(runbook.path).read_bytes())
        except OSError:
            pass
        from runbook.rules.state import initial
        run = cls(journal, meta, runbook, variables, registry, operator, redactor,
                  initial(runbook, env))
        run.wheel.take()
        run.emit(Ev.SESSION_STARTED, data={"dry_run": dry_run, "env": env,
                                           "runbook_hash": runbook.content_hash,
                                           "variables": shown})
        return run

    @classmethod
    def resume(cls, journal: JournalStore, meta: SessionMeta, runbook: Runbook,
               variables: dict[str, str], registry: StepRegistry, operator: Operator,
               take_over: str = "") -> Run:
        """Reopen a session to drive it. Refused while another terminal holds the wheel,
        unless `take_over` gives a reason and that terminal's lease has expired."""
        run = cls.open(journal, meta, runbook, variables, registry, operator)
        if not run.wheel.take():
            holder = run.wheel.describe_holder()
            raise Refused(f"session {meta.id}: {holder}; `runbook attach {meta.id}` to follow")
        run.emit(Ev.SESSION_RESUMED, data={"runbook_hash": runbook.content_hash,
                                           "hash_changed": runbook.content_hash
                                           != meta.runbook_hash, "reason": take_over})
        return run

    @classmethod
    def open(cls, journal: JournalStore, meta: SessionMeta, runbook: Runbook,
             variables: dict[str, str], registry: StepRegistry, operator: Operator,
             role: str = "driver") -> Run:
        """The session as journaled, without writing anything (resume, attach and the
        detached step build on it). Items whose detached step still runs stay running."""
        state = fold(runbook, meta.env, journal.iter_events(meta.id))
        run = cls(journal, meta, runbook, variables, registry, operator,
                  _redactor(runbook, variables), state, role)
        if role != "agent":
            run.state = still_running(run.state, run.dir)
        return run

    @classmethod
    def attach(cls, journal: JournalStore, meta: SessionMeta, runbook: Runbook,
               registry: StepRegistry, operator: Operator) -> Run:
        """Follow a session from another terminal: read-only, may co-sign and ask for the wheel."""
        run = cls.open(journal, meta, runbook, dict(meta.variables), registry, operator,
                       role="follower")
        run.emit(Ev.FOLLOWER_JOINED, data={"token": run.wheel.token})
        return run

    # -- the one way state changes ----------------------------------------
    def subscribe(self, fn: Subscriber) -> None:
        self._subscribers.append(fn)

    def emit(self, kind: Ev, item: str | None = None, data: dict[str, Any] | None = None,
             actor: str | None = None) -> Event:
        """Check the rules against the latest journaled state (others may have written since
        we last looked), commit the event, fold it in, then tell subscribers, in order."""
        who = actor or self.operator.name
        payload = self.redactor.data(data or {})
        with self._lock:
            base = self.state
            seen: list[RunState] = []

            def check(new: list[Event]) -> str | None:
                state = base
                for ev in new:
                    state = apply(self.runbook, state, ev)
                seen.append(state)
                return self._refusal(state, kind, item, payload, who)

            done = self.journal.append_checked(self.meta.id, base.last_seq, check, kind, item,
                                               who, payload)
            state = seen[-1] if seen else base
            if done.event is not None:
                state = apply(self.runbook, state, done.event)
            self.state = state
            news = [*done.new, *([done.event] if done.event else [])]
            self._notify.acquire()  # keeps subscribers' order when two threads emit
        try:
            for ev in news:
                for fn in list(self._subscribers):
                    fn(ev, state)
        finally:
            self._notify.release()
        if done.event is None:
            why = done.refused or "refused"
            raise Refused(f"{item}: {why}" if item else why)
        return done.event

    def sync(self) -> list[Event]:
        """Fold in events written by other processes (a detached step, a co-driver)."""
        with self._lock:
            news = list(self.journal.iter_events(self.meta.id, self.state.last_seq))
            state = self.state
            for ev in news:
                state = apply(self.runbook, state, ev)
            self.state = state
            self._notify.acquire()
        try:
            for ev in news:
                for fn in list(self._subscribers):
                    fn(ev, state)
        finally:
            self._notify.release()
        if news:
            self._receive_wheel(news)
        return news

    def _refusal(self, state: RunState, kind: Ev, item: str | None, data: dict[str, Any],
                 who: str) -> str | None:
        if self.role == "follower" and kind not in FOLLOWER_KINDS:
            return (f"{state.driver or self.meta.operator} is driving: you are following "
                    "(ask for the wheel to act)")
        why = refusal(self.runbook, state, kind, item, data, who)
        if why is None and item is not None:
            why = two_person_refusal(self.env, state, self.runbook.item(item), kind, who,
                                     self.meta.dry_run, state.driver or self.meta.operator)
        return why

    def check(self, kind: Ev, item: str | None = None, data: dict[str, Any] | None = None) -> \
            str | None:
        """Why `kind` would be refused now (as far as this process knows), or None."""
        with self._lock:
            return self._refusal(self.state, kind, item, data or {}, self.operator.name)

    # -- operator actions ---------------------------------------------------
    def confirm(self, item: str, note: str = "") -> Event:
        return self.emit(Ev.ITEM_CONFIRMED, item, {"note": note} if note else {})

    def skip(self, item: str, reason: str) -> Event:
        return self.emit(Ev.ITEM_SKIPPED, item, {"reason": reason})

    def override(self, item: str, reason: str) -> Event:
        return self.emit(Ev.ITEM_OVERRIDDEN, item, {"reason": reason})

    def choose(self, item: str, option: str) -> Event:
        return self.emit(Ev.ITEM_CHOSEN, item, {"option": option})

    def cosign(self, item: str, actor: str) -> Event:
        """A second operator approves an item under the two-person rule."""
        return self.emit(Ev.ITEM_COSIGNED, item, {}, actor=actor)

    def reconcile(self, item: str, resolution: str, reason: str = "") -> Event:
        return self.emit(Ev.ITEM_RECONCILED, item, {"resolution": resolution, "reason": reason})

    def advance(self) -> Event:
        return self.emit(Ev.PHASE_ENTERED, data={"index": self.state.phase + 1,
                                                 "phase": self.runbook.phases[
                                                     min(self.state.phase + 1,
                                                         len(self.runbook.phases) - 1)].id})

    def finish(self, outcome: str = "completed") -> Event:
        return self.emit(Ev.SESSION_FINISHED, data={"outcome": outcome})

    def execute(self, item_id: str, cancel: CancelToken | None = None,
                listener: Listener | None = None, detach: bool | None = None) -> StepResult:
        """Run an automated or wait item; this thread runs it, or watches the detached
        supervisor that runs it (long mutating steps). Raises Refused if not allowed now."""
        why = self.check(Ev.ITEM_STARTED, item_id)
        if why is not None:
            raise Refused(f"{item_id}: {why}")
        item = self.runbook.item(item_id)
        if item.mutating and not self.meta.dry_run:
            for guard in self.mutation_guards:
                held = guard()
                if held is not None:  # journaled, then refused: nothing is changed
                    self.emit(Ev.GUARD_WARNING, data={"guard": held[0], "reason": held[1],
                                                      "item": item_id})
                    raise Refused(f"{item_id}: {held[1]}")
        token = cancel or CancelToken()
        if self.detaches(item) if detach is None else detach:
            try:
                return self._execute_detached(item_id, token, listener)
            except SupervisorRefused as e:
                raise Refused(str(e)) from None
        return self.executor.execute(item, token, listener)

    def interrupted(self, item_id: str) -> None:
        """A detached step died without a result: the fold's interrupted pass for that item,
        so this process shows it exactly as a fresh fold of the journal (a resume) does."""
        with self._lock:
            self.state = interrupt(self.state, (item_id,))

    def describe(self, item: Item) -> str:
        return self.executor.describe(item)

    def probe(self, item: Item) -> str:
        """What the step kind can tell of the live state (for reconciling an interrupted item)."""
        return self.executor.probe(item)

    def text(self, item: Item, which: str = "title") -> str:
        """The item's title or help with variables filled in (secrets masked)."""
        raw: str = getattr(item, which)
        if "${" not in raw:
            return raw
        key = (item.id, which)
        if key not in self._texts:
            scope = scope_for(self.runbook, self.env, self.variables, self.meta.id,
                              str(self.dir), self.operator.name, item)
            try:
                self._texts[key] = self.redactor(render(raw, scope, keep=("service.",)))
            except TemplateError:
                self._texts[key] = raw
        return self._texts[key]

    def on_publish(self, fn: Callable[[str, Any], None]) -> None:
        """Live data from steps (e.g. health results) for whoever shows it."""
        self._topics.append(fn)

    def publish(self, topic: str, data: Any) -> None:
        for fn in list(self._topics):
            fn(topic, data)

    def recall(self, key: str, where: Mapping[str, Any] | None = None) -> Any:
        """The newest fact `key` recorded by any session of this environment (with `where`:
        recorded beside facts of those values, e.g. on this cluster and namespace)."""
        return self.journal.latest_fact(self.meta.env, key, where)

    # -- helpers -------------------------------------------------------------
    def _params_for(self, item: Item, step: StepKind) -> dict[str, Any]:
        scope = scope_for(self.runbook, self.env, self.variables, self.meta.id, str(self.dir),
                          self.operator.name, item)
        return render_params(step, item, scope)

    def close(self) -> None:
        """Leave the session: a driver releases the wheel, a follower says goodbye."""
        if self.role == "driver":
            self.wheel.release()
        elif self.role == "follower":
            try:
                self.emit(Ev.FOLLOWER_LEFT, data={"token": self.wheel.token})
            except Exception:  # leaving must never fail
                pass


def _redactor(runbook: Runbook, variables: dict[str, str]) -> Redactor:
    """Masks the values of the runbook's secret variables (and URL passwords)."""
    return Redactor(variables[v.name] for v in runbook.variables
                    if v.secret and v.name in variables)
