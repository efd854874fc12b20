"""The one composition root: parses the command line, builds the step registry
and (lazily) the app. Errors are one line and a non-zero exit, never a traceback."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from runbook.cli.common import (
    EXIT_USAGE,
    CliError,
    drive,
    interactive,
    open_store,
    registry,
    session_services,
    tui_available,
)
from runbook.files import paths
from runbook.format.loader import LoadFailed, load
from runbook.format.model import ItemKind, Runbook

if TYPE_CHECKING:
    from runbook.execute.stepkind import StepRegistry
    from runbook.sandbox.lifetime import WorldLifetime

BUNDLED = paths.bundled_dir() / "creatorbridge-deploy.yaml"


def load_or_fail(path: str, reg: StepRegistry) -> Runbook:
    try:
        return load(path, reg)
    except LoadFailed as e:
        for err in e.errors:
            print(err, file=sys.stderr)
        raise CliError(f"{len(e.errors)} error(s) in {path}", EXIT_USAGE) from None


def cmd_validate(args: argparse.Namespace) -> int:
    reg = registry()
    failed = 0
    for f in args.files:
        try:
            rb = load(f, reg)
        except LoadFailed as e:
            for err in e.errors:
                print(err, file=sys.stderr)
            failed += 1
            continue
        n = len(rb.all_items())
        print(f"ok: {f}: {len(rb.phases)} phases, {n} items, "
              f"environments: {', '.join(e.name for e in rb.environments)}")
    return EXIT_USAGE if failed else 0


def cmd_schema(args: argparse.Namespace) -> int:
    from runbook.format.schema import json_schema
    print(json.dumps(json_schema(registry()), indent=2))
    return 0


def resolve_run_inputs(rb: Runbook, env: str | None, pairs: list[str],
                       interactive: bool) -> tuple[str, dict[str, str]]:
    from runbook.format.variables import VariableError, check_value, parse_assignments, resolve
    names = [e.name for e in rb.environments]
    if env is None:
        if not interactive or len(names) == 0:
            raise CliError(f"--env is required (one of: {', '.join(names)})")
        env = input(f"environment ({'/'.join(names)}): ").strip()
    if env not in names:
        raise CliError(f"--env {env!r}: not an environment of this runbook "
                       f"(one of: {', '.join(names)})")
    given, errs = parse_assignments(pairs)
    values, errors, missing = resolve(rb, given, os.environ)
    errors = errs + errors
    if errors:
        raise CliError("; ".join(errors))
    for name in missing:
        var = rb.variable(name)
        assert var is not None
        if not interactive:
            raise CliError(f"{name}: required variable has no value (give --var {name}=...)")
        while True:
            prompt = f"{var.prompt or name} [{name}]: "
            raw = getpass.getpass(prompt) if var.secret else input(prompt)
            try:
                values[name] = check_value(var, raw)
                break
            except VariableError as e:
                print(f"  {e}", file=sys.stderr)
    return env, values


def needs_person(rb: Runbook, env: str) -> list[str]:
    return [i.id for i in rb.all_items()
            if (i.kind in (ItemKind.CONFIRM, ItemKind.CHOICE) or (i.automated and not i.required))
            and not (i.when and i.when.envs and env not in i.when.envs)]


def cmd_run(args: argparse.Namespace) -> int:
    reg = registry()
    path = args.file or str(BUNDLED)
    rb = load_or_fail(path, reg)
    is_tty = interactive()
    if not args.headless and is_tty and tui_available():
        from screens.app import run_app
        env, values, missing = resolve_for_form(rb, args.env, args.var or [])
        return run_app(rb, env, values, reg, args, tuple(missing), session_services())
    env, values = resolve_run_inputs(rb, args.env, args.var or [], is_tty)
    if not is_tty:
        people = needs_person(rb, env)
        if people:
            raise CliError(f"{len(people)} item(s) need a person to confirm (first: {people[0]}) "
                           "and there is no terminal; run it in a terminal", 3)
    from runbook.cli.headless import Headless
    from runbook.session.lifecycle import Lifecycle
    from runbook.session.operator import current
    from runbook.session.run import Run
    journal = open_store(args, must_exist=False)
    operator = current()
    with Lifecycle(journal, session_services(), owns_journal=True) as life:
        run = drive(life, lambda: Run.start(journal, rb, env, values, reg, operator,
                                            args.dry_run, args.context),
                    rb, env, operator.name, args.context, args.dry_run, args.break_lock)
        return Headless(run, input if is_tty else None, sys.stdout).main()


def resolve_for_form(rb: Runbook, env: str | None,
                     pairs: list[str]) -> tuple[str | None, dict[str, str], list[str]]:
    """What the command line gave; the TUI's form asks for the rest."""
    from runbook.format.variables import parse_assignments, resolve
    names = [e.name for e in rb.environments]
    if env is not None and env not in names:
        raise CliError(f"--env {env!r}: not an environment of this runbook "
                       f"(one of: {', '.join(names)})")
    given, errs = parse_assignments(pairs)
    values, errors, missing = resolve(rb, given, os.environ)
    if errs + errors:
        raise CliError("; ".join(errs + errors))
    return env, values, missing


