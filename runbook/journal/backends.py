"""Which journal a locator names: a postgresql:// URL is the PostgreSQL backend, anything
else the path of a SQLite file.

Kept apart from the protocol (store.py), which both backends import: the protocol knows no
backend, and this one place knows both. Each is returned as a `JournalStore`, so mypy
checks both backends against the protocol here.
"""

from __future__ import annotations

from runbook.journal.store import JournalStore


def open_journal(locator: str) -> JournalStore:
    """A journal by its locator: a postgresql:// URL, or the path of a SQLite file."""
    if locator.startswith(("postgresql://", "postgres://")):
        from runbook.journal.postgres import PgJournal  # psycopg is loaded only for PostgreSQL
        return PgJournal(locator)
    from runbook.journal.sqlite import Journal
    return Journal(locator)
