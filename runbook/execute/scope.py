"""The values templates see for one item, and the rendering of its parameters."""

from __future__ import annotations

from typing import Any

from runbook.execute.stepkind import StepKind
from runbook.format.model import Environment, Item, Runbook
from runbook.format.params import ParamType
from runbook.format.template import render, render_script


def scope_for(runbook: Runbook, env: Environment, variables: dict[str, str], session_id: str,
              session_dir: str, operator: str, item: Item | None = None) -> dict[str, str]:
    scope: dict[str, str] = dict(variables)
    scope.update({"env.name": env.name, "env.namespace": env.namespace,
                  "env.context": env.context})
    for k, v in env.values:
        scope[f"env.{k}"] = v
    scope.update({"session.id": session_id, "session.dir": session_dir,
                  "session.operator": operator})
    if item is not None and item.service:
        svc = runbook.service(item.service)
        scope.update({"service.name": svc.name, "service.port": str(svc.port or ""),
                      "service.health": svc.health or "", "service.title": svc.title or svc.name})
    # env values may themselves refer to variables, e.g. a registry path with ${NEW_VERSION}
    for k, v in list(scope.items()):
        if k.startswith("env.") and "${" in v:
            plain = {kk: vv for kk, vv in scope.items() if not kk.startswith("env.")}
            scope[k] = render(v, plain, keep=("service.",))
    return scope


def render_params(step: StepKind, item: Item, scope: dict[str, str]) -> dict[str, Any]:
    """The item's parameters with every reference filled in; shell scripts quoted."""
    types = {p.name: p for p in step.params}
    out: dict[str, Any] = {}
    for key, value in item.params:
        p = types.get(key)
        out[key] = _render(value, scope, bool(p and p.shell_quoted))
        if p is not None and p.type in (ParamType.INT,) and isinstance(out[key], str):
            out[key] = int(out[key])
    return out


def _render(value: Any, scope: dict[str, str], shell: bool) -> Any:
    if isinstance(value, str):
        return render_script(value, scope) if shell else render(value, scope)
    if isinstance(value, tuple) and value and isinstance(value[0], tuple):
        return {k: _render(v, scope, False) for k, v in value}
    if isinstance(value, tuple | list):
        return [_render(v, scope, False) for v in value]
    return value
