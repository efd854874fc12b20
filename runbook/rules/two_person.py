"""Rules of an environment's policy that depend on who acts: the two-person rule.

An item under the rule (named in `policy.two_person`, or every mutating item with
`two_person: all-mutating`, or marked `two_person: true`) cannot be run, confirmed or
chosen until a second operator, a different user, has co-signed it. Dry runs are exempt:
nothing mutates. An override (with its journaled reason) remains the way out when no
second person can be reached.
"""

from __future__ import annotations

from runbook.format.model import Environment, Item
from runbook.rules.events import Ev
from runbook.rules.state import RunState

GUARDED = (Ev.ITEM_STARTED, Ev.ITEM_INTENT, Ev.ITEM_CONFIRMED, Ev.ITEM_CHOSEN)


def needs_second_person(env: Environment, item: Item) -> bool:
    pol = env.policy
    names = set(pol.two_person_items)
    return (item.two_person or item.id in names or (item.template_id or "") in names
            or (pol.two_person_all_mutating and item.mutating))


def user_of(actor: str) -> str:
    return actor.split("@", 1)[0]


def two_person_refusal(env: Environment, state: RunState, item: Item, kind: Ev, actor: str,
                       dry_run: bool, driver: str) -> str | None:
    if kind is Ev.ITEM_COSIGNED:
        if not needs_second_person(env, item):
            return "this item does not need a co-sign"
        if user_of(actor) == user_of(driver):
            return (f"{user_of(actor)} is driving this session: a co-sign must come from a "
                    "different user")
        return None
    if dry_run or kind not in GUARDED or not needs_second_person(env, item):
        return None
    cosigned = state.items[item.id].cosigned_by
    if cosigned and user_of(cosigned) != user_of(actor):
        return None
    return ("two-person rule: a second operator (a different user) must co-sign this item "
            "first, from `runbook attach`; or override it with a reason")
