"""What the fuzz test knows of the format: the role of each mapping, its keys' types, and
values each type never accepts (so a mutation that puts one there is certainly an error)."""

from __future__ import annotations

from typing import Any

STR, TEXT, ID, INT, PORT, BOOL, STRS, LIST, MAP = (
    "str", "text", "id", "int", "port", "bool", "strs", "list", "map")
DURATION, RANGE, HHMM, WINDOW, SCALAR, REGEX, HEALTH = (
    "duration", "range", "hhmm", "window", "scalar", "regex", "health")

ROLES: dict[str, dict[str, str]] = {
    "top": {"runbook": INT, "title": STR, "version": STR, "owners": STRS, "description": TEXT,
            "variables": MAP, "environments": MAP, "services": LIST, "contacts": LIST,
            "env_checklist": LIST, "secret_keys": STRS, "rollback": STR, "phases": LIST},
    "variable": {"type": STR, "pattern": REGEX, "choices": STRS, "required": BOOL,
                 "default": SCALAR, "prompt": STR, "secret": BOOL, "env": STR},
    "environment": {"namespace": STR, "context": STR, "production": BOOL, "values": MAP,
                    "policy": MAP, "notify_webhook": STR},
    "policy": {"window": WINDOW, "notice": DURATION, "typed_confirmation": BOOL,
               "two_person": STRS, "lock": BOOL},
    "window": {"days": STRS, "start": HHMM, "end": HHMM, "tz": STR},
    "service": {"name": ID, "title": STR, "port": PORT, "health": HEALTH, "expect": MAP,
                "depends_on": STRS, "infrastructure": BOOL, "migrations": BOOL},
    "contact": {"role": STR, "name": STR, "channel": STR},
    "check_entry": {"name": STR, "description": TEXT, "services": STRS, "secret": STR,
                    "config_map": STR, "sensitive": BOOL},
    "phase": {"id": ID, "title": STR, "help": TEXT, "sections": LIST},
    "section": {"id": ID, "title": STR, "help": TEXT, "expected": RANGE, "items": LIST},
    "item": {"id": ID, "title": STR, "kind": STR, "help": TEXT, "required": BOOL, "uses": STR,
             "with": MAP, "timeout": DURATION, "expected": RANGE, "retries": INT,
             "foreach": STRS, "needs": STRS, "when": MAP, "options": LIST, "for": DURATION,
             "two_person": BOOL, "notice": BOOL},
    "option": {"id": ID, "title": STR, "help": TEXT, "recommended": BOOL, "items": LIST},
    "when": {"env": STRS, "choice": STR, "option": STR},
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "top": ("title", "phases", "environments"), "phase": ("id", "title", "sections"),
    "section": ("id", "title", "items"), "item": ("id", "title"), "option": ("id", "title"),
    "service": ("name",), "contact": ("role", "name", "channel"), "check_entry": ("name",),
    "window": ("days", "start", "end"),
}

BAD_DURATIONS: list[Any] = [
    "soon", "10 parsecs", "-5m", "5m-", "1e5m", "PT5M", "", "   ", "5mm", "m5", "1h 30x",
    "½h", "5½m", "9" * 400 + "s", "99999999999999999999999h", -1, -0.5, 10**30, 10**400,
    float("inf"), float("nan"), True, None, [1], {"m": 5},
]
BAD_REGEXES = ["[0-9", "(", "*a", "a{2,1}", "(?P<x", "\\", "+", "a)", "(?<=a+)b", "[z-a]",
               "(?P<n>a)(?P<n>b)", "\\k", "a**"]

_STRING_NEVER: list[Any] = [[1], ["a", "b"], {"a": 1}, None, True, False]
WRONG: dict[str, list[Any]] = {
    STR: _STRING_NEVER,
    TEXT: _STRING_NEVER,
    ID: [*_STRING_NEVER, "Upper", "with space", "é", "-lead", ""],
    HEALTH: [*_STRING_NEVER, "health", "http://x/health", ""],
    REGEX: [*_STRING_NEVER, *BAD_REGEXES],
    INT: ["many", 1.5, [1], {"a": 1}, True, None, "1", -1, -(10**30)],
    PORT: ["http", 80.5, [80], True, None, "8080", 0, -1, 65536, 10**30],
    BOOL: ["maybe", "true", 2, 0, [True], {"a": 1}, None, "Yes "],
    STRS: [{"a": "b"}, None, [[1]], [{"a": 1}], [None], [True]],
    LIST: [{"a": 1}, "x", 5, None, True],
    MAP: [[1], ["a", "b"], "x", 5, None, True],
    WINDOW: [[1], "sometimes", "all", 5, None, True, {"days": ["sun"]},
             {"days": [], "start": "02:00", "end": "06:00"},
             {"days": ["sun"], "start": "02:00", "end": "02:00"},
             {"days": ["sun"], "start": "02:00", "end": "06:00", "tz": "Mars/Olympus"},
             {"days": ["sun"], "start": "2am", "end": "06:00"}],
    HHMM: ["25:00", "2am", "02:60", "0200", "2:00", "24:01", "", [1], None, True, 7200],
    DURATION: BAD_DURATIONS,
    RANGE: [*BAD_DURATIONS, "30-10m", "5m-1m", "10 to 2 min", "1-", "-"],
    SCALAR: [[1], {"a": 1}, None],
}


def role_of(path: tuple[Any, ...]) -> str | None:
    """The role of the mapping at `path` in a runbook's data, or None for the mappings whose
    keys are names the author chooses (variables, environments, values, expect, a map
    parameter): renaming a key there is not an error."""
    if not path:
        return "top"
    last = path[-1]
    parent = path[-2] if len(path) >= 2 else None
    if len(path) == 2 and path[0] == "variables":
        return "variable"
    if len(path) == 2 and path[0] == "environments":
        return "environment"
    if len(path) == 3 and path[0] == "environments" and last == "policy":
        return "policy"
    if len(path) == 4 and path[0] == "environments" and last == "window":
        return "window"
    if len(path) == 2 and isinstance(last, int):
        return {"services": "service", "contacts": "contact", "env_checklist": "check_entry",
                "phases": "phase"}.get(str(path[0]))
    if path[0] != "phases":
        return None
    if isinstance(last, int):
        return {"sections": "section", "items": "item", "options": "option"}.get(str(parent))
    if last == "when" and isinstance(parent, int):
        return "when"
    if last == "with" and isinstance(parent, int):
        return "with"
    return None
