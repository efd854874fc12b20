"""Remake the README's screenshot of `runbook rehearse`: `.venv/bin/python bench/screenshot.py`.

Starts the rehearsal sandbox, opens the run screen at 160x48 as `runbook rehearse` would
(environment "sandbox", NEW_VERSION=v1.2.3), confirms the maintenance-notice items, runs
every check of "2. Database Preparation" and "3. Infrastructure Verification" with `a`
against the sandbox (real PostgreSQL, the Kubernetes emulator, the stand-in helm and
registry), selects a check and shows the Pods tab, then saves the screen as SVG and
converts it to PNG with rsvg-convert (Debian: apt-get install librsvg2-bin).

Writes bench/screenshots/rehearsal.png (and .svg next to it with --keep-svg); the
journal goes to a temporary directory that is removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from runbook.format.loader import load  # noqa: E402
from runbook.format.model import ItemKind  # noqa: E402
from runbook.journal.sqlite import Journal  # noqa: E402
from runbook.rules.state import Status  # noqa: E402
from runbook.sandbox.world import Sandbox  # noqa: E402
from runbook.session.operator import Operator  # noqa: E402
from screens.app import AppConfig, build_app  # noqa: E402
from steps import default_registry  # noqa: E402

OUT = REPO / "bench" / "screenshots" / "rehearsal.png"
SIZE = (160, 48)
CHECK_SECTIONS = ("database-prep", "infrastructure")
SHOW_ITEM = "cluster-health"


async def until(pilot: Any, predicate: Any, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise SystemExit(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
        await pilot.pause()


async def shoot(app: Any, svg: Path) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        run = app.current_run
        screen = app.screen
        rb = run.runbook
        for item in rb.phases[0].sections[0].items:  # the maintenance-notice confirmations
            if item.kind is ItemKind.CONFIRM:
                screen.select_item(item.id)
                await pilot.pause()
                await pilot.press("c")
                await until(pilot, lambda i=item.id: run.state.items[i].done, 10, item.id)
        for section_id in CHECK_SECTIONS:
            section = next(s for s in rb.phases[0].sections if s.id == section_id)
            checks = [i.id for i in section.items if i.kind is ItemKind.CHECK]
            screen.select_item(checks[0])
            await pilot.pause()
            await pilot.press("a")
            await until(pilot, lambda c=checks: all(
                run.state.items[i].status not in (Status.PENDING, Status.RUNNING) for i in c),
                120, f"the checks of {section_id}")
        screen.select_item(SHOW_ITEM)
        await pilot.pause()
        await pilot.press("3")  # the Pods tab
        await asyncio.sleep(2.5)  # let the pods pane poll the emulator and the toasts fade
        await pilot.pause()
        for section_id in CHECK_SECTIONS:
            section = next(s for s in rb.phases[0].sections if s.id == section_id)
            for i in section.items:
                st = run.state.items[i.id]
                print(f"  {i.id:<28} {st.status.value}")
        app.save_screenshot(filename=svg.name, path=str(svg.parent))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(OUT), help=f"PNG to write (default {OUT})")
    ap.add_argument("--keep-svg", action="store_true", help="keep the SVG next to the PNG")
    args = ap.parse_args()
    converter = shutil.which("rsvg-convert")
    if converter is None:
        print("rsvg-convert not found: apt-get install librsvg2-bin", file=sys.stderr)
        return 1
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    svg = out.with_suffix(".svg")
    reg = default_registry()
    rb = load(REPO / "runbooks" / "creatorbridge-deploy.yaml", reg)
    tmp = Path(tempfile.mkdtemp(prefix="runbook-screenshot-"))
    saved = dict(os.environ)
    sandbox = Sandbox(rb).start()
    try:
        os.environ.update(sandbox.env)
        os.environ["RUNBOOK_STATE_DIR"] = str(tmp)
        app = build_app(AppConfig(
            sandbox.runbook_for(rb), reg, Journal(tmp / "journal.db"),
            Operator("oncall", "jumphost", ""), "sandbox",
            {"NEW_VERSION": "v1.2.3", "APP_DIR": str(sandbox.app_dir)}, False, "sandbox"))
        asyncio.run(shoot(app, svg))
    finally:
        os.environ.clear()
        os.environ.update(saved)
        sandbox.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    subprocess.run([converter, "--zoom", "1", "-b", "#1e1e1e", "-o", str(out), str(svg)],
                   check=True)
    if not args.keep_svg:
        svg.unlink()
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
