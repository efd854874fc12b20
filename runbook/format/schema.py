"""The JSON Schema of the runbook format, built from the step registry.

`runbook schema > runbook.schema.json` gives editors (VS Code's YAML
extension, for one) validation and completion. The loader remains the
judge: it also checks references, cycles and templates, which a schema
cannot express.
"""

from __future__ import annotations

from typing import Any

from runbook.format.model import ItemKind, VarType
from runbook.format.params import KindCatalog, ParamType

DURATION: dict[str, Any] = {
    "description": "seconds, or e.g. 30s, 15m, 1h30m",
    "anyOf": [{"type": "number", "minimum": 0}, {"type": "string", "pattern": r"^[\d.\s]*[a-z\d.\s]*$"}],
}
RANGE: dict[str, Any] = {"description": "expected duration: 15m, or a range like 10-30m",
                         "anyOf": [{"type": "number"}, {"type": "string"}]}
ID: dict[str, Any] = {"type": "string", "pattern": r"^[a-z0-9][a-z0-9_.-]*$"}
STRS: dict[str, Any] = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}


def _param(t: ParamType, choices: tuple[str, ...]) -> dict[str, Any]:
    if t is ParamType.STR:
        return {"type": "string", "enum": list(choices)} if choices else {"type": "string"}
    if t is ParamType.INT:
        return {"anyOf": [{"type": "integer"}, {"type": "string", "pattern": r"\$\{"}]}
    if t is ParamType.NUMBER:
        return {"type": "number"}
    if t is ParamType.BOOL:
        return {"type": "boolean"}
    if t is ParamType.STR_LIST:
        return STRS
    if t is ParamType.MAP:
        return {"type": "object", "additionalProperties": {"type": "string"}}
    return DURATION


def _step_branches(registry: KindCatalog) -> list[dict[str, Any]]:
    out = []
    for k in registry.kinds():
        if k.name == "wait":
            continue
        props = {p.name: {**_param(p.type, p.choices), "description": p.doc} for p in k.params}
        out.append({
            "if": {"properties": {"uses": {"const": k.name}}, "required": ["uses"]},
            "then": {"properties": {"with": {
                "type": "object", "properties": props, "additionalProperties": False,
                "required": [p.name for p in k.params if p.required],
            }}},
        })
    return out


def json_schema(registry: KindCatalog) -> dict[str, Any]:
    item: dict[str, Any] = {
        "type": "object",
        "required": ["id", "title"],
        "additionalProperties": False,
        "properties": {
            "id": ID, "title": {"type": "string"}, "help": {"type": "string"},
            "kind": {"enum": [k.value for k in ItemKind], "default": "confirm"},
            "required": {"type": "boolean"},
            "uses": {"enum": [n for n in registry.names() if n != "wait"],
                     "description": "step kind (check and action items)"},
            "with": {"type": "object", "description": "parameters of the step kind"},
            "timeout": DURATION, "expected": RANGE, "for": DURATION,
            "retries": {"type": "integer", "minimum": 0, "maximum": 100},
            "foreach": {"anyOf": [{"enum": ["services", "services-reversed"]},
                                  {"type": "array", "items": {"type": "string"}}]},
            "needs": STRS,
            "when": {"type": "object", "additionalProperties": False, "properties": {
                "env": STRS, "choice": {"type": "string"}, "option": {"type": "string"}}},
            "two_person": {"type": "boolean"},
            "notice": {"type": "boolean", "description": "confirms the advance notice of the "
                       "environment's policy; where it has one, the confirmation must say who "
                       "sent the notice"},
            "options": {"type": "array", "items": {"$ref": "#/$defs/option"}},
        },
        "allOf": _step_branches(registry),
    }
    option = {"type": "object", "required": ["id", "title"], "additionalProperties": False,
              "properties": {"id": ID, "title": {"type": "string"}, "help": {"type": "string"},
                             "recommended": {"type": "boolean"},
                             "items": {"type": "array", "items": {"$ref": "#/$defs/item"}}}}
    variable = {"type": "object", "additionalProperties": False, "properties": {
        "type": {"enum": [v.value for v in VarType]}, "pattern": {"type": "string"},
        "choices": {"type": "array", "items": {"type": "string"}},
        "required": {"type": "boolean"}, "default": {"type": ["string", "number", "boolean"]},
        "prompt": {"type": "string"}, "secret": {"type": "boolean"},
        "env": {"type": "string", "description": "read the value from this environment variable"}}}
    window = {"anyOf": [{"const": "any"}, {
        "type": "object", "required": ["days", "start", "end"], "additionalProperties": False,
        "properties": {"days": STRS, "start": {"type": "string", "pattern": r"^\d\d:\d\d$"},
                       "end": {"type": "string", "pattern": r"^\d\d:\d\d$"},
                       "tz": {"type": "string"}}}]}
    policy = {"type": "object", "additionalProperties": False, "properties": {
        "window": window, "notice": DURATION, "typed_confirmation": {"type": "boolean"},
        "two_person": {"anyOf": [{"const": "all-mutating"}, STRS]}, "lock": {"type": "boolean"}}}
    environment = {"type": "object", "additionalProperties": False, "properties": {
        "namespace": {"type": "string"}, "context": {"type": "string"},
        "production": {"type": "boolean"}, "notify_webhook": {"type": "string"},
        "values": {"type": "object", "additionalProperties": {"type": "string"}},
        "policy": policy}}
    service = {"type": "object", "required": ["name"], "additionalProperties": False,
               "properties": {"name": ID, "title": {"type": "string"},
                              "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                              "health": {"type": "string"},
                              "expect": {"type": "object"}, "depends_on": STRS,
                              "infrastructure": {"type": "boolean"},
                              "migrations": {"type": "boolean"}}}
    section = {"type": "object", "required": ["id", "title", "items"],
               "additionalProperties": False, "properties": {
                   "id": ID, "title": {"type": "string"}, "help": {"type": "string"},
                   "expected": RANGE, "items": {"type": "array", "items": {"$ref": "#/$defs/item"}}}}
    phase = {"type": "object", "required": ["id", "title", "sections"],
             "additionalProperties": False, "properties": {
                 "id": ID, "title": {"type": "string"}, "help": {"type": "string"},
                 "sections": {"type": "array", "items": section}}}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "runbook",
        "type": "object",
        "required": ["title", "environments", "phases"],
        "additionalProperties": False,
        "properties": {
            "runbook": {"const": 1, "description": "format version"},
            "title": {"type": "string"}, "version": {"type": ["string", "number"]},
            "owners": STRS, "description": {"type": "string"},
            "variables": {"type": "object", "additionalProperties": variable},
            "environments": {"type": "object", "additionalProperties": environment},
            "services": {"type": "array", "items": service},
            "contacts": {"type": "array", "items": {
                "type": "object", "required": ["role", "name", "channel"],
                "properties": {k: {"type": "string"} for k in ("role", "name", "channel")}}},
            "env_checklist": {"type": "array", "items": {
                "type": "object", "required": ["name"], "properties": {
                    "name": {"type": "string"}, "description": {"type": "string"},
                    "services": STRS, "secret": {"type": "string"},
                    "config_map": {"type": "string"}, "sensitive": {"type": "boolean"}}}},
            "secret_keys": STRS,
            "rollback": {"type": "string"},
            "phases": {"type": "array", "items": phase},
        },
        "$defs": {"item": item, "option": option},
    }
