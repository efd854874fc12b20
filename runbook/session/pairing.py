"""Pairing on a session: who drives it (the wheel), handing it over, taking it over.

A mixin of `Run`: the driver holds the wheel (a lease renewed by `WheelKeeper`);
followers watch, co-sign and ask for the wheel; a handover and a takeover are
journaled as `wheel.passed` with who, from whom, how and why.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from runbook.journal.store import SessionMeta
from runbook.rules.events import Ev, Event
from runbook.rules.state import RunState
from runbook.session.operator import Operator
from runbook.session.wheel import WheelKeeper


class Refused(Exception):
    """A transition the rules do not allow; the message says why."""


class Pairing:
    role: str
    wheel: WheelKeeper
    operator: Operator
    meta: SessionMeta
    state: RunState
    on_role: list[Callable[[str], None]]

    def emit(self, kind: Ev, item: str | None = None, data: dict[str, Any] | None = None,
             actor: str | None = None) -> Event:
        raise NotImplementedError

    @property
    def driving(self) -> bool:
        return self.role == "driver"

    def request_wheel(self, note: str = "") -> Event:
        return self.emit(Ev.WHEEL_REQUESTED, data={"token": self.wheel.token, "note": note})

    def hand_over(self, to: str, token: str = "") -> Event:
        """Pass the wheel to a follower (by name; by token when they asked for it)."""
        if not self.driving:
            raise Refused("only the driver can hand the wheel over")
        ev = self.emit(Ev.WHEEL_PASSED, data={"to": to, "from": self.operator.name,
                                              "how": "handover", "token": token})
        self.wheel.release()
        self._set_role("follower")
        return ev

    def take_over(self, reason: str) -> Event:
        """Take the wheel from a driver whose lease expired (their terminal is gone)."""
        if self.driving:
            raise Refused("you are already driving")
        if not reason.strip():
            raise Refused("a takeover needs a reason")
        if not self.wheel.take():
            raise Refused(f"{self.wheel.describe_holder()}: ask for it, or wait until the "
                          "lease expires")
        self._set_role("driver")
        return self.emit(Ev.WHEEL_PASSED, data={"to": self.operator.name,
                                                "from": self.state.driver, "how": "takeover",
                                                "reason": reason, "token": self.wheel.token})

    def _receive_wheel(self, news: list[Event]) -> None:
        for ev in news:
            if ev.kind is not Ev.WHEEL_PASSED or ev.get("how") != "handover":
                continue
            mine = ev.get("token") == self.wheel.token or (
                not ev.get("token") and ev.get("to") == self.operator.name)
            if not mine or self.role != "follower":
                continue
            # the journaled handover is the authority: the giver may not have released its
            # lease yet (it emits, then releases), so its live lease does not stand in the way
            cur = self.wheel.current()
            giver = cur is None or cur.holder == ev.get("from")
            if self.wheel.take(force=giver):
                self._set_role("driver")

    def _lost_wheel(self) -> None:
        self._set_role("follower")

    def _set_role(self, role: str) -> None:
        self.role = role
        for fn in list(self.on_role):
            fn(role)

