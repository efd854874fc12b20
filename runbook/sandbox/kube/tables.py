"""Server-side Table output (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`)."""

from __future__ import annotations

from typing import Any

from .common import Obj
from .resources import Resource
from .table_rows import COLUMNS, Column

TABLE_API = "meta.k8s.io/v1"


def wants_table(accept: str) -> bool:
    """True if the Accept header asks for a Table first (kubectl get's human output)."""
    for part in accept.split(","):
        params = [p.strip() for p in part.split(";")]
        if "as=Table" in params:
            return True
        if params and params[0] in ("application/json", "*/*", "application/yaml"):
            return False
    return False


def _columns(res: Resource) -> tuple[list[Column], bool]:
    extra = COLUMNS.get(res.kind)
    if extra is None:
        return [("Name", "string", 0), ("Created At", "date", 0)], True
    first: Column = ("Last Seen", "string", 0) if res.kind == "Event" else ("Name", "string", 0)
    return [first, *extra[0]], False


def column_definitions(res: Resource) -> list[Obj]:
    cols, _ = _columns(res)
    out = []
    for name, typ, priority in cols:
        definition: Obj = {"name": name, "type": typ, "format": "", "description": name,
                           "priority": priority}
        if name == "Name":
            definition["format"] = "name"
        out.append(definition)
    return out


def cells(res: Resource, obj: Obj) -> list[Any]:
    extra = COLUMNS.get(res.kind)
    md = obj.get("metadata") or {}
    if extra is None:
        return [md.get("name", ""), md.get("creationTimestamp", "")]
    if res.kind == "Event":
        return extra[1](obj)
    return [md.get("name", ""), *extra[1](obj)]


def row(res: Resource, obj: Obj, include: str) -> Obj:
    out: Obj = {"cells": cells(res, obj)}
    if include == "Object":
        out["object"] = obj
    elif include != "None":
        out["object"] = {"kind": "PartialObjectMetadata", "apiVersion": TABLE_API,
                         "metadata": obj.get("metadata") or {}}
    return out


def table(res: Resource, objs: list[Obj], include: str, resource_version: int | str,
          continue_token: str = "", with_columns: bool = True) -> Obj:
    md: Obj = {"resourceVersion": str(resource_version)}
    if continue_token:
        md["continue"] = continue_token
    out: Obj = {"kind": "Table", "apiVersion": TABLE_API, "metadata": md}
    out["columnDefinitions"] = column_definitions(res) if with_columns else None
    out["rows"] = [row(res, o, include) for o in objs]
    return out


