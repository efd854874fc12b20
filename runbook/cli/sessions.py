"""The session commands: resume, attach, sessions, report (wired in by `runbook.cli.main`)."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from runbook.cli.main import CliError, _interactive, _is_url, _lock, _tui_available, open_store, registry
from runbook.files import paths
from runbook.format.loader import LoadFailed, load
from runbook.format.model import Runbook

if TYPE_CHECKING:
    from runbook.execute.stepkind import StepRegistry
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
    interactive = _interactive()
    for name in p.missing_secrets:
        var = p.runbook.variable(name)
        assert var is not None
        raw = given.get(name)
        if raw is None:
            if not interactive:
                raise CliError(f"{name}: secret variable must be given again (--var {name}=...)")
            raw = getpass.getpass(f"{var.prompt or name} [{name}, secret]: ")
        try:
            values[name] = check_value(var, raw)
        except VariableError as e:
            raise CliError(str(e)) from None
    if p.changed and interactive and not args.yes:
        answer = input("the runbook changed since this session began; resume anyway? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            raise CliError("not resumed", 4)
    operator = current()
    lock = _lock(p.runbook, p.meta.env, operator.name, p.meta.kube_context, p.meta.dry_run,
                 args.break_lock)
    try:
        try:
            run = Run.resume(journal, p.meta, p.runbook, values, reg, operator)
        except Refused as e:  # another terminal drives it
            raise CliError(str(e)) from None
        from steps.kube.deployment_lock import journal_lock
        journal_lock(run, lock, args.break_lock or "")
        return _resumed(args, run, reg, interactive)
    finally:
        if lock is not None:
            lock.release()


def cmd_attach(args: argparse.Namespace) -> int:
    """Follow a session from another terminal: live, read-only; co-sign, ask for the wheel."""
    from runbook.session.operator import current
    from runbook.session.resume import ResumeError, plan
    from runbook.session.run import Refused, Run
    if not (_interactive() and _tui_available()):
        raise CliError("attach needs a terminal (it opens the TUI)")
    journal = open_store(args)
    reg = registry()
    try:
        p = plan(journal, args.session, reg)
        run = Run.attach(journal, p.meta, p.runbook, reg, current())
    except (ResumeError, Refused) as e:
        raise CliError(str(e)) from None
    from screens.app import run_resumed
    return run_resumed(run, reg, args)


def _resumed(args: argparse.Namespace, run: Run, reg: StepRegistry, interactive: bool) -> int:
    p = run
    print(f"resumed session {p.meta.id} ({p.meta.env}{', dry run' if p.meta.dry_run else ''})",
          file=sys.stderr)
    if not args.headless and interactive and _tui_available():
        from screens.app import run_resumed
        return run_resumed(run, reg, args)
    from runbook.cli.headless import Headless
    from steps.notify import attach_notifier
    notifier = attach_notifier(run)
    try:
        return Headless(run, input if interactive else None, sys.stdout).main()
    finally:
        run.close()
        if notifier is not None:
            notifier.close()


def cmd_sessions(args: argparse.Namespace) -> int:
    import time

    from runbook.journal.store import JournalError
    from runbook.rules.outcome import outcome
    from runbook.session.report import attended
    locator = str(args.journal or paths.journal_path())
    if not _is_url(locator) and not Path(locator).exists():
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
