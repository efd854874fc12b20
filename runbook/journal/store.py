"""What every journal backend offers: SQLite on one host, PostgreSQL for a team.

A `Run` talks to a `JournalStore` only. Both backends keep the same schema and
behaviour: events of a session are numbered 1, 2, 3... with no gap; an append
can be made conditional on the events written by others since the writer last
looked (`append_checked`), so two terminals writing at once keep one consistent
order and the transition rules are checked against the latest state; a
follower waits for new events with `wait`; the wheel of a session (who drives
it) is a lease that expires unless renewed.

The types both backends share live here with the protocol (a session's `SessionMeta`,
`JournalError`, and `decode_rows`, which turns stored rows into events), so the
protocol is typed with them and neither backend imports the other. `open_journal`
(backends.py) picks a backend by its locator.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from runbook.rules.events import Ev, Event

DECODE_CHUNK = 1000  # events whose payloads are decoded together
_KINDS = {e.value: e for e in Ev}


class JournalError(Exception):
    """The journal cannot be opened, read or written; the message says where and why."""


@dataclass(frozen=True, slots=True)
class SessionMeta:
    id: str
    created: float
    runbook_path: str
    runbook_title: str
    runbook_hash: str
    env: str
    dry_run: bool
    operator: str
    host: str
    ssh: str
    kube_context: str
    variables: dict[str, str]  # secrets already redacted
    dir: str


@dataclass(frozen=True, slots=True)
class Appended:
    """The outcome of `append_checked`."""

    new: list[Event] = field(default_factory=list)  # others' events since `after`, in order
    event: Event | None = None  # the event written, or None if refused
    refused: str | None = None  # why the check refused it


@dataclass(frozen=True, slots=True)
class Wheel:
    """Who drives a session: a lease renewed while the driver's terminal lives."""

    holder: str  # operator name, user@host
    token: str  # the holding process's random id
    renewed: float  # epoch seconds
    expires: float  # epoch seconds

    def live(self, now: float) -> bool:
        return now < self.expires


Check = Callable[[list[Event]], "str | None"]


class JournalStore(Protocol):
    @property
    def sessions_root(self) -> Path:
        """The local folder under which session folders (logs, copies) are made."""
        ...

    def describe(self) -> str:
        """Where the journal is, for messages (a URL without its password)."""
        ...

    def locator(self) -> str:
        """How another process opens this journal (may hold a password: never show it)."""
        ...

    def close(self) -> None: ...

    def create_session(self, meta: SessionMeta) -> None: ...

    def append(self, session_id: str, kind: Ev, item: str | None = None, actor: str = "",
               data: dict[str, Any] | None = None, ts: float | None = None) -> Event: ...

    def append_checked(self, session_id: str, after: int, check: Check, kind: Ev,
                       item: str | None = None, actor: str = "",
                       data: dict[str, Any] | None = None) -> Appended:
        """Atomically: read the session's events after `after`, call `check(new)`; if it
        returns a reason, write nothing; else append the event. No other writer can slip
        an event in between."""
        ...

    def read(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """Rows of a read-only query (`{mark}` for each parameter) on this journal's own
        connection (consistency checks read the rows as stored)."""
        ...

    def events(self, session_id: str, after: int = 0) -> list[Event]: ...

    def iter_events(self, session_id: str, after: int = 0) -> Iterator[Event]: ...

    def wait(self, session_id: str, after: int, timeout: float) -> bool:
        """Block up to `timeout` seconds until the session has an event after `after`."""
        ...

    def session(self, session_id: str) -> SessionMeta:
        """The session with this id; JournalError if there is none."""
        ...

    def sessions(self) -> list[SessionMeta]:
        """Every session, oldest first."""
        ...

    def find_session(self, prefix: str) -> SessionMeta:
        """The one session whose id starts with `prefix`; JournalError for none or several."""
        ...

    def latest_fact(self, env: str, key: str, where: Mapping[str, Any] | None = None) -> Any:
        """The newest value of fact `key` in an item result of a session of `env`; with
        `where`, only from a result whose facts also hold those values (e.g. the cluster
        and namespace the fact was recorded on)."""
        ...

    def wheel(self, session_id: str) -> Wheel | None: ...

    def take_wheel(self, session_id: str, holder: str, token: str, ttl: float,
                   force: bool = False) -> Wheel:
        """Take the wheel if it is free, expired, already ours, or `force`; return whoever
        holds it afterwards (compare its token with yours)."""
        ...

    def renew_wheel(self, session_id: str, token: str, ttl: float) -> bool: ...

    def release_wheel(self, session_id: str, token: str) -> None: ...


def decode_rows(session_id: str, rows: list[Any]) -> Iterator[Event]:
    """(seq, ts, kind, item, actor, data-as-JSON-text) rows -> events."""
    # payloads are decoded a chunk at a time, as one JSON array: a third faster than one
    # json.loads per event, which matters when a long session is folded on resume
    for start in range(0, len(rows), DECODE_CHUNK):
        chunk = rows[start:start + DECODE_CHUNK]
        try:
            payloads = json.loads("[" + ",".join([r[5] for r in chunk]) + "]")
            if len(payloads) != len(chunk):
                raise ValueError("payload count")
        except ValueError:  # a damaged payload: decode one by one to name it
            payloads = [_payload(session_id, r[0], r[5]) for r in chunk]
        for (seq, ts, kind, item, actor, _), data in zip(chunk, payloads, strict=True):
            yield Event(seq, ts, _KINDS.get(kind) or Ev(kind), item, actor, data)


def _payload(session_id: str, seq: int, text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as e:
        raise JournalError(f"session {session_id} event {seq}: damaged data: {e}") from None


def facts_match(facts: Mapping[str, Any], where: Mapping[str, Any] | None) -> bool:
    """Whether an item result's facts hold every value of `where` (None: any result)."""
    return not where or all(facts.get(k) == v for k, v in where.items())

