"""The operator's actions on a run: run, confirm, cancel, skip, override, phase, quit.

Each action goes through the engine (`Run`), which journals it or refuses it
with a reason; a refusal is shown, never swallowed. Before an action, the engine's
pre-flight guards (`Preflight.due`: window, typed name, window budget, notice) say
what to ask; this screen asks it in a modal and hands the answer back. Automated
items run in thread workers, several at once; each has its own cancel token.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from textual import work
from textual.screen import Screen
from textual.widgets import TabbedContent

from runbook.execute.stepkind import CancelToken
from runbook.format.model import Item, ItemKind, Section
from runbook.rules.events import Ev
from runbook.rules.preflight import Action, Guard, Question
from runbook.rules.state import Status
from runbook.session.detached_steps import LEAVE
from runbook.session.preflight import Preflight
from runbook.session.run import Refused, Run
from screens.modals.choice_modal import ChoiceModal
from screens.modals.quit_modal import QuitModal
from screens.modals.reason_modal import ReasonModal
from screens.modals.reconcile_modal import ReconcileModal
from screens.modals.search_modal import SearchModal
from screens.modals.typed_env_modal import TypedEnvModal
from screens.run.bridge import Bridge
from screens.widgets.item_list import ItemList


class RunActions(Screen[None]):
    """The base of RunScreen: its actions. RunScreen supplies the widgets."""

    run: Run
    item: Item | None
    section: Section
    bridge: Bridge

    def _show_section(self, section: Section, from_tree: bool = False) -> None:
        raise NotImplementedError

    def select_item(self, item_id: str) -> None:
        raise NotImplementedError

    @property
    def current_item(self) -> Item | None:
        """The item under the cursor now (not the last highlighted message's)."""
        current = self.query_one(ItemList).current
        return self.run.runbook.item(current) if current else None

    def _init_actions(self) -> None:
        self.tokens: dict[str, CancelToken] = {}
        self.threads: dict[str, threading.Thread] = {}
        self.preflight = Preflight(self.run)

    # -- the engine's pre-flight questions ------------------------------------------
    def _guarded(self, action: Action, item: Item | None, go: Callable[[str], Any]) -> None:
        """Do `go(note)` once the questions due before `action` are answered (at once when
        there are none)."""
        questions = self.preflight.due(action, item, time.time())
        if not questions:
            go("")
            return
        self._ask_then(questions, item, go)

    @work(group="guards")
    async def _ask_then(self, questions: list[Question], item: Item | None,
                        go: Callable[[str], Any]) -> None:
        note = await self._ask(questions, item)
        if note is not None:
            go(note)

    async def _ask(self, questions: list[Question], item: Item | None) -> str | None:
        """Ask each question in a modal, hand the answer back; the confirmation's note ("" if
        none), or None when the operator cancelled."""
        note = ""
        for q in questions:
            if q.warning:
                self.notify(q.title, title="⚠ Window", severity="warning", timeout=10)
                self.preflight.answer(q)
                continue
            if q.guard is Guard.TYPED_ENV:
                what = self.run.describe(item) if item is not None else ""
                answer = await self.app.push_screen_wait(TypedEnvModal(q, what))
            elif q.guard is Guard.NOTICE and item is not None:
                title = f"Confirm {self.run.text(item)}" + (f"\n{q.title}" if q.title else "")
                answer = await self.app.push_screen_wait(ReasonModal(
                    title, f"{q.prompt[0].upper()}{q.prompt[1:]} (journaled):"))
            else:
                answer = await self.app.push_screen_wait(ReasonModal(q.title, q.prompt))
            try:
                if not self.preflight.answer(q, answer):
                    return None
            except Refused as e:  # e.g. the session was finished meanwhile
                self.notify(str(e), title="Refused", severity="error")
                return None
            if q.guard is Guard.NOTICE:
                note = (answer or "").strip()
        return note

    # -- items -----------------------------------------------------------------------
    def action_run_item(self) -> None:
        item = self.current_item
        if item is None:
            return
        if item.kind is ItemKind.CHOICE:
            self._choose(item)
            return
        if item.kind in (ItemKind.CONFIRM, ItemKind.NOTE):
            self.notify("a person checks this one: press c to confirm it", severity="warning")
            return
        if self.run.state.items[item.id].status is Status.NEEDS_RECONCILE:
            self._reconcile(item)
            return
        self._guarded_start(item)

    @work(group="reconcile")
    async def _reconcile(self, item: Item) -> None:
        if await self._ask(self.preflight.due(Action.ACT, item, time.time()), item) is None:
            return
        st = self.run.state.items[item.id]
        known = ", ".join(f"{k}={v}" for k, v in st.facts.items()) or "nothing beyond the intent"
        known = f"started by {st.actor}; {known}"
        self.notify("checking the live state…", timeout=2)
        worker = self.run_worker(lambda: self.run.probe(item), thread=True, group="probe")
        probe = await worker.wait()
        answer = await self.app.push_screen_wait(ReconcileModal(self.run.text(item), known,
                                                                str(probe)))
        if answer is None:
            return
        try:
            self.run.reconcile(item.id, answer[0], answer[1])
        except Refused as e:
            self.notify(str(e), severity="error")

    @work(group="guards")
    async def _guarded_start(self, item: Item) -> None:
        run = self.run
        why = run.check(Ev.ITEM_STARTED, item.id)
        if why:
            self.notify(why, title=f"Cannot run {item.id}", severity="error")
            return
        if await self._ask(self.preflight.due(Action.START, item, time.time()), item) is None:
            return
        self.start_item(item.id)

    def start_item(self, item_id: str, reattach: bool = False) -> None:
        """Start a thread worker for the item (no guards: callers check them); with
        `reattach`, watch the detached step an earlier terminal started instead."""
        if item_id in self.threads and self.threads[item_id].is_alive():
            self.notify(f"{item_id} is already running", severity="warning")
            return
        token = CancelToken()
        # a thread of its own per item: long steps must not hold the shared worker pool
        thread = threading.Thread(target=self._execute, args=(item_id, token, reattach),
                                  name=f"item-{item_id}", daemon=True)
        self.tokens[item_id] = token
        self.threads[item_id] = thread
        thread.start()
        current = self.current_item
        if current is not None and current.id == item_id:
            self.query_one(TabbedContent).active = "tab-log"

    def _execute(self, item_id: str, token: CancelToken, reattach: bool = False) -> None:
        try:
            if reattach:
                self.run.reattach(item_id, token, self.bridge.output)
            else:
                self.run.execute(item_id, token, self.bridge.output)
        except Refused as e:
            self.app.call_from_thread(self.notify, str(e), title="Refused", severity="error")
        except Exception as e:  # never lose a worker silently
            self.app.call_from_thread(self.notify, f"{type(e).__name__}: {e}",
                                      title=f"{item_id} crashed", severity="error")
        finally:
            self.tokens.pop(item_id, None)
            self.threads.pop(item_id, None)

    def action_confirm_item(self) -> None:
        item = self.current_item
        if item is None:
            return
        if item.kind is ItemKind.CHOICE:
            self._choose(item)
            return
        if item.automated or item.kind is ItemKind.WAIT:
            self.notify("automated: press r to run it (or o to override with a reason)",
                        severity="warning")
            return
        asks = self.run.state.items[item.id].note_required
        # e.g. the advance notice: refused without a note, so the check is made with one
        why = self.run.check(Ev.ITEM_CONFIRMED, item.id, {"note": "x"} if asks else None)
        if why:
            self.notify(why, title="Cannot confirm", severity="error")
            return
        self._guarded(Action.CONFIRM, item, lambda note: self._confirm(item, note))

    def _confirm(self, item: Item, note: str = "") -> None:
        try:
            self.run.confirm(item.id, note)
        except Refused as e:
            self.notify(str(e), title="Cannot confirm", severity="error")
            return
        self._advance_cursor()

    def _choose(self, item: Item) -> None:
        why = self.run.check(Ev.ITEM_CHOSEN, item.id, {"option": item.options[0].id})
        if why:
            self.notify(why, title="Cannot choose", severity="error")
            return

        def chosen(option: str | None) -> None:
            if option:
                try:
                    self.run.choose(item.id, option)
                except Refused as e:
                    self.notify(str(e), severity="error")

        self._guarded(Action.ACT, item, lambda _: self.app.push_screen(ChoiceModal(item),
                                                                       chosen))

    def action_cancel_item(self) -> None:
        item = self.current_item
        token = self.tokens.get(item.id) if item else None
        if item is None or token is None:
            self.notify("nothing running here to cancel", severity="warning")
            return
        token.cancel("cancelled by operator")
        self.notify(f"cancelling {item.id}…")

    def action_skip_item(self) -> None:
        self._with_reason("skip", "Skip {title}")

    def action_override_item(self) -> None:
        self._with_reason("override", "Override {title}: it will count as done")

    def _with_reason(self, what: str, title: str) -> None:
        item = self.current_item
        if item is None:
            return
        kind = Ev.ITEM_SKIPPED if what == "skip" else Ev.ITEM_OVERRIDDEN
        why = self.run.check(kind, item.id, {"reason": "x"})
        if why:
            self.notify(why, title=f"Cannot {what}", severity="error")
            return

        def done(reason: str | None) -> None:
            if reason:
                try:
                    (self.run.skip if what == "skip" else self.run.override)(item.id, reason)
                except Refused as e:
                    self.notify(str(e), severity="error")

        self._guarded(Action.ACT, item, lambda _: self.app.push_screen(
            ReasonModal(title.format(title=item.title)), done))

    def action_run_section_checks(self) -> None:
        self._guarded(Action.ACT, None, lambda _: self._start_checks())

    def _start_checks(self) -> None:
        started = 0
        for it in self.query_one(ItemList).items:
            if it.kind is ItemKind.CHECK and self.run.check(Ev.ITEM_STARTED, it.id) is None:
                self.start_item(it.id)
                started += 1
        self.notify(f"started {started} check(s)" if started else "no checks to run here")

    # -- phases and navigation -----------------------------------------------------
    def action_next_phase(self) -> None:
        rb = self.run.runbook
        if self.run.state.phase + 1 >= len(rb.phases):
            self._finish_run()
            return
        try:
            self.run.advance()
        except Refused as e:
            self.notify(str(e).replace("; ", "\n"), title="Next phase refused", severity="error",
                        timeout=10)
            return
        self._show_section(rb.phases[self.run.state.phase].sections[0])

    def _finish_run(self) -> None:
        from runbook.rules.gates import blocking
        blockers = blocking(self.run.runbook, self.run.state, self.run.state.phase)
        if blockers:
            self.notify("\n".join(str(b) for b in blockers), title="Cannot finish yet",
                        severity="error", timeout=10)
            return
        if not self.run.state.finished:
            self.run.finish("completed")
        self.notify(f"session {self.run.meta.id} completed", title="Done")

    def action_next_section(self) -> None:
        self._step_section(1)

    def action_prev_section(self) -> None:
        self._step_section(-1)

    def _step_section(self, delta: int) -> None:
        sections = [s for p in self.run.runbook.phases for s in p.sections]
        n = sections.index(self.section) + delta
        if 0 <= n < len(sections):
            self._show_section(sections[n])

    def _advance_cursor(self) -> None:
        items = self.query_one(ItemList)
        if items.cursor_row + 1 < items.row_count:
            items.move_cursor(row=items.cursor_row + 1)

    def action_search(self) -> None:
        def found(item_id: str | None) -> None:
            if item_id:
                self.select_item(item_id)

        self.app.push_screen(SearchModal(self.run.runbook), found)

    def action_toggle_nav(self) -> None:
        self.toggle_class("-nav-hidden")

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def action_help(self) -> None:
        self.app.action_show_help_panel()

    # -- quitting -----------------------------------------------------------------
    def action_quit_run(self) -> None:
        running = [i for i, t in list(self.threads.items()) if t.is_alive()]  # this terminal's
        if not running:
            self.app.exit()
            return

        detached = [i for i in running if i in self.run.running_detached()]

        def answer(choice: str | None) -> None:
            if choice:
                self.stop_all_and_exit(leave=choice == "leave")

        self.app.push_screen(QuitModal(running, detached), answer)

    def stop_all_and_exit(self, leave: bool = False) -> None:
        """Cancel what runs (or, with `leave`, walk away from the detached steps, which go
        on and journal their results), wait for the threads, exit."""
        detached = set(self.run.running_detached()) if leave else set()
        for item_id, token in list(self.tokens.items()):
            token.cancel(LEAVE if item_id in detached else "operator quit")
        threading.Thread(target=self._join_then_exit, name="quit", daemon=True).start()

    def _join_then_exit(self) -> None:
        for t in list(self.threads.values()):
            t.join(timeout=60)
        self.app.call_from_thread(self.app.exit)
