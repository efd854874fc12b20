"""The status bar: title, environment, dry run, session, operator, window clock, progress.

The window clock turns to a yellow warning, first on its line, when what is left of the
maintenance window is shorter than the run's expected remaining duration plus the
rollback's. The clock only shows it: the warning is a pre-flight guard of the engine,
shown and journaled (`guard.warning`, once) before each change, as headless does. Where
the policy requires advance notice, the title line says when it was due until the notice
item is confirmed."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import Static

from runbook.format.durations import format_duration, format_range
from runbook.rules.state import DONE
from runbook.rules.window import expected_remaining, notice_due, window_budget
from runbook.session.preflight import rollback_seconds
from runbook.session.run import Run


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar { height: 2; background: $panel; padding: 0 1; }
    StatusBar.-production { background: $error 40%; }
    """

    def __init__(self, run: Run) -> None:
        super().__init__(id="status-bar")
        self.run = run
        self._required = [i for i in run.runbook.all_items() if i.required]
        self._expected = run.runbook.expected_total()
        # the rollback's expected duration, read once (None: no rollback runbook)
        self._rollback_s = rollback_seconds(run.runbook, run.registry, run.env.name) \
            if run.env.policy.window is not None else None
        if run.env.production:
            self.add_class("-production")

    def on_mount(self) -> None:
        self.call_after_refresh(self.refresh_status)
        self.set_interval(1.0, self.refresh_status)

    def on_resize(self) -> None:
        self.refresh_status()

    def refresh_status(self) -> None:
        r = self.run
        rb = r.runbook
        now = time.time()
        line1 = Text(no_wrap=True, overflow="ellipsis")
        env = r.env.name.upper()
        label = f" PRODUCTION: {env} " if r.env.production and env != "PRODUCTION" else f" {env} "
        line1.append(label, "bold reverse red" if r.env.production else "bold reverse blue")
        if r.meta.dry_run:
            line1.append(" ")
            line1.append(" DRY RUN ", "bold reverse cyan")
        following(line1, r)
        line1.append("  ")
        line1.append(rb.title, "bold")
        if any(st.note_required and not st.done for st in r.state.items.values()):
            due = notice_due(r.env.policy, now)
            if due is not None:  # until the notice item is confirmed
                line1.append(f"  {due.short}", "yellow")
        line1.append(f"  {r.operator.name}  session {r.meta.id}", "dim")
        required = [i for i in self._required if r.state.items[i.id].status.value != "not-taken"]
        done = sum(1 for i in required if r.state.items[i.id].status in DONE)
        started = r.state.started or r.meta.created
        budget = window_budget(r.env.policy.window, now, expected_remaining(rb, r.state),
                               self._rollback_s)
        line2 = Text(no_wrap=True, overflow="ellipsis")
        if budget.warn:  # first, so that a narrow terminal shows it
            line2.append(f"⚠ {budget.text}", "bold black on yellow")
            line2.append("  ")
        watchers(line2, r)
        line2.append(f"{done}/{len(required)} required done", "bold")
        line2.append(f"  phase {r.state.phase + 1}/{len(rb.phases)}")
        line2.append(f"  elapsed {format_duration(now - started)}")
        exp = self._expected
        if exp[1]:
            line2.append(f" of {format_range(exp)}")
        if not budget.warn:
            line2.append("  ")
            line2.append(budget.text, "green" if budget.status.open else "bold red")
        width = max(self.size.width - 2, 20)
        line1.truncate(width, overflow="ellipsis")
        line2.truncate(width, overflow="ellipsis")
        self.update(Text("\n").join([line1, line2]), layout=False)


def following(line: Text, run: Run) -> None:
    """A follower sees that it follows, and who drives."""
    if not run.driving:
        line.append("  ")
        line.append(" FOLLOWING ", "bold reverse magenta")
        line.append(f" {run.state.driver or run.meta.operator} drives", "magenta")


def watchers(line: Text, run: Run) -> None:
    """Who watches, and who asks for the wheel (first on the line: a driver must see it)."""
    st = run.state
    if run.driving and st.wheel_asked is not None:
        line.append(f"{st.wheel_asked[0]} asks for the wheel (w)", "bold magenta")
        line.append("  ")
    watching = sorted({who for who in st.followers.values()
                       if who != (run.operator.name if run.driving else st.driver)})
    if watching:
        line.append(f"watching: {', '.join(watching)}", "magenta")
        line.append("  ")
