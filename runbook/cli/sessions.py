"""The session commands: resume, attach, sessions, report (wired in by `runbook.cli.main`).

`resume` and `attach` open their session through the engine's `Lifecycle`, as `run` does:
a resumed session takes the deployment lock and a notifier, a followed one neither."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from runbook.cli.common import (
    CliError,
    drive,
    interactive,
    is_url,
    open_store,
    registry,
    session_services,
    tui_available,
)
from runbook.files import paths
from runbook.format.loader import LoadFailed, load
from runbook.format.model import Runbook

if TYPE_CHECKING:
    from runbook.execute.stepkind import StepRegistry
    from runbook.session.lifecycle import Lifecycle
    from runbook.session.run import Run


def cmd_resume(args: argparse.Namespace) -> int:
    from runbook.format.variables import VariableError, check_value, parse_assignments
    from runbook.session.operator import current
    from runbook.session.resume import ResumeError, plan
    from runbook.session.run import Refused, Run
    journal = open_store(args)
    reg = registry()
    try:
        p = plan(journal, args.session, reg)
    except ResumeError as e:
        raise CliError(str(e)) from None
    for line in p.changes:
        print(f"note: {line}", file=sys.stderr)
    given, errs = parse_assignments(args.var or [])
    if errs:
        raise CliError("; ".join(errs))
    values = dict(p.variables)
    is_tty = interactive()
    for name in p.missing_secrets:
        var = p.runbook.variable(name)
        assert var is not None
        raw = given.get(name)
        if raw is None:
            if not is_tty:
                raise CliError(f"{name}: secret variable must be given again (--var {name}=...)")
            raw = getpass.getpass(f"{var.prompt or name} [{name}, secret]: ")
        try:
            values[name] = check_value(var, raw)
        except VariableError as e:
            raise CliError(str(e)) from None
    if p.changed and is_tty and not args.yes:
        answer = input("the runbook changed since this session began; resume anyway? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            raise CliError("not resumed", 4)
    operator = current()
    from runbook.session.lifecycle import Lifecycle
    with Lifecycle(journal, session_services(), owns_journal=True) as life:
        try:
            run = drive(life, lambda: Run.resume(journal, p.meta, p.runbook, values, reg,
                                                 operator),
                        p.runbook, p.meta.env, operator.name, p.meta.kube_context,
                        p.meta.dry_run, args.break_lock)
        except Refused as e:  # another terminal drives it
            raise CliError(str(e)) from None
        return _resumed(args, run, reg, is_tty, life)


def cmd_attach(args: argparse.Namespace) -> int:
    """Follow a session from another terminal: live, read-only; co-sign, ask for the wheel."""
    from runbook.session.lifecycle import Lifecycle
    from runbook.session.operator import current
    from runbook.session.resume import ResumeError, plan
    from runbook.session.run import Refused, Run
    if not (interactive() and tui_available()):
        raise CliError("attach needs a terminal (it opens the TUI)")
    journal = open_store(args)
    reg = registry()
    with Lifecycle(journal, session_services(), owns_journal=True) as life:
        try:
            p = plan(journal, args.session, reg)
            run = life.adopt(Run.attach(journal, p.meta, p.runbook, reg, current()))
        except (ResumeError, Refused) as e:
            raise CliError(str(e)) from None
        from screens.app import run_resumed
        return run_resumed(run, reg, args, life)


def _resumed(args: argparse.Namespace, run: Run, reg: StepRegistry, is_tty: bool,
             life: Lifecycle) -> int:
    print(f"resumed session {run.meta.id} ({run.meta.env}"
          f"{', dry run' if run.meta.dry_run else ''})", file=sys.stderr)
    if not args.headless and is_tty and tui_available():
        from screens.app import run_resumed
        return run_resumed(run, reg, args, life)
    from runbook.cli.headless import Headless
    return Headless(run, input if is_tty else None, sys.stdout).main()


def cmd_sessions(args: argparse.Namespace) -> int:
    import time

    from runbook.journal.store import JournalError
    from runbook.rules.outcome import outcome
    from runbook.session.report import attended
    locator = str(args.journal or paths.journal_path())
    if not is_url(locator) and not Path(locator).exists():
        print(f"no sessions yet ({locator} does not exist)")
        return 0
    j = open_store(args)
    rows = j.sessions()
    if not rows:
        print("no sessions yet")
    now = time.time()
    listed: list[tuple[str, str, str]] = []  # the line: before the outcome, outcome, after
    for s in rows:
        try:
            events = j.events(s.id)
        except (JournalError, ValueError):  # a row no event can be made of
            told, summary = "damaged (see runbook verify)", "(events unreadable)"
        else:
            told = outcome(events, now, attended(j, s, now))
            summary = f"({len(events)} events, last {events[-1].kind.value if events else '-'})"
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(s.created))
        listed.append((f"{s.id}  {when}Z  {s.env:<11}", told,
                       f"{'dry-run ' if s.dry_run else ''}{s.operator}@{s.host}  "
                       f"{s.runbook_title}  {summary}"))
    width = max((len(told) for _, told, _ in listed), default=0)
    for head, told, tail in listed:
        print(f"{head} {told:<{width}}  {tail}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from runbook.journal.store import JournalError
    from runbook.session.report import build, to_json, to_markdown
    j = open_store(args)
    try:
        meta = j.find_session(args.session)
    except JournalError as e:
        raise CliError(str(e)) from None
    rb: Runbook | None
    try:
        rb = load(meta.runbook_path, registry())
    except LoadFailed:
        rb = None
    report = build(meta, j.events(meta.id), rb)
    text = to_json(report) if args.format == "json" else to_markdown(report)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return 0
