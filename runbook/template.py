"""Templating of variables into parameters, with no shell injection.

References are written `${NAME}` (a runbook variable), `${env.KEY}` (the
environment: name, namespace, context or one of its values), `${service.KEY}`
(inside a `foreach` over services: name, port, health) and `${session.dir}`.
`$${` writes a literal `${`.

A value always stays one argument: in an argv list each element is rendered
on its own; in a shell `script` every substituted value is shell-quoted.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterator, Mapping

REF = re.compile(r"\$\$\{|\$\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)?)\s*\}")
SCOPES = ("env", "service", "session")


class TemplateError(ValueError):
    def __init__(self, message: str, ref: str = "") -> None:
        super().__init__(message)
        self.ref = ref


def references(text: str) -> Iterator[tuple[str, int]]:
    """Each `${ref}` in text with its offset; escapes skipped."""
    for m in REF.finditer(text):
        if m.group(1):
            yield m.group(1), m.start()
    # a "${" that is not a valid reference is an error the loader reports
    stripped = REF.sub("", text)
    bad = stripped.find("${")
    if bad >= 0:
        raise TemplateError(f"malformed reference near {stripped[bad:bad + 20]!r}")


def render(text: str, scope: Mapping[str, str], quote: Callable[[str], str] | None = None,
           keep: tuple[str, ...] = ()) -> str:
    """Fill in references; `quote` wraps each substituted value (shell scripts).

    A missing reference that starts with one of the `keep` prefixes is left as
    it is, for a later stage to fill in (e.g. `${service.port}` in an
    environment value used by a step that goes over every service).
    """

    def sub(m: re.Match[str]) -> str:
        ref = m.group(1)
        if ref is None:
            return "${"
        if ref not in scope:
            if ref.startswith(keep) and keep:
                return m.group(0)
            raise TemplateError(f"undefined reference ${{{ref}}}", ref)
        value = scope[ref]
        return quote(value) if quote else value

    return REF.sub(sub, text)


def render_script(text: str, scope: Mapping[str, str]) -> str:
    """A shell script with every substituted value shell-quoted: one word each."""
    return render(text, scope, shlex.quote)


def render_argv(argv: list[str], scope: Mapping[str, str]) -> list[str]:
    return [render(a, scope) for a in argv]
