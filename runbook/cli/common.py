"""What every command of the CLI shares: the one-line error, the journal, the step registry,
the session services (deployment lock, notifier), and whether there is a terminal.

Its own module so that `main` (the parser) and `sessions` (resume, attach, sessions,
report) both import it, and neither imports the other's privates.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from runbook.files import paths

if TYPE_CHECKING:
    from runbook.execute.stepkind import StepRegistry
    from runbook.format.model import Environment, Runbook
    from runbook.journal.store import JournalStore
    from runbook.session.lifecycle import HeldLock, Lifecycle, SessionServices
    from runbook.session.run import Run

EXIT_USAGE = 2
EXIT_LOCKED = 5


class CliError(Exception):
    """A one-line error for the user; exit status attached."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def open_store(args: argparse.Namespace, must_exist: bool = True) -> JournalStore:
    """The journal of --journal (a SQLite file or a postgresql:// URL), else the default file."""
    from runbook.journal.backends import open_journal
    from runbook.journal.store import JournalError
    locator = str(args.journal or paths.journal_path())
    if must_exist and not is_url(locator) and not Path(locator).exists():
        raise CliError(f"no journal at {locator}")
    try:
        return open_journal(locator)
    except JournalError as e:
        raise CliError(str(e)) from None


def is_url(locator: str) -> bool:
    return locator.startswith(("postgresql://", "postgres://"))


def registry() -> StepRegistry:
    from steps import default_registry
    return default_registry()


def session_services() -> SessionServices:
    """The deployment lock and the webhook notifier, plugged into the engine's session
    lifecycle here: the engine does not import the step kinds that provide them."""
    from runbook.session.lifecycle import SessionServices
    from steps.notify import attach_notifier
    return SessionServices(take_lock=take_deployment_lock, notifier=attach_notifier)


def take_deployment_lock(runbook_path: str, env: Environment, operator: str, kube_context: str,
                         dry_run: bool, break_reason: str) -> HeldLock | None:
    """The Kubernetes Lease of steps/kube/deployment_lock.py, its refusal in the engine's terms."""
    from runbook.session.lifecycle import LockRefused
    from steps.kube.deployment_lock import LockError, take_lock
    try:
        return take_lock(runbook_path, env, operator, kube_context, dry_run, break_reason)
    except LockError as e:
        raise LockRefused(str(e)) from None


def drive(life: Lifecycle, open_run: Callable[[], Run], rb: Runbook, env: str, operator: str,
          context: str | None, dry_run: bool, break_reason: str | None) -> Run:
    """`Lifecycle.drive`, a lock held by another run as a one-line error (exit 5)."""
    from runbook.session.lifecycle import LockRefused
    try:
        return life.drive(open_run, rb, env, operator, context, dry_run, break_reason or "")
    except LockRefused as e:
        raise CliError(str(e), EXIT_LOCKED) from None


def interactive() -> bool:
    return sys.stdin.isatty()


def tui_available() -> bool:
    import importlib.util
    return importlib.util.find_spec("textual") is not None
