"""A run is a session: journal + runbook + state, guarded transitions, thread-safe.

Every change goes through `emit`: the transition rules are checked, the event
is committed to the journal, the state is folded forward, and only then are
listeners told. The headless runner and the TUI both drive a `Run`.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runbook.events import Ev, Event
from runbook.executor import ExecutionContext, Executor
from runbook.guards import two_person_refusal
from runbook.itemlog import Listener
from runbook.journal import Journal, SessionMeta
from runbook.model import Environment, Item, Runbook
from runbook.operator import Operator
from runbook.redact import MASK, Redactor
from runbook.scope import render_params, scope_for
from runbook.state import RunState, apply, fold, refusal
from runbook.stepkind import CancelToken, StepKind, StepRegistry, StepResult
from runbook.template import TemplateError, render

Subscriber = Callable[[Event, RunState], None]


class Refused(Exception):
    """A transition the rules do not allow; the message says why."""


class Run:
    def __init__(self, journal: Journal, meta: SessionMeta, runbook: Runbook,
                 variables: dict[str, str], registry: StepRegistry, operator: Operator,
                 redactor: Redactor, state: RunState) -> None:
        self.journal = journal
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
        self._subscribers: list[Subscriber] = []
        self._texts: dict[tuple[str, str], str] = {}
        self._topics: list[Callable[[str, Any], None]] = []
        self.executor = Executor(registry, self, ExecutionContext(
            session_dir=self.dir, dry_run=meta.dry_run, env_name=self.env.name,
            namespace=self.env.namespace, kube_context=meta.kube_context, redactor=redactor,
            params_for=self._params_for, recall=self.recall, publish=self.publish,
            services=runbook.services,
        ))

    # -- creation ---------------------------------------------------------
    @classmethod
    def start(cls, journal: Journal, runbook: Runbook, env: str, variables: dict[str, str],
              registry: StepRegistry, operator: Operator, dry_run: bool,
              kube_context: str | None = None) -> Run:
        environment = runbook.environment(env)
        redactor = _redactor(runbook, variables)
        sid = time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + f"-{env}-{secrets.token_hex(2)}"
        sdir = journal.path.parent / "sessions" / sid
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
        from runbook.state import initial
        run = cls(journal, meta, runbook, variables, registry, operator, redactor,
                  initial(runbook, env))
        run.emit(Ev.SESSION_STARTED, data={"dry_run": dry_run, "env": env,
                                           "runbook_hash": runbook.content_hash,
                                           "variables": shown})
        return run

    @classmethod
    def resume(cls, journal: Journal, meta: SessionMeta, runbook: Runbook,
               variables: dict[str, str], registry: StepRegistry, operator: Operator) -> Run:
        state = fold(runbook, meta.env, journal.iter_events(meta.id))
        run = cls(journal, meta, runbook, variables, registry, operator,
                  _redactor(runbook, variables), state)
        run.emit(Ev.SESSION_RESUMED, data={"runbook_hash": runbook.content_hash,
                                           "hash_changed": runbook.content_hash
                                           != meta.runbook_hash})
        return run

    # -- the one way state changes ----------------------------------------
    def subscribe(self, fn: Subscriber) -> None:
        self._subscribers.append(fn)

    def emit(self, kind: Ev, item: str | None = None, data: dict[str, Any] | None = None,
             actor: str | None = None) -> Event:
        who = actor or self.operator.name
        payload = self.redactor.data(data or {})
        with self._lock:
            why = refusal(self.runbook, self.state, kind, item, payload, who)
            if why is None and item is not None:
                why = two_person_refusal(self.env, self.state, self.runbook.item(item), kind, who,
                                         self.meta.dry_run, self.meta.operator)
            if why is not None:
                raise Refused(f"{item}: {why}" if item else why)
            ev = self.journal.append(self.meta.id, kind, item, who, payload)
            self.state = apply(self.runbook, self.state, ev)
            state = self.state
        for fn in list(self._subscribers):
            fn(ev, state)
        return ev

    def check(self, kind: Ev, item: str | None = None, data: dict[str, Any] | None = None) -> \
            str | None:
        """Why `kind` would be refused now, or None."""
        with self._lock:
            why = refusal(self.runbook, self.state, kind, item, data or {}, self.operator.name)
            if why is None and item is not None:
                why = two_person_refusal(self.env, self.state, self.runbook.item(item), kind,
                                         self.operator.name, self.meta.dry_run,
                                         self.meta.operator)
            return why

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
                listener: Listener | None = None) -> StepResult:
        """Run an automated or wait item on this thread. Raises Refused if not allowed now."""
        why = self.check(Ev.ITEM_STARTED, item_id)
        if why is not None:
            raise Refused(f"{item_id}: {why}")
        return self.executor.execute(self.runbook.item(item_id), cancel or CancelToken(), listener)

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

    def recall(self, key: str) -> Any:
        """The newest fact `key` recorded by any session of this environment."""
        return self.journal.latest_fact(self.meta.env, key)

    # -- helpers -------------------------------------------------------------
    def _params_for(self, item: Item, step: StepKind) -> dict[str, Any]:
        scope = scope_for(self.runbook, self.env, self.variables, self.meta.id, str(self.dir),
                          self.operator.name, item)
        return render_params(step, item, scope)

    @property
    def first_mutation_done(self) -> bool:
        return any(st.mutating_run or (st.attempts and self.runbook.item(i).mutating)
                   for i, st in self.state.items.items())

    def close(self) -> None:
        pass


def _redactor(runbook: Runbook, variables: dict[str, str]) -> Redactor:
    """Masks the values of the runbook's secret variables (and URL passwords)."""
    return Redactor(variables[v.name] for v in runbook.variables
                    if v.secret and v.name in variables)
