"""Is a HiveQL statement safe to run twice? (urllib3 retries only idempotent methods; this is the same question.)

When the connection breaks after a statement was sent, nobody knows whether it ran. Re-running it elsewhere is right
only when running it twice changes nothing: queries and session-level commands (``SELECT``, ``WITH ... SELECT``,
``FROM ... SELECT``, ``VALUES``, ``SHOW``, ``DESCRIBE``/``DESC``, ``EXPLAIN`` (not ``EXPLAIN ANALYZE``, which runs the
statement), ``USE``, ``SET``). Anything else, and anything this module cannot read with certainty, is not.
Pure: text in, bool out.
"""
from __future__ import annotations

import re
from typing import List, Optional

__all__ = ["is_read_only"]

READ_ONLY = frozenset({"select", "values", "show", "describe", "desc", "use", "set"})
#: Words that make a query write (or run a script) wherever they stand outside literals, also inside parentheses
#: (``WITH ... INSERT``, Hive's ``FROM t INSERT OVERWRITE ...``, ``SELECT TRANSFORM(...) USING 'script'``), unless
#: they are a function call (``replace(...)``).
WRITES = frozenset({"insert", "update", "delete", "merge", "upsert", "into", "overwrite", "create", "drop", "alter",
                    "truncate", "load", "import", "export", "msck", "grant", "revoke", "analyze", "compact", "replace",
                    "lock", "unlock", "reload", "kill", "abort", "using", "map", "reduce"})
_TOKEN = re.compile(r"""
      (?P<ws>\s+)
    | (?P<line_comment>--[^\n]*)
    | (?P<block_comment>/\*.*?\*/)
    | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<quoted>`(?:[^`]|``)*`)
    | (?P<word>[A-Za-z_][A-Za-z_0-9]*)
    | (?P<open>\()
    | (?P<close>\))
    | (?P<semicolon>;)
    | (?P<other>.)
""", re.VERBOSE | re.DOTALL)


def is_read_only(statement: Optional[str]) -> bool:
    """True when ``statement`` (one or more, ``;``-separated) only reads or sets session state."""
    if not isinstance(statement, str):
        return False
    statements = _top_level_words(statement)
    if statements is None or not any(statements):
        return False
    return all(_read_only(words) for words in statements if words)


def _read_only(words: List[str]) -> bool:
    first = words[0]
    if first == "explain":
        rest = words[1:]
        if rest and rest[0] == "analyze":  # EXPLAIN ANALYZE runs the statement
            return _read_only(rest[1:]) if len(rest) > 1 else False
        return True
    if first in ("set", "use", "show", "describe", "desc"):  # SHOW CREATE TABLE, SHOW LOCKS: still reads
        return True
    if first in ("select", "values", "with", "from"):
        return not WRITES.intersection(words) and ("select" in words or first == "values")
    return False


def _calls(text: str, position: int) -> bool:
    """Whether the word ending at ``position`` is immediately followed by ``(`` (spaces allowed)."""
    rest = text[position:position + 64].lstrip()
    return rest.startswith("(")


def _top_level_words(text: str) -> Optional[List[List[str]]]:
    """Lower-cased words outside literals, comments and parentheses, per ``;``-separated statement; None when the
    text cannot be read (an unterminated literal or comment, unbalanced parentheses)."""
    statements: List[List[str]] = [[]]
    depth = 0
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:  # pragma: no cover - "other" matches any character
            return None
        kind, value = match.lastgroup, match.group()
        position = match.end()
        if kind == "other" and value in "'\"`" or kind == "other" and text.startswith("/*", match.start()):
            return None  # an opening quote or comment that never closes
        if kind == "open":
            depth += 1
        elif kind == "close":
            depth -= 1
            if depth < 0:
                return None
        elif kind == "semicolon" and depth == 0:
            statements.append([])
        elif kind == "word":
            word = value.lower()
            if word in WRITES and _calls(text, position):
                continue  # replace(a, b, c), map(k, v): a function, not a statement word
            if depth == 0 or word in WRITES:  # a write inside a subquery or CTE body still writes
                statements[-1].append(word)
    return statements if depth == 0 else None
