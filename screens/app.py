"""The Textual application and the one factory that the CLI and the tests share.

The session's lifetime (deployment lock, wheel, notifier, closing) is the engine's
`Lifecycle`: the app opens one when it starts a run, adopts the run it is handed
(`runbook resume`, `runbook attach`, tests), and closes it when it shuts down, after its
screens: the notifier's last messages ("finished") are delivered before the app returns.
The lock and the notifier come from the composition root in `AppConfig.services`."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from textual.app import App, SystemCommand
from textual.screen import Screen

from runbook.execute.stepkind import StepRegistry
from runbook.format.model import Runbook
from runbook.journal.backends import open_journal
from runbook.journal.store import JournalStore
from runbook.sandbox.lifetime import when_stopping
from runbook.session.lifecycle import NO_SERVICES, Lifecycle, LockRefused, SessionServices
from runbook.session.operator import Operator
from runbook.session.run import Run
from screens.modals.setup_screen import SetupResult, SetupScreen
from screens.run.bridge import freeze_heap
from screens.run.screen import BINDINGS, RunScreen
from screens.terminal.pacing import Pacer


@dataclass
class AppConfig:
    runbook: Runbook
    registry: StepRegistry
    journal: JournalStore
    operator: Operator
    env: str | None
    values: dict[str, str]
    dry_run: bool
    kube_context: str | None = None
    missing: tuple[str, ...] = ()  # required variables without a value
    break_lock: str = ""  # take the deployment lock from its holder, with this reason
    services: SessionServices = NO_SERVICES  # the lock and the notifier (the CLI's)
    owns_journal: bool = False  # close the journal with the session


class RunbookApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "runbook"
    ENABLE_COMMAND_PALETTE = True

    def __init__(self, config: AppConfig) -> None:
        super().__init__()
        self.config = config
        self.current_run: Run | None = None
        self.lifecycle: Lifecycle | None = None  # the session's, closed at unmount
        self.lock_error = ""
        self.pacer = Pacer(self)  # frame rate and log drain within a byte budget (slow links)
        freeze_heap("start")

    def on_mount(self) -> None:
        self.pacer.start()
        when_stopping(self.stop_for_signal, lambda: self.is_running)  # in a rehearsal only
        c = self.config
        if self.current_run is not None:  # a resumed session, or one followed
            if self.lifecycle is None:
                self.lifecycle = Lifecycle(self.current_run.journal, c.services,
                                           owns_journal=c.owns_journal)
                self.lifecycle.adopt(self.current_run)
            self.sub_title = f"{self.current_run.env.name} (resumed)"
            self.call_later(self.push_screen, RunScreen(self.current_run))
            return
        self.title = c.runbook.title
        needs_setup = c.env is None or bool(c.missing)
        if needs_setup:
            self.push_screen(SetupScreen(c.runbook, c.env, c.values), self._setup_done)
        else:
            assert c.env is not None
            # from the message loop, after Textual's batched start-up: a screen pushed inside
            # that batch is laid out and rendered once for nothing (the batch drops the frame)
            self.call_later(self.start_run, c.env, c.values)

    def _setup_done(self, result: SetupResult | None) -> None:
        if result is None:
            self.exit(1)
            return
        self.start_run(*result)

    def start_run(self, env: str, values: dict[str, str]) -> None:
        c = self.config
        self.lifecycle = life = Lifecycle(c.journal, c.services, owns_journal=c.owns_journal)
        try:
            run = life.drive(lambda: Run.start(c.journal, c.runbook, env, values, c.registry,
                                               c.operator, c.dry_run, c.kube_context),
                             c.runbook, env, c.operator.name, c.kube_context, c.dry_run,
                             c.break_lock)
        except LockRefused as e:
            self.lock_error = str(e)
            self.exit(5)
            return
        self.current_run = run
        self.sub_title = f"{env}{' (dry run)' if c.dry_run else ''}"
        self.push_screen(RunScreen(run))

    def stop_for_signal(self, reason: str) -> None:
        """The rehearsal's world is stopping (SIGHUP, SIGTERM): cancel what runs here, with the
        reason journaled, wait for it to end, then exit (the setup form or a dialog too)."""
        screen = next((s for s in self.screen_stack if isinstance(s, RunScreen)), None)
        if screen is None:
            self.exit(1)
            return
        for token in list(screen.tokens.values()):
            token.cancel(reason)
        threads = [t for t in list(screen.threads.values()) if t.is_alive()]

        def join_then_exit() -> None:
            deadline = time.monotonic() + 60  # the world stops anyway, after the app
            for t in threads:
                t.join(timeout=max(0.0, deadline - time.monotonic()))
            try:
                self.call_from_thread(self.exit, 1)
            except RuntimeError:  # the app has gone already
                pass

        threading.Thread(target=join_then_exit, name="signal-stop", daemon=True).start()

    def on_unmount(self) -> None:
        """After the screens (which stop following the journal): notifier, wheel, lock."""
        if self.lifecycle is not None:
            self.lifecycle.close()

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if isinstance(screen, RunScreen):
            for b in BINDINGS:
                area, _, verb = (b.id or "app.x").partition(".")
                action = b.action

                def run_action(action: str = action) -> None:
                    self.call_later(screen.run_action, action)

                yield SystemCommand(f"{area}: {verb.replace('-', ' ')}",
                                    f"{b.description} (key {b.key.replace('_', ' ')})", run_action)


def build_app(config: AppConfig) -> RunbookApp:
    return RunbookApp(config)


def run_app(runbook: Runbook, env: str | None, values: dict[str, str], registry: StepRegistry,
            args: argparse.Namespace, missing: tuple[str, ...] = (),
            services: SessionServices = NO_SERVICES) -> int:
    from runbook.files import paths
    from runbook.session.operator import current
    journal = open_journal(str(args.journal or paths.journal_path()))
    app = build_app(AppConfig(runbook, registry, journal, current(), env, values,
                              bool(args.dry_run), args.context, missing,
                              getattr(args, "break_lock", None) or "", services,
                              owns_journal=True))
    try:
        code = app.run()
    finally:
        if app.lifecycle is not None:  # closed at unmount; here too if the app never got there
            app.lifecycle.close()
        else:
            journal.close()
    if app.lock_error:
        print(f"runbook: {app.lock_error}", file=sys.stderr)
        return 5
    if app.current_run is not None:
        sid = app.current_run.meta.id
        print(f"session {sid}: report with `runbook report {sid}`")
    return int(code or 0)


def run_resumed(run: Run, registry: StepRegistry, args: argparse.Namespace,
                lifecycle: Lifecycle) -> int:
    """Open the TUI on a session reopened by `runbook resume` or followed by `runbook attach`;
    `lifecycle` (the command's) is closed when the app shuts down."""
    config = AppConfig(run.runbook, registry, run.journal, run.operator, run.env.name,
                       run.variables, run.meta.dry_run, run.meta.kube_context)
    app = build_app(config)
    app.current_run, app.lifecycle = run, lifecycle
    try:
        code = app.run()
    finally:
        lifecycle.close()
    print(f"session {run.meta.id}: report with `runbook report {run.meta.id}`")
    return int(code or 0)
