"""The bundled runbooks cover every line of the seed deployment checklist.

The test reads the seed Markdown itself and extracts every checkbox, every
command of its bash blocks, every table row and every maintenance-window
line. Each must be matched by an entry of MAPPING (a fragment of the line and
what covers it), so a line added to the seed fails here until a runbook
covers it. Targets are item ids of the deploy or rollback runbook (a foreach
template id, or one expanded `id[service]`), or `@model` targets checked
against the runbook's services, contacts, policy or startup order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from runbook.format.loader import load
from runbook.format.model import Item, Runbook
from runbook.format.services import startup_order
from steps import default_registry

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "runbooks" / "creatorbridge-deploy.yaml"
ROLLBACK = ROOT / "runbooks" / "creatorbridge-rollback.yaml"
SEED = (Path(__file__).resolve().parents[3] / "shared" / "seed"
        / "creatorbridge-deployment-checklist.md")

# (fragment of a seed line, what covers it)
MAPPING: list[tuple[str, str]] = [
    # Pre-Deployment 1. Code Review & Testing
    ("All feature branches merged to `main`", "branches-merged"),
    ("Pull request approved by at least 2 reviewers", "pr-approved"),
    ("All CI checks passing (lint, type-check, unit tests)", "ci-checks-passing"),
    ("Integration tests passing", "integration-tests-passing"),
    ("E2E tests passing on staging", "e2e-tests-staging"),
    ("Security scan (CodeQL) passed", "codeql-scan-passed"),
    ("No critical/high vulnerabilities in dependencies", "no-critical-vulnerabilities"),
    # 2. Database Preparation
    ("Database migrations tested in staging", "migrations-tested-staging"),
    ("Migration rollback scripts prepared", "migration-rollback-prepared"),
    ("Database backup taken before migration", "backup-before-migration"),
    ("Connection pool settings verified", "connection-pool-verified"),
    ("Read replica sync status confirmed", "replica-sync"),
    # 3. Infrastructure Verification
    ("Kubernetes cluster health verified", "cluster-health"),
    ("Node capacity sufficient for deployment", "node-capacity"),
    ("Container registry (ACR) accessible", "registry-accessible"),
    ("Helm charts updated with new image tags", "helm-chart-image-tags"),
    ("ConfigMaps and Secrets updated", "config-keys"),
    ("Persistent volume claims verified", "pvcs-bound"),
    # 4. External Services
    ("Stripe API keys verified (test/live)", "stripe-keys"),
    ("Azure Blob Storage accessible", "blob-storage-accessible"),
    ("Redis cluster healthy", "redis-healthy"),
    ("SendGrid/email service configured", "sendgrid-configured"),
    ("CDN configuration verified", "cdn-verified"),
    # 5. Monitoring & Alerting
    ("Application Insights configured", "app-insights-configured"),
    ("Alert rules active", "alert-rules-active"),
    ("On-call engineer notified", "on-call-engineer-notified"),
    ("Status page prepared for maintenance window", "status-page-prepared"),
    # Step 1: Pre-Deployment Backup
    ("./scripts/backup-databases.sh production", "backup-databases"),
    ("kubectl get all -n creatorbridge-production -o yaml", "export-k8s-state"),
    ("kubectl get deployments -n creatorbridge-production -o wide", "record-versions"),
    # Step 2: Database Migrations
    ("-- npx prisma migrate deploy", "run-migrations"),
    # Step 3: Option A / Option B
    ("helm upgrade creatorbridge ./helm/creatorbridge", "helm-upgrade"),
    ("kubectl set image deployment/$service", "rolling-update"),
    ("kubectl rollout status deployment/$service", "rolling-update"),
    # Step 4: Verification
    ("./scripts/verify-deployment.sh production", "verify-deployment"),
    ("kubectl get pods -n creatorbridge-production", "pods-running"),
    ("kubectl logs -l app=api-gateway --tail=100", "gateway-logs"),
    # Step 5: Smoke Tests, and the manual verification checklist
    ("npm run test:smoke -- --env=production", "run-smoke-tests"),
    ("Login flow works", "manual-login-flow"),
    ("Campaign creation works", "manual-campaign-creation"),
    ("Content upload works", "manual-content-upload"),
    ("Creator discovery works", "manual-creator-discovery"),
    ("Payment flow works (test mode)", "manual-payment-flow"),
    # Post-Deployment: Immediate
    ("Verify all health endpoints responding", "health-endpoints"),
    ("Check error rates in Application Insights", "error-rates"),
    ("Verify database connections stable", "db-connections-stable"),
    ("Test critical user flows manually", "critical-user-flows"),
    ("Monitor CPU/memory usage", "monitor-resources"),
    # Short-term
    ("Review application logs for warnings", "review-log-warnings"),
    ("Verify async job processing (queues)", "async-jobs"),
    ("Check webhook deliveries", "webhook-deliveries"),
    ("Verify email notifications working", "email-notifications"),
    ("Monitor API response times", "monitor-response-times"),
    # Documentation
    ("Update deployment log", "update-deployment-log"),
    ("Document any manual interventions", "document-interventions"),
    ("Update runbook if issues encountered", "update-runbook"),
    ("Notify team of successful deployment", "notify-team"),
    # Rollback Procedure: Quick Rollback
    ("kubectl rollout undo deployment/api-gateway", "rollout-undo[api-gateway]"),
    ("kubectl rollout undo deployment/auth-service", "rollout-undo[auth-service]"),
    ("helm rollback creatorbridge -n creatorbridge-production", "helm-rollback"),
    # Database Rollback
    ("kubectl scale deployment --all --replicas=0", "scale-down-all"),
    ("./scripts/restore-database.sh production", "restore-database"),
    ("npx prisma migrate reset --force", "migrate-reset"),
    ("kubectl scale deployment --all --replicas=2", "scale-up-all"),
    # Emergency Contacts
    ("| On-Call Engineer | (Rotation) | PagerDuty |", "@contacts"),
    ("| Engineering Lead | TBD | Slack: @eng-lead |", "@contacts"),
    ("| DevOps Lead | TBD | Slack: @devops-lead |", "@contacts"),
    ("| Database Admin | TBD | Slack: @dba |", "@contacts"),
    # Startup Order
    ("**Infrastructure**: PostgreSQL, Redis, Blob Storage", "@startup-order"),
    ("**Core Services**: auth-service, user-service", "@startup-order"),
    ("**Business Services**: campaign-service, creator-service", "@startup-order"),
    ("**Extended Services**: asset-service, rights-service", "@startup-order"),
    ("**Gateway**: api-gateway (last", "@startup-order"),
    # Health Check Endpoints: the http.health item, and the services model
    ("| API Gateway | `/health` |", "health-endpoints"),
    ("| Auth Service | `/v1/auth/health` |", "health-endpoints"),
    ("| User Service | `/v1/users/health` |", "health-endpoints"),
    ("| Campaign Service | `/v1/campaigns/health` |", "health-endpoints"),
    ("| Creator Service | `/v1/creators/health` |", "health-endpoints"),
    ("| Content Service | `/v1/content/health` |", "health-endpoints"),
    ("| Asset Service | `/v1/assets/health` |", "health-endpoints"),
    ("| Rights Service | `/v1/rights/health` |", "health-endpoints"),
    ("| Payout Service | `/v1/payouts/health` |", "health-endpoints"),
    ("| Analytics Service | `/v1/analytics/health` |", "health-endpoints"),
    # Environment Variables Checklist: the k8s.config-keys item, and env_checklist
    ("`DATABASE_URL` - PostgreSQL connection string", "config-keys"),
    ("`REDIS_URL` - Redis connection string", "config-keys"),
    ("`JWT_SECRET` - JWT signing secret", "config-keys"),
    ("`NODE_ENV` - Environment (production/staging)", "config-keys"),
    ("`STRIPE_SECRET_KEY` - Stripe API key (billing, payout)", "config-keys"),
    ("`STRIPE_WEBHOOK_SECRET` - Stripe webhook secret", "config-keys"),
    ("`AZURE_STORAGE_CONNECTION_STRING` - Blob storage (asset)", "config-keys"),
    ("`SENDGRID_API_KEY` - Email service (notification)", "config-keys"),
    ("`AZURE_CONTENT_MODERATOR_KEY` - Content moderation (content)", "config-keys"),
    # Maintenance Window
    ("Staging: Anytime", "@policy"),
    ("Production: Sundays 2:00 AM - 6:00 AM UTC", "@policy"),
    ("24 hours advance notice for planned maintenance", "advance-notice-given"),
    ("24 hours advance notice for planned maintenance", "@policy"),
    ("Status page update before and after", "status-page-before"),
    ("Status page update before and after", "status-page-after"),
    ("Slack announcement to #engineering", "slack-announcement"),
]

MODEL_TARGETS = {"@contacts", "@startup-order", "@policy"}
# the H2 sections whose lines must appear in the same order in a runbook
ORDERED = {
    "Pre-Deployment Checklist": "deploy",
    "Deployment Execution": "deploy",
    "Post-Deployment Tasks": "deploy",
    "Rollback Procedure": "rollback",
}
LOOP_WORDS = ("for ", "do", "done", "echo ")
CHECKBOX = re.compile(r"^\s*(?:#\s*)?- \[[ xX]\] (.+)$")


@dataclass(frozen=True)
class SeedLine:
    kind: str  # checkbox, command, table, window, startup
    text: str
    h2: str
    h3: str
    lineno: int


# -- reading the seed ---------------------------------------------------


@cache
def _seed_text() -> str | None:
    return SEED.read_text(encoding="utf-8") if SEED.is_file() else None


@pytest.fixture(scope="module")
def seed() -> list[SeedLine]:
    text = _seed_text()
    if text is None:
        pytest.skip(f"seed checklist not found at {SEED} (it lives in the shared folder "
                    "next to the repository)")
    return parse_seed(text)


def parse_seed(text: str) -> list[SeedLine]:
    """Every line of the seed that a runbook must cover, in document order."""
    out: list[SeedLine] = []
    h2 = h3 = ""
    fence: str | None = None  # language of the open code block
    pending = ""  # a command continued with a trailing backslash
    pending_no = 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        stripped = line.strip()
        if stripped.startswith("```"):
            fence = None if fence is not None else (stripped[3:].strip() or "text")
            continue
        if fence is not None:
            if fence != "bash":
                continue  # the service diagram
            box = CHECKBOX.match(stripped)
            if box:
                out.append(SeedLine("checkbox", box.group(1), h2, h3, n))
                continue
            if not stripped or stripped.startswith("#"):
                continue
            if not pending:
                pending_no = n
            pending += (" " if pending else "") + stripped.rstrip("\\").strip()
            if stripped.endswith("\\"):
                continue
            command, pending = pending, ""
            if command == "do" or command.startswith(LOOP_WORDS):
                continue
            out.append(SeedLine("command", command, h2, h3, pending_no))
            continue
        if line.startswith("## "):
            h2, h3 = line[3:].strip(), ""
        elif line.startswith("### "):
            h3 = line[4:].strip()
        elif box := CHECKBOX.match(line):
            out.append(SeedLine("checkbox", box.group(1), h2, h3, n))
        elif stripped.startswith("|") and not re.match(r"^\|[-| ]+\|$", stripped):
            cells = [c.strip() for c in stripped.strip("|").split("|")]
            if cells[0] not in ("Role", "Service"):  # header rows
                out.append(SeedLine("table", stripped, h2, h3, n))
        elif h2 == "Maintenance Window" and stripped.startswith("- "):
            out.append(SeedLine("window", stripped[2:], h2, h3, n))
        elif h3 == "Startup Order" and re.match(r"^\d+\. ", stripped):
            out.append(SeedLine("startup", stripped, h2, h3, n))
    assert not pending, f"unterminated command continuation: {pending!r}"
    return out


def _normal(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


def matches(line: SeedLine) -> list[tuple[str, str]]:
    norm = _normal(line.text)
    return [(frag, target) for frag, target in MAPPING if _normal(frag) in norm]


# -- the runbooks -------------------------------------------------------


@pytest.fixture(scope="module")
def deploy() -> Runbook:
    return load(DEPLOY, default_registry())


@pytest.fixture(scope="module")
def rollback() -> Runbook:
    return load(ROLLBACK, default_registry())


def _positions(rb: Runbook) -> dict[str, int]:
    """Item id (and foreach template id) -> position in document order."""
    pos: dict[str, int] = {}
    for n, item in enumerate(rb.all_items()):
        pos.setdefault(item.id, n)
        if item.template_id:
            pos.setdefault(item.template_id, n)
    return pos


def _find(rb: Runbook, target: str) -> list[Item]:
    return [i for i in rb.all_items() if target in (i.id, i.template_id)]


# -- tests ----------------------------------------------------------------


def test_both_runbooks_load(deploy: Runbook, rollback: Runbook) -> None:
    assert deploy.rollback == ROLLBACK.name
    assert (DEPLOY.parent / deploy.rollback).resolve() == ROLLBACK.resolve()
    assert deploy.version == "1.0" and rollback.version == "1.0"
    assert deploy.owners == ("DevOps Team",)
    for rb in (deploy, rollback):
        assert {e.name for e in rb.environments} == {"production", "staging", "sandbox"}
        assert rb.phases and all(i.help for i in rb.all_items()), "every item needs help text"


def test_seed_extraction_finds_everything(seed: list[SeedLine]) -> None:
    kinds = [s.kind for s in seed]
    # 27 pre-deployment + 5 manual + 14 post-deployment + 9 env-var checkboxes
    assert kinds.count("checkbox") >= 55
    assert kinds.count("command") >= 18  # 11 deployment + 7 rollback
    assert kinds.count("table") >= 14
    assert kinds.count("window") >= 5
    assert kinds.count("startup") >= 5
    commands = [s.text for s in seed if s.kind == "command"]
    assert any(c.startswith("helm upgrade") and "--timeout 10m" in c for c in commands), \
        "continuation lines are joined into one command"
    assert not any(c.startswith(("for ", "echo ", "done")) for c in commands)


def test_every_seed_line_is_covered(seed: list[SeedLine]) -> None:
    missing = [f"line {s.lineno} ({s.kind}): {s.text}" for s in seed if not matches(s)]
    assert not missing, "seed lines no runbook item covers (add them to MAPPING):\n" + \
        "\n".join(missing)


def test_every_mapping_entry_matches_a_seed_line(seed: list[SeedLine]) -> None:
    norms = [_normal(s.text) for s in seed]
    stale = [frag for frag, _ in MAPPING if not any(_normal(frag) in n for n in norms)]
    assert not stale, f"MAPPING fragments that match no seed line: {stale}"


def test_every_mapped_item_exists(deploy: Runbook, rollback: Runbook) -> None:
    unknown = []
    for frag, target in MAPPING:
        if target in MODEL_TARGETS:
            continue
        if not (_find(deploy, target) or _find(rollback, target)):
            unknown.append(f"{frag!r} -> {target!r}")
    assert not unknown, "MAPPING names items neither runbook has:\n" + "\n".join(unknown)


def test_seed_order_is_kept(seed: list[SeedLine], deploy: Runbook, rollback: Runbook) -> None:
    books = {"deploy": deploy, "rollback": rollback}
    positions = {k: _positions(rb) for k, rb in books.items()}
    last = {k: -1 for k in books}
    for line in seed:
        book = ORDERED.get(line.h2)
        if book is None:
            continue
        targets = [t for _, t in matches(line) if t not in MODEL_TARGETS]
        assert targets, f"line {line.lineno}: {line.text}"
        where = [positions[book][t] for t in targets if t in positions[book]]
        assert where, f"line {line.lineno} ({line.h2}) must be covered by the {book} runbook: " \
                      f"{targets}"
        pos = min(where)
        assert pos >= last[book], f"line {line.lineno} ({line.text!r}) comes out of order"
        last[book] = pos


def test_automated_items_use_the_right_kind(deploy: Runbook, rollback: Runbook) -> None:
    registry = default_registry()
    for rb in (deploy, rollback):
        for item in rb.all_items():
            if item.automated:
                step = registry.get(item.uses or "")
                assert step is not None
                if item.kind.value == "action":
                    continue
                assert step.read_only, f"{item.id} is a check but {item.uses} mutates"


def test_deployment_steps(deploy: Runbook) -> None:
    assert deploy.item("backup-databases").uses == "pg.backup"
    assert deploy.item("export-k8s-state").uses == "k8s.export"
    assert deploy.item("record-versions").uses == "k8s.versions"
    migrations = _find(deploy, "run-migrations")
    assert [i.service for i in migrations] == ["asset-service", "rights-service", "payout-service"]
    assert all(i.param("command") == ("npx", "prisma", "migrate", "deploy") for i in migrations)
    choice = deploy.item("deploy-method")
    assert [o.id for o in choice.options] == ["helm", "rolling"]
    assert choice.options[0].recommended
    helm = deploy.item("helm-upgrade")
    assert dict(helm.param("set")) == {"image.tag": "${NEW_VERSION}"}
    assert helm.param("timeout") == 600
    rolling = _find(deploy, "rolling-update")
    assert len(rolling) == 12 and rolling[-1].service == "api-gateway"
    assert rolling[0].param("image") == "${env.registry}/${service.name}:${NEW_VERSION}"
    assert rolling[0].param("timeout") == 300
    logs = deploy.item("gateway-logs")
    assert (logs.param("selector"), logs.param("tail")) == ("app=api-gateway", 100)
    expected = {s.id: s.expected for p in deploy.phases for s in p.sections}
    assert expected["backup"] == (900, 900)
    assert expected["migrations"] == (600, 1800)
    assert expected["deploy"] == (1200, 2400)
    assert expected["verification"] == (900, 900)
    assert expected["smoke-tests"] == (600, 600)


def test_rollback_steps(rollback: Runbook) -> None:
    undo = _find(rollback, "rollout-undo")
    assert undo[0].service == "api-gateway"
    assert undo[-1].service in ("auth-service", "user-service")
    assert rollback.item("helm-rollback").uses == "helm.rollback"
    db = rollback.item("database-rollback-needed")
    steps = [i.id for o in db.options for i in o.items]
    assert steps == ["scale-down-all", "restore-database", "scale-asset-for-reset",
                     "migrate-reset", "scale-up-all"]
    assert rollback.item("scale-down-all").param("replicas") == "0"
    assert rollback.item("scale-up-all").param("replicas") == "recorded"
    assert rollback.item("restore-database").param("file") == "${BACKUP_FILE}"
    assert rollback.item("migrate-reset").param("command") == \
        ("npx", "prisma", "migrate", "reset", "--force")


def test_startup_order(deploy: Runbook) -> None:
    order = [s.name for s in startup_order(deploy.services) if not s.infrastructure]
    assert len(order) == 12
    idx = order.index
    core = ("auth-service", "user-service")
    business = ("campaign-service", "creator-service", "content-service")
    extended = ("asset-service", "rights-service", "payout-service")
    assert max(map(idx, core)) < min(map(idx, business))
    assert max(map(idx, business)) < min(map(idx, extended))
    assert order[-1] == "api-gateway"
    infra = {s.name for s in deploy.services if s.infrastructure}
    assert infra == {"postgresql", "redis", "blob-storage"}
    assert {s.name for s in deploy.services if s.migrations} == set(extended)


def test_health_rows_are_services(seed: list[SeedLine], deploy: Runbook) -> None:
    rows = [s for s in seed if s.kind == "table" and s.h2 == "Health Check Endpoints"]
    assert len(rows) == 10
    checked = set(deploy.item("health-endpoints").param("services"))
    for row in rows:
        title, path, response = (c.strip().strip("`") for c in row.text.strip("|").split("|"))
        name = title.lower().replace(" ", "-")
        svc = deploy.service(name)
        assert svc.title == title
        assert svc.health == path, name
        assert response == '{"status":"healthy"}'
        assert dict(svc.expect) == {"status": "healthy"}, name
        assert name in checked
    ports = {s.name: s.port for s in deploy.services}
    assert (ports["api-gateway"], ports["auth-service"], ports["user-service"],
            ports["campaign-service"], ports["postgresql"], ports["redis"]) == \
        (8080, 8081, 8082, 8085, 5432, 6379)


def test_env_var_rows_are_in_the_checklist(seed: list[SeedLine], deploy: Runbook) -> None:
    rows = [s for s in seed if s.kind == "checkbox" and s.h2 == "Environment Variables Checklist"]
    assert len(rows) == 9
    specs = {e.name: e for e in deploy.env_checklist}
    refs = set(deploy.item("config-keys").param("refs"))
    for row in rows:
        m = re.match(r"`(\w+)` - (.+)$", row.text)
        assert m, row.text
        name, description = m.groups()
        spec = specs[name]
        assert spec.description == description
        if row.h3 == "Required for All Services":
            assert spec.services == ()
        else:
            assert spec.services, f"{name} is service-specific"
            said = re.search(r"\(([^)]*)\)$", description)
            if said and "/" not in said.group(1):
                for short in said.group(1).split(","):
                    assert f"{short.strip()}-service" in spec.services
        if spec.secret:
            assert f"secret/{spec.secret}:{name}" in refs
            assert name in deploy.secret_keys
        else:
            assert spec.config_map, f"{name}: secret or config_map"
            assert f"configmap/{spec.config_map}:{name}" in refs


def test_contact_rows_are_contacts(seed: list[SeedLine], deploy: Runbook,
                                   rollback: Runbook) -> None:
    rows = [s for s in seed if s.kind == "table" and s.h2 == "Emergency Contacts"]
    assert len(rows) == 4
    for rb in (deploy, rollback):
        have = {(c.role, c.name, c.channel) for c in rb.contacts}
        for row in rows:
            role, name, channel = (c.strip() for c in row.text.strip("|").split("|"))
            assert (role, name, channel) in have


def test_maintenance_window_policy(deploy: Runbook) -> None:
    prod = deploy.environment("production")
    assert prod.production and prod.namespace == "creatorbridge-production"
    window = prod.policy.window
    assert window is not None
    assert (window.days, window.start_minute, window.end_minute, window.tz) == \
        ((6,), 2 * 60, 6 * 60, "UTC")
    assert prod.policy.notice_hours == 24
    assert prod.policy.typed_confirmation
    assert deploy.environment("staging").policy.window is None
    assert deploy.environment("staging").namespace == "creatorbridge-staging"
    sandbox = deploy.environment("sandbox")
    assert sandbox.policy.window is None and sandbox.namespace == "creatorbridge-sandbox"


def test_no_secret_in_values(deploy: Runbook, rollback: Runbook) -> None:
    for rb in (deploy, rollback):
        for env in rb.environments:
            for key, value in env.values:
                assert not re.search(r"://[^/@\s]*:[^/@\s]*@", value), \
                    f"{env.name}.{key} has a password in its URL"
