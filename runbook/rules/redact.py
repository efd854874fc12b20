"""Redaction of secrets: by exact value, and passwords in URLs."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

MASK = "•••"
URL_PASSWORD = re.compile(r"(?P<pre>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s/]+)(?=@)")
MIN_SECRET = 4  # shorter values would mask ordinary words; they are refused as secrets upstream


def url_passwords(text: str) -> list[str]:
    """The passwords of every URL in `text` (to register as secrets)."""
    return [m.group("pw") for m in URL_PASSWORD.finditer(text)]


def mask_url_password(text: str) -> str:
    """URLs with their passwords masked: scheme://user:•••@host."""
    return URL_PASSWORD.sub(lambda m: m.group("pre") + MASK, text)


def strip_url_password(text: str) -> str:
    """URLs without their passwords at all: scheme://user@host."""
    return URL_PASSWORD.sub(lambda m: m.group("pre")[:-1], text).replace("://@", "://")


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        self._pattern: re.Pattern[str] | None = None
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        new = {s for s in secrets if s and len(s) >= MIN_SECRET} - set(self._secrets)
        if not new:
            return
        self._secrets = sorted(set(self._secrets) | new, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(s) for s in self._secrets))

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(self._secrets)

    def __call__(self, text: str) -> str:
        if self._pattern is not None:
            text = self._pattern.sub(MASK, text)
        if "://" in text:
            text = mask_url_password(text)
        return text

    def data(self, value: Any) -> Any:
        """Redact every string inside a JSON-like value."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {k: self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value