def cmd_rehearse(args: argparse.Namespace) -> int:
    from runbook.sandbox.lifetime import WorldLifetime
    from runbook.sandbox.marker import reap_orphans
    for line in reap_orphans():  # worlds a kill -9 left behind
        print(line, file=sys.stderr)
    # SIGHUP, SIGTERM or SIGINT at any moment stop the world and exit 128 + the signal
    with WorldLifetime() as life:
        return _rehearse(args, life)
    return life.exit_code  # a stop signal ended the rehearsal (its world is stopped)


def _rehearse(args: argparse.Namespace, life: WorldLifetime) -> int:
    from runbook.sandbox.world import Sandbox, SandboxError
    reg = registry()
    path = {"deploy": str(BUNDLED), "rollback": str(BUNDLED.with_name(
        "creatorbridge-rollback.yaml"))}.get(args.runbook or "deploy", args.runbook)
    rb = load_or_fail(path, reg)
    if not any(e.name == "sandbox" for e in rb.environments):
        raise CliError(f"{path}: has no 'sandbox' environment to rehearse in")
    print("starting the rehearsal world (Kubernetes emulator, health endpoints, PostgreSQL, "
          "Redis, helm) ...", file=sys.stderr)
    try:
        sandbox = life.start(Sandbox(rb, args.fault or [], databases=not args.no_databases))
    except SandboxError as e:
        raise CliError(str(e)) from None
    saved = dict(os.environ)
    try:
        os.environ.update(sandbox.env)
        for note in sandbox.notes:
            print(f"note: {note}", file=sys.stderr)
        print(f"ready in {sandbox.start_seconds:.1f}s; faults: "
              f"{', '.join(':'.join(f).rstrip(':') for f in sandbox.faults) or 'none'}",
              file=sys.stderr)
        code = _rehearse_one(args, sandbox, sandbox.runbook_for(rb), reg)
        life.check()  # a signal while the TUI ran ended it: stop here
        if rb.rollback and interactive() and not args.headless:
            try:
                answer = input(f"rehearse the rollback ({rb.rollback}) in the same sandbox? [y/N] ")
            except EOFError:  # input closed (Ctrl-D; a hung-up terminal, whose SIGHUP follows)
                answer = ""
            if answer.strip().lower() in ("y", "yes"):
                rollback = load_or_fail(str(Path(path).parent / rb.rollback), reg)
                code = _rehearse_one(args, sandbox, sandbox.runbook_for(rollback), reg)
                life.check()
        return code
    finally:
        os.environ.clear()
        os.environ.update(saved)
        life.stop()  # the world's __exit__ says "rehearsal world stopped"


def _rehearse_one(args: argparse.Namespace, sandbox: object, rb: Runbook,
                  reg: StepRegistry) -> int:
    from runbook.format.variables import parse_assignments, resolve
    given, errs = parse_assignments(args.var or [])
    if errs:
        raise CliError("; ".join(errs))
    app_dir = getattr(sandbox, "app_dir", None)
    if rb.variable("APP_DIR") is not None and "APP_DIR" not in given and app_dir is not None:
        given["APP_DIR"] = str(app_dir)
    values, errors, missing = resolve(rb, given, os.environ)
    if errors:
        raise CliError("; ".join(errors))
    args.dry_run = False
    args.context = "sandbox"
    is_tty = interactive()
    if not args.headless and is_tty and tui_available():
        from screens.app import run_app
        return run_app(rb, "sandbox", values, reg, args, tuple(missing), session_services())
    if missing:
        raise CliError(f"{missing[0]}: required variable has no value (give --var "
                       f"{missing[0]}=...)")
    if not is_tty:
        people = needs_person(rb, "sandbox")
        if people:
            raise CliError(f"{len(people)} item(s) need a person to confirm (first: {people[0]}) "
                           "and there is no terminal; run it in a terminal", 3)
    from runbook.cli.headless import Headless
    from runbook.session.lifecycle import Lifecycle
    from runbook.session.operator import current
    from runbook.session.run import Run
    journal = open_store(args, must_exist=False)
    operator = current()
    with Lifecycle(journal, session_services(), owns_journal=True) as life:
        run = drive(life, lambda: Run.start(journal, rb, "sandbox", values, reg, operator, False,
                                            "sandbox"),
                    rb, "sandbox", operator.name, "sandbox", False, None)
        return Headless(run, input if is_tty else None, sys.stdout).main()


