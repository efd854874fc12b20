"""Step kinds. `default_registry()` maps every kind name to its implementation."""

from __future__ import annotations

from runbook.execute.stepkind import StepKind, StepRegistry


def implemented_kinds() -> list[StepKind]:
    from steps.helm import HelmRollback, HelmUpgrade
    from steps.http.check import HttpCheck
    from steps.http.health import HttpHealth
    from steps.kube.deploy import RolloutStatusStep, RolloutUndo, Scale, SetImage
    from steps.kube.inspect import ClusterHealth, ConfigKeys, NodeCapacity, Pods, Pvcs
    from steps.kube.pod_ops import Exec, Logs
    from steps.kube.snapshot import Export, Versions
    from steps.notify import Webhook
    from steps.pg.checks import PgConnect, PgConnections, PgPool
    from steps.pg.dump import PgBackup, PgRestore
    from steps.pg.replication import PgReplication
    from steps.redis_health import RedisHealth
    from steps.shell import ShellStep
    from steps.wait import WaitStep

    return [ShellStep(), WaitStep(), ClusterHealth(), NodeCapacity(), Pvcs(), ConfigKeys(),
            Pods(), Versions(), Export(), SetImage(), RolloutStatusStep(), RolloutUndo(),
            Scale(), Exec(), Logs(), HttpHealth(), HttpCheck(), HelmUpgrade(), HelmRollback(),
            Webhook(), PgConnect(), PgPool(), PgReplication(), PgConnections(), PgBackup(),
            PgRestore(), RedisHealth()]


def default_registry() -> StepRegistry:
    """Every kind: the implemented ones, and the declared ones of later issues."""
    from steps.planned import planned_kinds

    real = implemented_kinds()
    names = {k.name for k in real}
    return StepRegistry([*real, *(k for k in planned_kinds() if k.name not in names)])
