"""Services and their startup order, derived from their dependencies."""

from __future__ import annotations

from runbook.format.model import Service


class DependencyCycle(ValueError):
    def __init__(self, cycle: list[str]) -> None:
        super().__init__("dependency cycle: " + " -> ".join(cycle))
        self.cycle = cycle


def startup_levels(services: list[Service] | tuple[Service, ...]) -> list[list[Service]]:
    """Services grouped by level: each level depends only on earlier ones.

    Within a level the declaration order is kept, so the order is stable.
    """
    by_name = {s.name: s for s in services}
    level: dict[str, int] = {}

    def depth(name: str, path: list[str]) -> int:
        if name in level:
            return level[name]
        if name in path:
            raise DependencyCycle([*path[path.index(name):], name])
        deps = [d for d in by_name[name].depends_on if d in by_name]
        d = 0 if not deps else 1 + max(depth(x, [*path, name]) for x in deps)
        level[name] = d
        return d

    for s in services:
        depth(s.name, [])
    out: list[list[Service]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for s in services:
        out[level[s.name]].append(s)
    return out


def startup_order(services: list[Service] | tuple[Service, ...]) -> list[Service]:
    return [s for lvl in startup_levels(services) for s in lvl]