def parser() -> argparse.ArgumentParser:
    from runbook.cli.sessions import cmd_attach, cmd_report, cmd_resume, cmd_sessions
    from runbook.cli.verify import add_parser as add_verify
    p = argparse.ArgumentParser(prog="runbook", description="Guided, executable, auditable runbooks.")
    p.add_argument("--journal", help="journal: a SQLite file, or postgresql://... for a team "
                                     "(default: $RUNBOOK_STATE_DIR or "
                                     "$XDG_STATE_HOME/runbook/journal.db)")
    sub = p.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate", help="check runbook files; errors as file:line:col: message")
    v.add_argument("files", nargs="+")
    v.set_defaults(fn=cmd_validate)
    s = sub.add_parser("schema", help="print the JSON Schema of the runbook format")
    s.set_defaults(fn=cmd_schema)
    r = sub.add_parser("run", help="run a runbook (TUI, or --headless)")
    r.add_argument("file", nargs="?", help="runbook YAML (default: the bundled CreatorBridge deploy)")
    r.add_argument("--env", help="environment to run against")
    r.add_argument("--var", action="append", metavar="K=V", help="set a variable (repeatable)")
    r.add_argument("--dry-run", action="store_true", help="run checks, show what actions would do")
    r.add_argument("--headless", action="store_true", help="plain line-oriented mode")
    r.add_argument("--context", help="kube context (default: the environment's)")
    r.add_argument("--break-lock", metavar="REASON",
                   help="take the deployment lock from its holder (journaled with the reason)")
    r.set_defaults(fn=cmd_run)
    rs = sub.add_parser("resume", help="reopen a session where it stood (default: the latest "
                                       "unfinished one)")
    rs.add_argument("session", nargs="?", help="session id or a unique prefix")
    rs.add_argument("--var", action="append", metavar="K=V", help="a secret variable, again")
    rs.add_argument("--headless", action="store_true", help="plain line-oriented mode")
    rs.add_argument("--yes", action="store_true", help="resume even if the runbook changed")
    rs.add_argument("--break-lock", metavar="REASON",
                    help="take the deployment lock from its holder (journaled with the reason)")
    rs.set_defaults(fn=cmd_resume)
    at = sub.add_parser("attach", help="follow a session from another terminal: live, "
                                       "read-only; co-sign (g), ask for the wheel (w)")
    at.add_argument("session", nargs="?", help="session id or a unique prefix (default: the "
                                               "latest unfinished one)")
    at.set_defaults(fn=cmd_attach)
    rh = sub.add_parser("rehearse", help="rehearse in a local sandbox: Kubernetes emulator, "
                                         "health endpoints, PostgreSQL, Redis, helm")
    rh.add_argument("--runbook", help="deploy (default), rollback, or a runbook file")
    rh.add_argument("--fault", action="append", metavar="FAULT",
                    help="bad-image:SERVICE, unhealthy:SERVICE, replica-lag, redis-down, throttle, "
                         "migration-hang:SERVICE")
    rh.add_argument("--var", action="append", metavar="K=V", help="set a variable (repeatable)")
    rh.add_argument("--headless", action="store_true", help="plain line-oriented mode")
    rh.add_argument("--no-databases", action="store_true",
                    help="do not start PostgreSQL and Redis (faster; their items fail)")
    rh.set_defaults(fn=cmd_rehearse)
    ss = sub.add_parser("sessions", help="list the sessions in the journal")
    ss.set_defaults(fn=cmd_sessions)
    rp = sub.add_parser("report", help="deployment log of a session")
    rp.add_argument("session", help="session id (or a unique prefix)")
    rp.add_argument("--format", choices=("md", "json"), default="md")
    rp.add_argument("--output", "-o", help="write to this file")
    rp.set_defaults(fn=cmd_report)
    add_verify(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_step"]:  # the supervisor of a detached step (runbook.execute.detached.spawn)
        from runbook.cli.supervisor import supervise
        return supervise(registry)  # (a factory: its imports come after the signal handlers)
    args = parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except CliError as e:
        print(f"runbook: {e}", file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        print("runbook: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (e.g. `| head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:  # last resort: one line on screen, the traceback in a file
        crash = paths.state_dir() / "crash.log"
        try:
            crash.parent.mkdir(parents=True, exist_ok=True)
            with open(crash, "a", encoding="utf-8") as f:
                traceback.print_exc(file=f)
            where = f" (details in {crash})"
        except OSError:
            where = ""
        print(f"runbook: internal error: {type(e).__name__}: {e}{where}", file=sys.stderr)
        return 70


if __name__ == "__main__":
    sys.exit(main())
