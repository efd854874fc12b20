"""Files of the rehearsal world: a bin dir (helm, npm stand-ins first on PATH) and an
application checkout (scripts/, helm/creatorbridge, package.json) for the runbook's
shell items."""

from __future__ import annotations

import sys
from pathlib import Path

HELM = """#!/bin/sh
exec {python} -m runbook.sandbox.fake_helm "$@"
"""

NPM = """#!/bin/sh
# sandbox npm: `npm run test:smoke -- --env=ENV` checks the gateway and the login flow stand-in
if [ "$1" = run ] && [ "$2" = "test:smoke" ]; then
  exec {python} -m runbook.sandbox.smoke
fi
echo "sandbox npm: only 'npm run test:smoke' is available here" >&2; exit 1
"""

VERIFY = """#!/bin/sh
# sandbox verify-deployment: every service's health endpoint must answer healthy
echo "verifying deployment in $1"
exec {python} -m runbook.sandbox.smoke --all
"""

BACKUP = """#!/bin/sh
echo "the sandbox takes its backup with pg.backup (pg_dump -Fc); nothing to do here"
"""


def write_standins(root: Path) -> tuple[Path, Path]:
    """Create <root>/bin and <root>/app; returns (bin dir, app dir)."""
    py = sys.executable
    bindir, app = root / "bin", root / "app"
    (app / "scripts").mkdir(parents=True, exist_ok=True)
    (app / "helm" / "creatorbridge").mkdir(parents=True, exist_ok=True)
    bindir.mkdir(parents=True, exist_ok=True)
    for path, text in ((bindir / "helm", HELM), (bindir / "npm", NPM),
                       (app / "scripts" / "verify-deployment.sh", VERIFY),
                       (app / "scripts" / "backup-databases.sh", BACKUP)):
        path.write_text(text.format(python=py))
        path.chmod(0o755)
    (app / "helm" / "creatorbridge" / "Chart.yaml").write_text(
        "apiVersion: v2\nname: creatorbridge\nversion: 1.0.0\n")
    (app / "package.json").write_text('{"name": "creatorbridge", "scripts": '
                                      '{"test:smoke": "sandbox"}}\n')
    return bindir, app
