"""Pairing from the keyboard: co-sign (a follower), ask for / hand over the wheel, take over.

A mixin of RunScreen, beside RunActions. Everything goes through the engine, which
journals it or refuses it with a reason; the refusal is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message
from textual.screen import Screen

from runbook.format.model import Item
from runbook.rules.two_person import needs_second_person
from runbook.session.run import Refused, Run
from screens.modals.confirm_modal import ConfirmModal
from screens.modals.reason_modal import ReasonModal


@dataclass
class RoleChanged(Message):
    """This terminal started or stopped driving (posted from any thread)."""

    role: str


class PairingActions(Screen[None]):
    run: Run

    if TYPE_CHECKING:
        @property
        def current_item(self) -> Item | None: ...  # RunActions has it

    def watch_role(self) -> None:
        def changed(role: str) -> None:
            self.post_message(RoleChanged(role))

        self.run.on_role.append(changed)

    def on_role_changed(self, message: RoleChanged) -> None:
        if message.role == "driver":
            self.notify("you are driving now", title="Wheel", timeout=8)
        else:
            self.notify(f"{self.run.state.driver or 'someone else'} is driving: you follow "
                        "(read-only; w asks for the wheel)", title="Wheel", severity="warning",
                        timeout=8)
        self.refresh_bindings()

    def action_cosign_item(self) -> None:
        item = self.current_item
        if item is None:
            return
        if not needs_second_person(self.run.env, item):
            self.notify(f"{item.id} does not need a co-sign", severity="warning")
            return
        detail = self.run.describe(item) if item.automated else self.run.text(item, "help")

        def answer(yes: bool | None) -> None:
            if yes:
                try:
                    self.run.cosign(item.id, self.run.operator.name)
                except Refused as e:
                    self.notify(str(e), title="Cannot co-sign", severity="error")
                    return
                self.notify(f"co-signed {item.id} as {self.run.operator.name}")

        self.app.push_screen(ConfirmModal(
            f"Co-sign {item.id}: {self.run.text(item)}\n\n{detail}\n\n"
            f"You approve it as the second person ({self.run.operator.name}); "
            f"{self.run.state.driver} runs it.", yes="Co-sign", no="Not now"), answer)

    def action_wheel(self) -> None:
        """Follower: ask for the wheel. Driver: hand it to whoever asked (or the follower)."""
        run = self.run
        if not run.driving:
            try:
                run.request_wheel()
            except Refused as e:
                self.notify(str(e), severity="error")
                return
            self.notify(f"asked {run.state.driver} for the wheel", title="Wheel")
            return
        asked = run.state.wheel_asked
        watching = {t: who for t, who in run.state.followers.items() if who != run.operator.name
                    or t != run.wheel.token}
        if asked is None and len(watching) != 1:
            self.notify("nobody asked for the wheel" if not watching else
                        "several people follow: the one who should drive asks with w",
                        title="Wheel", severity="warning")
            return
        who, token = asked if asked is not None else next(
            (name, tok) for tok, name in watching.items())

        def answer(yes: bool | None) -> None:
            if yes:
                try:
                    run.hand_over(who, token)
                except Refused as e:
                    self.notify(str(e), severity="error")

        self.app.push_screen(ConfirmModal(
            f"Hand the wheel to {who}? You will follow, read-only.", yes="Hand over",
            no="Keep driving"), answer)

    def action_take_over(self) -> None:
        if self.run.driving:
            self.notify("you are driving", severity="warning")
            return

        def done(reason: str | None) -> None:
            if reason:
                try:
                    self.run.take_over(reason)
                except Refused as e:
                    self.notify(str(e), title="Cannot take over", severity="error")

        self.app.push_screen(ReasonModal(
            f"Take over the wheel from {self.run.state.driver}: only once their lease has "
            "expired (their terminal is gone)."), done)
