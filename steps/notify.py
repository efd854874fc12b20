"""Notifications: a Slack-compatible webhook, as a step kind and as the session notifier.

The notifier posts on session start, phase completion, failures and finish,
on a background thread; a delivery failure is reported to the caller (which
shows and journals it) and is never fatal.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from runbook.execute.stepkind import Outcome, StepContext, StepResult
from runbook.format.params import Param, ParamType
from steps.base import BaseStep


def post(url: str, text: str, timeout: float = 10.0) -> str | None:
    """Post {"text": ...}; None on success, else why it failed (one line)."""
    import httpx
    try:
        resp = httpx.post(url, json={"text": text}, timeout=timeout)
    except httpx.HTTPError as e:
        text = str(e).replace(url, "•••")  # the URL is a credential: mask it before cutting
        return f"webhook unreachable: {text[:100] or type(e).__name__}"
    if resp.status_code >= 300:
        return f"webhook answered HTTP {resp.status_code}"
    return None


class Webhook(BaseStep):
    name = "notify.webhook"
    doc = "post a Slack-compatible message to a webhook"
    params: ClassVar[tuple[Param, ...]] = (Param("url", ParamType.STR, True),
                                          Param("text", ParamType.STR, True))

    def describe(self, params: Mapping[str, Any]) -> str:
        return f"post to the webhook: {params.get('text')}"

    def run(self, ctx: StepContext) -> StepResult:
        ctx.secret(str(ctx.param("url")))  # webhook URLs are credentials
        why = post(str(ctx.param("url")), str(ctx.param("text")))
        if why:
            return StepResult(Outcome.FAILED, why)
        return StepResult(Outcome.PASSED, "delivered")


class Notifier:
    """Sends messages in order on one thread; reports each failure through `on_failure`."""

    def __init__(self, url: str, on_failure: Callable[[str, str], None]) -> None:
        self.url = url
        self.on_failure = on_failure
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="notifier", daemon=True)
        self._thread.start()

    def send(self, text: str) -> None:
        self._queue.put(text)

    def close(self, timeout: float = 5.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            text = self._queue.get()
            if text is None:
                return
            why = post(self.url, text)
            if why:
                self.on_failure(text, why)


def attach_notifier(run: Any) -> Notifier | None:
    """Post the session's milestones to its environment's webhook, if it has one, while
    `run` drives (a terminal that handed the wheel over falls silent). Attached by the
    session lifecycle (runbook.session.lifecycle), which closes it last."""
    from runbook.format.template import TemplateError, render
    from runbook.rules.events import Ev
    from runbook.session.notifications import message_for
    raw = run.env.notify_webhook
    if not raw:
        return None
    try:
        url = render(raw, run.variables)
    except TemplateError:
        return None
    run.redactor.add([url])

    def failed(text: str, why: str) -> None:
        from runbook.session.run import Refused
        try:
            run.emit(Ev.NOTIFY_FAILED, data={"text": text, "error": why})
        except Refused:
            pass  # never let a journaling refusal kill the notifier

    notifier = Notifier(url, failed)

    def on_event(ev: Any, state: Any) -> None:
        if not getattr(run, "driving", True):  # whoever drives now posts it (no duplicates)
            return
        text = message_for(ev, run.runbook, run.env.name, run.meta.dry_run, run.meta.id)
        if text:
            notifier.send(run.redactor(text))

    run.subscribe(on_event)
    last = run.journal.events(run.meta.id)[-1:]
    if last and last[0].kind is Ev.SESSION_STARTED:  # emitted before we subscribed
        on_event(last[0], run.state)
    return notifier
