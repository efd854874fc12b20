"""The headless runner: a plain, line-oriented mode for scripts and rehearsals.

It runs automated items, asks for confirmations on the terminal, and refuses
to go on when a person is needed and there is no terminal. The pre-flight guards
(window, typed name, window budget, notice) are the engine's (`Preflight`): this
runner only asks what they return, when they return it.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TextIO

from runbook.execute.stepkind import CancelToken, Outcome
from runbook.format.durations import format_duration, format_range
from runbook.format.model import Item, ItemKind
from runbook.rules.events import Ev
from runbook.rules.gates import blocking
from runbook.rules.preflight import Action, Guard, Question
from runbook.rules.state import Status
from runbook.rules.window import window_status
from runbook.session.preflight import Preflight
from runbook.session.run import Refused, Run

Ask = Callable[[str], str]

EXIT_OK, EXIT_FAILED, EXIT_NO_TTY, EXIT_ABORTED = 0, 1, 3, 4


class Abort(Exception):
    pass


class NoTerminal(Exception):
    pass


class Headless:
    def __init__(self, run: Run, ask: Ask | None, out: TextIO) -> None:
        self.run = run
        self.ask = ask
        self.out = out
        self.preflight = Preflight(run)

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def prompt(self, question: str, valid: tuple[str, ...] = ()) -> str:
        if self.ask is None:
            raise NoTerminal(question)
        while True:
            try:
                answer = self.ask(question).strip()
            except EOFError:
                raise Abort("input closed") from None
            if not valid or answer.lower() in valid:
                return answer
            self.say(f"  please answer one of: {', '.join(v for v in valid if v)}")

    # -- the run -------------------------------------------------------------
    def main(self) -> int:
        r = self.run
        rb = r.runbook
        badge = " [DRY RUN]" if r.meta.dry_run else ""
        self.say(f"== {rb.title} — {r.env.name}{badge}")
        self.say(f"   session {r.meta.id}  operator {r.operator.name} {r.operator.ssh}".rstrip())
        self.say(f"   journal {r.journal.describe()}  logs {r.dir / 'logs'}")
        try:
            self._reattach()
            self._window_clock()
            while True:
                phase = rb.phases[r.state.phase]
                self.say(f"\n## Phase {r.state.phase + 1}/{len(rb.phases)}: {phase.title}")
                for section in phase.sections:
                    self.say(f"\n### {section.title}"
                             + (f"  (expected {format_range(section.expected)})"
                                if section.expected else ""))
                    for item in section.items:
                        self._item(item)
                        for option in item.options:
                            for b in option.items:
                                self._item(b)
                blockers = blocking(rb, r.state, r.state.phase)
                if blockers:
                    self.say("phase blocked by: " + "; ".join(str(b) for b in blockers))
                    return EXIT_FAILED
                if r.state.phase + 1 >= len(rb.phases):
                    break
                r.advance()
            r.finish("completed")
            self.say(f"\n== done: session {r.meta.id} completed")
            return EXIT_OK
        except NoTerminal as e:
            self.say(f"\nerror: a person must answer ({e}) and there is no terminal; "
                     "run it in a terminal, or in the TUI")
            return EXIT_NO_TTY
        except Abort as e:
            self.say(f"\nstopped: {e}. Session {r.meta.id} is left open in the journal.")
            return EXIT_ABORTED

    def _reattach(self) -> None:
        """Steps an earlier terminal left running detached: follow each to its result."""
        r = self.run
        for item_id in r.running_detached():
            self.say(f"  ↻ {r.text(r.runbook.item(item_id))}: still running (detached); "
                     "following its output")
            cancel = CancelToken()
            previous = _on_sigint(cancel)
            try:
                result = r.reattach(item_id, cancel, self._print_lines)
            finally:
                signal.signal(signal.SIGINT, previous) if previous is not None else None
            self.say(f"    {result.outcome}: {r.redactor(result.message)}")

    def _window_clock(self) -> None:
        """The window's state under the header (outside it, the question says so)."""
        r = self.run
        if r.meta.dry_run or "window" in r.state.guards:
            return
        status = window_status(r.env.policy.window, time.time())
        if status.open:
            self.say(f"   window: {status.text}")

    def _ask(self, questions: list[Question]) -> str | None:
        """Ask the engine's questions in order and hand the answers back; the note for the
        confirmation ("" if none), or None if the action must not go on. Stops the run
        (Abort) on an empty window reason or a wrongly typed environment name."""
        note = ""
        for q in questions:
            if q.warning:
                self.say(f"  ⚠ {q.title}")
                self.preflight.answer(q)
                continue
            if q.guard is Guard.WINDOW:
                self.say(f"   window: {q.title}")
                self.say(f"   {q.prompt}")
                if not self.preflight.answer(q, self.prompt("   override reason (empty to "
                                                            "stop): ")):
                    raise Abort("outside the maintenance window")
            elif q.guard is Guard.TYPED_ENV:
                self.say(f"   {q.title}")
                if not self.preflight.answer(q, self.prompt(f"   {q.prompt}: ")):
                    raise Abort("environment name not typed")
            else:
                answer = self.prompt(f"    {q.prompt} (journaled): ")
                if not self.preflight.answer(q, answer):
                    return None
                note = answer
        return note

    def _item(self, item: Item) -> None:
        r = self.run
        while True:
            st = r.state.items[item.id]
            if st.status is Status.NOT_TAKEN:
                return
            if st.done:
                self.say(f"  ✓ {self.run.text(item)} [{st.status}]")
                return
            self._ask(self.preflight.due(Action.ACT, item, time.time()))
            if st.status is Status.NEEDS_RECONCILE:
                self._reconcile(item)
                continue
            if item.kind is ItemKind.NOTE:
                hlp = self.run.text(item, "help")
                self.say(f"  ℹ {self.run.text(item)}" + (f"\n    {hlp}" if hlp else ""))
                r.confirm(item.id)
                return
            if item.kind is ItemKind.CONFIRM:
                if self._confirm(item):
                    return
            elif item.kind is ItemKind.CHOICE:
                self._choice(item)
                return
            elif self._execute(item):
                return

    def _reconcile(self, item: Item) -> None:
        r = self.run
        st = r.state.items[item.id]
        self.say(f"  ⚠ {r.text(item)}: interrupted (intent journaled by {st.actor}, no result)")
        known = ", ".join(f"{k}={v}" for k, v in st.facts.items())
        if known:
            self.say(f"    known: {known}")
        self.say(f"    live state: {r.probe(item)}")
        answer = self.prompt("    [r] retry  [d] mark done  [a] abort  [q] quit: ",
                             ("r", "d", "a", "q")).lower()
        if answer == "q":
            raise Abort("quit at an interrupted item")
        resolution = {"r": "retry", "d": "done", "a": "abort"}[answer]
        reason = self.prompt("    reason (journaled): ") if answer != "r" else ""
        try:
            r.reconcile(item.id, resolution, reason)
        except Refused as e:
            self.say(f"    refused: {e}")

    def _confirm(self, item: Item) -> bool:
        r = self.run
        self.say(f"  ? {self.run.text(item)}" + ("" if item.required else " (optional)"))
        hlp = self.run.text(item, "help")
        if hlp:
            self.say(f"    {hlp}")
        questions = self.preflight.due(Action.CONFIRM, item, time.time())
        for q in questions:  # e.g. when the advance notice was due
            if q.title:
                self.say(f"    {q.title}")
        keys = ("y", "o", "q") if item.required else ("y", "s", "q")
        choices = "[y] confirm  " + ("[o] override" if item.required else "[s] skip") + "  [q] quit"
        answer = self.prompt(f"    {choices}: ", keys).lower()
        if answer == "q":
            raise Abort("quit")
        if answer == "y":
            note = self._ask(questions)
            if note is None:
                return False
            r.confirm(item.id, note)
            return True
        reason = self.prompt("    reason: ")
        if not reason:
            return False
        (r.override if answer == "o" else r.skip)(item.id, reason)
        return True

    def _choice(self, item: Item) -> None:
        self.say(f"  ? {self.run.text(item)}")
        for n, o in enumerate(item.options, 1):
            self.say(f"    {n}. {o.title}{' (recommended)' if o.recommended else ''}")
        valid = (*(str(n) for n in range(1, len(item.options) + 1)), "q")
        answer = self.prompt("    choose a number, or [q] quit: ", valid)
        if answer == "q":
            raise Abort("quit")
        self.run.choose(item.id, item.options[int(answer) - 1].id)

    def _execute(self, item: Item) -> bool:
        r = self.run
        if not item.required:
            hlp = self.run.text(item, "help")
            self.say(f"  ? {self.run.text(item)} (optional)" + (f"\n    {hlp}" if hlp else ""))
            answer = self.prompt("    [r] run  [s] skip  [q] quit: ", ("r", "s", "q")).lower()
            if answer == "q":
                raise Abort("quit")
            if answer == "s":
                reason = self.prompt("    reason (journaled): ")
                if reason:
                    r.skip(item.id, reason)
                    return True
                return False
        why = r.check(Ev.ITEM_STARTED, item.id)
        if why:
            self.say(f"  ✗ {self.run.text(item)}: cannot run: {why}")
            return self._after_failure(item)
        self._ask(self.preflight.due(Action.START, item, time.time()))
        expected = f" (expected {format_range(item.expected)})" if item.expected else ""
        self.say(f"  ▶ {self.run.text(item)}{expected}\n    $ {r.describe(item)}")
        cancel = CancelToken()
        previous = _on_sigint(cancel)
        try:
            result = r.execute(item.id, cancel, self._print_lines)
        except Refused as e:
            self.say(f"    refused: {e}")
            return self._after_failure(item)
        finally:
            signal.signal(signal.SIGINT, previous) if previous is not None else None
        st = r.state.items[item.id]
        took = f" in {format_duration(time.time() - st.started)}" if st.started else ""
        mark = {Outcome.PASSED: "✓", Outcome.DRY_RUN: "·"}.get(result.outcome, "✗")
        self.say(f"  {mark} {result.outcome}{took}: {r.redactor(result.message)}")
        if st.done:
            return True
        return self._after_failure(item)

    def _after_failure(self, item: Item) -> bool:
        keys = ("r", "o", "q") + (("s",) if not item.required else ())
        answer = self.prompt("    [r] retry  [o] override" + ("  [s] skip" if not item.required
                                                              else "") + "  [q] quit: ",
                             keys).lower()
        if answer == "q":
            raise Abort("quit after a failure")
        if answer == "r":
            return False
        reason = self.prompt("    reason (journaled): ")
        if not reason:
            return False
        (self.run.override if answer == "o" else self.run.skip)(item.id, reason)
        return True

    def _print_lines(self, item_id: str, lines: list[str]) -> None:
        self.out.write("".join(f"    │ {line}\n" for line in lines))
        self.out.flush()


def _on_sigint(cancel: CancelToken) -> Callable[[int, FrameType | None], object] | int | None:
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum: int, frame: FrameType | None) -> None:
        cancel.cancel("interrupted (Ctrl-C)")

    return signal.signal(signal.SIGINT, handler)
