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
    """A bash script with every substituted value quoted for the place it stands in.

    A value always comes out as literal text, never as code:

    - unquoted (also inside $(...) and backticks): shell-quoted, one word;
    - inside double quotes or an unquoted here-document: backslash before the
      characters special there (single quotes mean nothing inside double
      quotes, so shell-quoting alone would let X = `$(rm -rf ~)` run in "${X}");
    - inside single quotes: the quote is closed around the shell-quoted value.
    """
    out: list[str] = []
    stack = [_NORMAL]  # quoting contexts; $( ... ) and `...` open a new normal one
    pending: list[tuple[str, bool, bool]] = []  # here-documents opened on this line
    i, n, word_start = 0, len(text), True
    while i < n:
        m = REF.match(text, i)
        if m:
            out.append(_script_value(m, scope, stack[-1]))
            i, word_start = m.end(), False
            continue
        ctx, ch, two = stack[-1], text[i], text[i:i + 2]
        if ctx == _SINGLE:
            if ch == "'":
                stack.pop()
        elif ctx in (_ANSI, _DOUBLE):
            if ch == "\\":
                out.append(two)
                i += 2
                continue
            if ch == ("'" if ctx == _ANSI else '"'):
                stack.pop()
            elif ctx == _DOUBLE and two == "$(":
                stack.append(_SUB)
                out.append(two)
                i += 2
                continue
            elif ctx == _DOUBLE and ch == "`":
                stack.append(_TICK)
        else:  # unquoted: the top level, inside $( ... ) or inside `...`
            if ch == "\\":
                out.append(two)
                i += 2
                word_start = False
                continue
            if ch == "#" and word_start:  # a comment, to the end of the line
                end = text.find("\n", i)
                end = n if end < 0 else end
                out.append(render(text[i:end], scope, shlex.quote))
                i = end
                continue
            h = _HEREDOC.match(text, i)
            if h:
                pending.append((h.group("word"), bool(h.group("dash")),
                                bool(h.group("q") or h.group("bs"))))
                out.append(h.group(0))
                i, word_start = h.end(), False
                continue
            if two in ("$'", "$("):
                stack.append(_ANSI if two == "$'" else _SUB)
                out.append(two)
                i, word_start = i + 2, two == "$("
                continue
            if ch == "'":
                stack.append(_SINGLE)
            elif ch == '"':
                stack.append(_DOUBLE)
            elif ch == "(" and ctx == _SUB:
                stack.append(_SUB)
            elif ch == ")" and ctx == _SUB:
                stack.pop()
            elif ch == "`":
                if ctx == _TICK:
                    stack.pop()
                else:
                    stack.append(_TICK)
            elif ch == "\n" and pending:
                out.append(ch)
                i = _heredoc_bodies(text, i + 1, pending, scope, out)
                pending = []
                word_start = True
                continue
        out.append(ch)
        word_start = ch in " \t\n;&|()"
        i += 1
    return "".join(out)


_NORMAL, _SUB, _TICK, _SINGLE, _DOUBLE, _ANSI = "normal", "$()", "``", "''", '""', "$''"
_HEREDOC = re.compile(r"<<(?!<)(?P<dash>-?)[ \t]*(?P<bs>\\?)(?P<q>['\"]?)"
                      r"(?P<word>[A-Za-z0-9_.+-]+)(?P=q)")
_DQ_SPECIAL = re.compile(r'([\\$`"])')
_HEREDOC_SPECIAL = re.compile(r"([\\$`])")


def _script_value(m: re.Match[str], scope: Mapping[str, str], ctx: str) -> str:
    ref = m.group(1)
    if ref is None:
        return "${"
    if ref not in scope:
        raise TemplateError(f"undefined reference ${{{ref}}}", ref)
    value = scope[ref]
    if ctx == _DOUBLE:
        return _DQ_SPECIAL.sub(r"\\\1", value)
    if ctx == _SINGLE:
        return "'" + shlex.quote(value) + "'"
    if ctx == _ANSI:
        return "'" + shlex.quote(value) + "$'"
    return shlex.quote(value)


def _heredoc_bodies(text: str, i: int, pending: list[tuple[str, bool, bool]],
                    scope: Mapping[str, str], out: list[str]) -> int:
    """Copy the here-document bodies that start at `i`; return where the script goes on."""
    for word, strip_tabs, quoted in pending:
        while i < len(text):
            end = text.find("\n", i)
            end = len(text) if end < 0 else end + 1
            line = text[i:end]
            i = end
            body = line.rstrip("\n")
            if (body.lstrip("\t") if strip_tabs else body) == word:
                out.append(line)
                break
            # a quoted delimiter (<<'EOF') keeps the body literal: the value goes in as it is
            filled = render(line, scope) if quoted else \
                render(line, scope, lambda v: _HEREDOC_SPECIAL.sub(r"\\\1", v))
            for part in filled.split("\n"):
                if (part.lstrip("\t") if strip_tabs else part) == word:
                    raise TemplateError(f"a value would end the here-document <<{word} early")
            out.append(filled)
    return i
