"""Syntactic mutations of the bundled runbooks' text for the fuzz test: each certain to be wrong.

Duplicated key lines, indentation off by one, tabs, truncation (before the phases, inside a
flow collection or a quoted string), control characters, unknown tags, absurd nesting and
binary garbage.
"""

from __future__ import annotations

from tests.unit.fuzz_inputs import Base, Case, Pick, one

# bytes that are never valid in a runbook: not UTF-8, or characters YAML refuses
BAD_BYTES = (b"\x00", b"\xff", b"\xfe\xff", b"\xc3\x28", b"\x01", b"\x1b[31m", b"\x7f", b"\x08",
             b"\xed\xa0\x80", b"\xef\xbf\xbe", b"\xc0\xaf", b"\x80", b"\xf8\x88\x80\x80\x80",
             b"\xef\xbf\xbf", b"\x0b", b"\x0c", b"\x1f")
CONTROL = ("\x00", "\x01", "\x07", "\x1b", "\x7f", "\x9b", "\ufffe", "\uffff", "\x0c", "\x0e")
TAGS = ("!fancy ", "!Ref ", "!!python/object:os.system ", "!<tag:example.com,2000:x> ",
        "!!python/name:builtins.eval ", "!include ")


def _lines(b: Base) -> list[str]:
    return b.text.splitlines(keepends=True)


def dup_key_line(pick: Pick, b: Base) -> Case:
    lines = _lines(b)
    n = one(pick, b.key_lines)
    lines.insert(n + 1, lines[n])
    return Case(b.name, f"duplicate line {n + 1}: {lines[n].strip()[:40]}", "".join(lines))


def indent(pick: Pick, b: Base) -> Case:
    lines = _lines(b)
    n = one(pick, b.key_lines)
    line = lines[n]
    delta = one(pick, (1, -1)) if line.startswith(" ") else 1
    lines[n] = " " + line if delta > 0 else line[1:]
    return Case(b.name, f"indent line {n + 1} by {delta:+d}", "".join(lines))


def tab(pick: Pick, b: Base) -> Case:
    lines = _lines(b)
    n = one(pick, b.key_lines)
    line = lines[n]
    if line.startswith(" ") and one(pick, (True, False)):
        lines[n] = "\t" + line[1:]
    else:
        lines[n] = "\t" + line
    return Case(b.name, f"tab on line {n + 1}", "".join(lines))


def truncate(pick: Pick, b: Base) -> Case:
    mode = one(pick, ("header", "flow", "quoted"))
    spans = {"flow": b.flow_spans, "quoted": b.quoted_spans}.get(mode)
    if spans:
        start, end = one(pick, spans)
        cut = start + 1 + pick.index(end - start - 1)
    else:
        mode = "header"
        cut = pick.index(b.phases_end)
    return Case(b.name, f"truncated at {cut} ({mode})", b.text[:cut])


def control_char(pick: Pick, b: Base) -> Case:
    at = pick.index(len(b.text))
    ch = one(pick, CONTROL)
    return Case(b.name, f"control character {ch!r} at {at}", b.text[:at] + ch + b.text[at:])


def unknown_tag(pick: Pick, b: Base) -> Case:
    at = one(pick, b.scalar_values)
    tag = one(pick, TAGS)
    return Case(b.name, f"tag {tag.strip()} at {at}", b.text[:at] + tag + b.text[at:])


def deep_nesting(pick: Pick, b: Base) -> Case:
    """A value nested far deeper than any runbook (and, at 1,200, than Python's parser goes)."""
    at = one(pick, b.scalar_values)
    depth = one(pick, (65, 300, 1200))
    end = b.text.find("\n", at)
    return Case(b.name, f"nested {depth} deep at {at}",
                b.text[:at] + "[" * depth + "]" * depth + b.text[end:])


def garbage(pick: Pick, b: Base) -> Case:
    raw = b.text.encode("utf-8")
    junk = bytearray(bytes(pick.index(256) for _ in range(pick.index(8))))
    bad = one(pick, BAD_BYTES)
    where = pick.index(len(junk) + 1)
    junk[where:where] = bad
    mode = one(pick, ("insert", "replace", "append", "prepend", "whole"))
    at = pick.index(len(raw))
    if mode == "insert":
        data = raw[:at] + junk + raw[at:]
    elif mode == "replace":
        data = raw[:at] + junk + raw[at + len(junk):]
    elif mode == "append":
        data = raw + junk
    elif mode == "prepend":
        data = bytes(junk) + raw
    else:
        data = bytes(junk)
    return Case(b.name, f"binary garbage {bytes(junk)!r} ({mode} at {at})", data=bytes(data))


def random_file(pick: Pick, b: Base) -> Case:
    """A file of random bytes: never a runbook (no title, environments or phases)."""
    data = bytes(pick.index(256) for _ in range(pick.index(80)))
    return Case("random", f"random bytes {data[:24]!r}", data=data)


SYNTACTIC = (dup_key_line, indent, tab, truncate, control_char, unknown_tag, deep_nesting, garbage,
             random_file)
