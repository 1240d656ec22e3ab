"""Is a HiveQL statement safe to run twice? (urllib3 retries only idempotent methods; this is the same question.)

When the connection breaks after a statement was sent, nobody knows whether it ran. Re-running it elsewhere is right
only when running it twice changes nothing, so the rule is *when in doubt, no*: ``is_read_only`` is True only for
text it can read completely, every ``;``-separated statement of which is one of

- a query: it starts with ``SELECT``, ``WITH``, ``FROM`` or ``VALUES``, contains ``SELECT`` (or is ``VALUES``), and
  none of the words in ``WRITES`` (``INSERT``, ``INTO``, ``OVERWRITE``, ``CREATE``, ...) anywhere, also inside
  parentheses;
- ``SHOW ...``, ``DESCRIBE ...`` / ``DESC ...`` (whatever follows: ``SHOW CREATE TABLE`` only reads) and ``USE ...``;
- ``EXPLAIN``, any of Hive's and Spark's options (``EXPLAIN_OPTIONS``), then a statement accepted here. ``EXPLAIN
  ANALYZE`` and ``EXPLAIN REOPTIMIZATION`` run the statement, so an explained write is never accepted, with or
  without options;
- ``SET``, ``SET key``, ``SET key=value``: it changes the session only (the value is text, never run), and setting
  the same value again on a new session is what the user asked for. Not accepted: a key with a prefix other than
  ``hiveconf:`` / ``hivevar:`` (``system:`` sets a property of the server's JVM, shared by every session;
  ``metaconf:`` the metastore's; ``env:`` cannot be set), and Spark's ``SET VAR`` (it evaluates an expression).

and in which every function call is to a built-in of both Hive (2.3 and later) and Spark (3.0 and later) that
only computes (``PURE_FUNCTIONS``). A name built into only one of them is, on the other, whatever function a user
gave that name; ``reflect``, ``reflect2``, ``java_method`` (they call any Java method), ``TRANSFORM``, ``in_file``,
``xpath``, ``get_splits`` and every user-defined function, qualified or quoted, make the text not read-only: only
its author knows what a UDF does. (A built-in's unqualified name is the built-in on the server that runs the text
again: permanent functions resolve after built-ins, and that server's session is new, without temporary functions.)
A name followed by ``(`` is a call except where the parentheses open a subquery (``(SELECT``, ``(WITH``), follow
``AS`` (a type such as ``DECIMAL(10, 2)``, an alias's column list), or belong to a keyword no function can be named
after on either server (``ON``, ``USING``, ``JOIN``, ``UNION``, ``EXISTS``, ``CAST``, ``EXTRACT``). The other
keywords that take parentheses (``WHERE (``, ``OVER (``, ``PARTITION (``, ``VALUES (``, ...) are read as keywords only
where no expression can start: after a name, a literal or ``)``, not after ``SELECT``, a comma, an operator, ``AND``,
``WHEN``, ... (Spark, outside ANSI mode, calls a user's function named ``where`` there). ``USING`` not followed by
``(`` (the ``TRANSFORM`` / ``MAP`` / ``REDUCE ... USING 'script'`` forms) is not accepted either.

Everything else is not read-only (``INSERT``, ``LOAD``, DDL, ``ADD JAR``, ``DFS``, ``!``, ``RELOAD``, ``COMPILE``,
``RESET``, ``MSCK``, ...), and so is text the servers might read differently than this module does:

- ``${`` anywhere, also inside literals: Hive and Spark substitute variables before parsing;
- an unterminated literal, quoted name or comment; unbalanced parentheses; a ``;`` inside parentheses;
- outside literals and comments, a character that is not ASCII (Java upper-cases ``ı`` to ``I``, so Hive reads
  ``ınsert`` as ``INSERT``);
- a literal glued to a word (Spark's raw ``r'...'`` has no escapes); a ``"..."`` holding a backslash (an identifier
  without escapes in Hive's standard-SQL mode); a ``--`` comment ending in a backslash (Spark continues it);
- a hint ``/*+ ... */`` that is not a plain list of names with name or number arguments (Spark reads literals and
  comments inside hints);
- text HiveServer2 would not hand to the processor this module reads it for. HiveServer2 picks ``SET``, ``DFS``,
  ``ADD`` and its other commands by the first word of the text stripped its own way (``--`` comments end at ``\\n``
  only, lines starting with ``#`` or ``--`` are dropped) and runs them on that stripped text; the rest goes to the
  SQL parser unstripped. So that first word must be the one read here, or name no command (a query after a block
  comment is fine, a ``SET`` after one is not), and a ``SET`` key must be plain, ``hiveconf:`` or ``hivevar:`` in
  both readings.

Comments nest (``/* /* */ */``) as in both grammars; backticks quote names (`` `insert` `` is just a name). Hive's
server does not split text at ``;`` (a client such as Hue does); every statement must pass anyway. Pure, text in,
bool out, linear in the length of the text.
"""
from __future__ import annotations

import re
from typing import List, NamedTuple, Optional, Tuple

__all__ = ["is_read_only"]

#: Words that never occur in a query that only reads.
WRITES = frozenset("""
    insert into overwrite update delete merge upsert create drop alter truncate load import export msck grant revoke
    analyze compact lock unlock reload kill abort cache uncache refresh directory
""".split())
#: Hive's ``explainOption`` (HiveParser.g) and Spark's EXPLAIN modes.
EXPLAIN_OPTIONS = frozenset("""
    extended formatted dependency cbo cost joincost logical authorization analyze reoptimization locks ast
    vectorization only summary operator expression detail debug ddl rewrite codegen
""".split())
#: Built-in functions of both Hive (FunctionRegistry, 2.3 and later) and Spark (3.0 and later; checked against
#: SHOW SYSTEM FUNCTIONS of Spark 4.3) that only compute from their arguments. Left out although in both:
#: reflect, java_method (any Java method), xpath* (may fetch URLs), assert_true; current_user, histogram_numeric,
#: between and regexp (not built into Spark 3.0). A pure built-in missing here only costs a retry.
PURE_FUNCTIONS = frozenset("""
    abs acos add_months and array array_contains ascii asin atan avg base64 bigint bin binary boolean bround cbrt ceil
    ceiling char char_length character_length chr coalesce collect_list collect_set concat concat_ws conv corr cos count
    covar_pop covar_samp crc32 cume_dist current_database current_date current_timestamp date date_add date_format
    date_sub datediff day dayofmonth dayofweek decimal decode degrees dense_rank div double e elt encode exp explode
    factorial find_in_set first_value float floor format_number from_unixtime from_utc_timestamp get_json_object
    greatest grouping hash hex hour if in initcap inline instr int isnotnull isnull json_tuple lag last_day last_value
    lcase lead least length levenshtein like ln locate log log10 log2 lower lpad ltrim map map_keys map_values max md5
    min minute month months_between named_struct negative next_day not ntile nullif nvl octet_length or parse_url
    percent_rank percentile percentile_approx pi pmod posexplode positive pow power printf quarter radians rand rank
    regexp_extract regexp_replace repeat replace reverse rlike round row_number rpad rtrim second sentences sha sha1
    sha2 shiftleft shiftright shiftrightunsigned sign sin size smallint sort_array soundex space split sqrt stack std
    stddev stddev_pop stddev_samp str_to_map string struct substr substring substring_index sum tan timestamp tinyint
    to_date to_unix_timestamp to_utc_timestamp translate trim trunc ucase unbase64 unhex unix_timestamp upper var_pop
    var_samp variance weekofyear when year
""".split())
#: Keywords no function can be named after: reserved in Hive, and in Spark reserved or a built-in.
_NEVER_A_FUNCTION = frozenset(["on", "using", "join", "union", "exists", "cast", "extract"])
#: Other keywords written before parentheses: keywords only where no expression (so no call) can start.
_KEYWORDS_BEFORE_PARENTHESES = frozenset("""
    all any as between by cube distinct else except filter for from group having intersect interval lateral limit
    minus offset over partition pivot qualify regexp rollup select sets some tablesample then unpivot values where
""".split())
#: Words an expression (so a function call) may follow.
_EXPRESSION_STARTS = frozenset("""
    all and any at between by case distinct div else escape except exists filter for from having if ilike in
    intersect interval is join lateral like limit minus not of offset on or outer over qualify regexp return rlike
    select set some table then to union using values view when where with zone
""".split())
_SESSION_PREFIXES = ("hiveconf", "hivevar")
_JAVA_TRIM = "".join(map(chr, range(0x21)))  # what Java's String.trim() removes: every character up to the space
_JAVA_SPACE = re.compile(r"[ \t\n\x0b\f\r]+")  # Java's \s
_HS2_OPENING = re.compile(r"""--|(?<!\\)['"]""")
_HS2_CLOSING = {quote: re.compile(rf"(?<!\\){quote}") for quote in "'\""}
_TOKEN = re.compile(r"""[ \t\r\n\f\v]*(?:
      (?P<line_comment>--[^\r\n]*)
    | (?P<block_comment>/\*)
    | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<quoted>`(?:[^`]|``)*`)
    | (?P<word>[A-Za-z0-9_]+)
    | (?P<other>.)
    | (?P<end>\Z)
)""", re.VERBOSE | re.DOTALL)
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_HINT = re.compile(rf"\s*{_NAME}(?:\s*\([\w.,\s]*\))?(?:(?:\s*,\s*|\s+){_NAME}(?:\s*\([\w.,\s]*\))?)*\s*", re.ASCII)


class _Token(NamedTuple):
    kind: str  # word, quoted, string or other
    text: str  # lower-cased for words; so "(" or ";" can only be punctuation


def is_read_only(statement: Optional[str]) -> bool:
    """True when every statement of ``statement`` (one or more, ``;``-separated) only reads or sets session state,
    as the module docstring states; False for anything else, including text this module cannot read for sure."""
    if not isinstance(statement, str) or "${" in statement:
        return False
    statements = _statements(statement)
    if not statements:
        return False
    first_word = statements[0][1][0].text
    return _hiveserver2_agrees(statement, first_word) and all(
        _read_only(tokens) and _hiveserver2_agrees(text, tokens[0].text) for text, tokens in statements)


def _read_only(tokens: List[_Token]) -> bool:
    first = tokens[0]
    if first.kind != "word":
        return False
    if first.text == "set":
        return _sets_the_session_only(tokens[1:])
    if not _calls_pure_functions_only(tokens):
        return False
    if first.text == "explain":
        position = 1
        while position < len(tokens) and tokens[position].kind == "word" and tokens[position].text in EXPLAIN_OPTIONS:
            position += 1
        return position < len(tokens) and _read_only(tokens[position:])
    if first.text in ("show", "describe", "desc", "use"):
        return True
    if first.text in ("select", "with", "from", "values"):
        words = {token.text for token in tokens if token.kind == "word"}
        return not WRITES & words and ("select" in words or first.text == "values")
    return False


def _sets_the_session_only(arguments: List[_Token]) -> bool:
    """``SET [key[=value]]``: a plain, ``hiveconf:`` or ``hivevar:`` key; not Spark's ``SET VAR``."""
    if arguments and arguments[0].kind == "word" and arguments[0].text in ("var", "variable"):
        return False
    key = []
    for token in arguments:
        if token.text == "=":
            break
        key.append(token)
    if not any(token.text == ":" for token in key):
        return True
    return len(key) > 2 and key[0].kind == "word" and key[0].text in _SESSION_PREFIXES and key[1].text == ":"


def _calls_pure_functions_only(tokens: List[_Token]) -> bool:
    """Every call is of a pure built-in, and no ``USING`` names a script."""
    for position, token in enumerate(tokens):
        opens = position + 1 < len(tokens) and tokens[position + 1].text == "("
        if token.kind == "word" and token.text == "using" and not opens:
            return False  # TRANSFORM / MAP / REDUCE ... USING 'script'
        if not opens or token.kind == "other":
            continue
        if token.kind != "word" or position and tokens[position - 1].text == ".":
            return False  # `name`(...), "name"(...) or db.name(...): a user-defined function
        if _calls(tokens, position) and token.text not in PURE_FUNCTIONS:
            return False
    return True


def _calls(tokens: List[_Token], position: int) -> bool:
    """Whether the name at ``position``, followed by ``(``, calls a function (see the module docstring)."""
    word = tokens[position].text
    before = tokens[position - 1] if position else None
    if position + 2 < len(tokens) and tokens[position + 2].text in ("select", "with"):
        return False  # a subquery is never an argument list
    if word in _NEVER_A_FUNCTION or before is not None and before.text == "as":
        return False  # a keyword; a type (CAST(a AS DECIMAL(10, 2))) or an alias's column list
    if word not in _KEYWORDS_BEFORE_PARENTHESES:
        return True
    if before is None or word in ("distinct", "all") and before.text == "select":
        return False  # VALUES (1, 2) or SELECT (a) opening the statement; SELECT DISTINCT (a)
    ends_an_operand = (before.kind in ("quoted", "string") or before.text in (")", "]")
                       or before.kind == "word" and before.text not in _EXPRESSION_STARTS)
    return not ends_an_operand


def _statements(text: str) -> Optional[List[Tuple[str, List[_Token]]]]:
    """The text and the tokens (comments dropped) of each non-empty ``;``-separated statement; None when the text
    cannot be read for sure (see the module docstring)."""
    statements: List[Tuple[str, List[_Token]]] = []
    tokens: List[_Token] = []
    depth = position = begin = 0
    previous = ""  # the kind of the token just before, "" after space or a comment
    while True:
        match = _TOKEN.match(text, position)
        kind = match.lastgroup
        value, start, position = match.group(kind), match.start(kind), match.end()
        if start > match.start():
            previous = ""  # space before this token
        if kind == "end":
            break
        if kind == "line_comment":
            if value.endswith("\\"):
                return None  # Spark continues a -- comment on the next line; Hive does not
            previous = ""
            continue
        if kind == "block_comment":
            position = _comment_end(text, start)
            if position < 0 or text.startswith("/*+", start) and not _HINT.fullmatch(text, start + 3, position - 2):
                return None
            previous = ""
            continue
        if kind == "other" and (value in "'\"`" or not value.isascii()):
            return None  # an unterminated literal or name; or a character Java may read as an ASCII letter
        if kind == "string" and (previous == "word" or value[0] == '"' and "\\" in value):
            return None  # r'...', _utf8'...'; "a\" is a whole name in Hive's standard-SQL mode
        previous = kind
        if value == "(":
            depth += 1
        elif value == ")":
            depth -= 1
            if depth < 0:
                return None
        elif value == ";":
            if depth:
                return None
            if tokens:
                statements.append((text[begin:start], tokens))
            tokens, begin = [], position
            continue
        tokens.append(_Token(kind, value.lower() if kind == "word" else value))
    if depth:
        return None
    if tokens:
        statements.append((text[begin:], tokens))
    return statements


def _hiveserver2_agrees(text: str, first_word: str) -> bool:
    """Whether HiveServer2 runs ``text`` as this module reads it. It picks a command processor (``SET``, ``DFS``,
    ``ADD``, ...) by the first word of the text stripped its own way (``_hiveserver2_stripped``) and hands that
    processor the stripped text; anything else goes, unstripped, to the SQL parser this module reads like."""
    verb, *arguments = _JAVA_SPACE.split(_hiveserver2_stripped(text).strip(_JAVA_TRIM), 1)
    if first_word == "set":
        if verb.lower() != "set":
            return False
        setting = arguments[0] if arguments else ""  # SetProcessor: key=value, key (shows it) or nothing
        key = setting.split("=", 1)[0].strip(_JAVA_TRIM) if "=" in setting else ""
        return ":" not in key or key.lower().startswith(tuple(prefix + ":" for prefix in _SESSION_PREFIXES))
    # No command is named by a word that Java upper-cases to something else than [A-Z_] (ſ and ı do upper-case
    # to ASCII letters: such a word must be the word read here).
    return verb.lower() == first_word or not re.fullmatch(r"[A-Z_]+", verb.upper())


def _hiveserver2_stripped(text: str) -> str:
    """The text as HiveServer2 strips it before choosing a processor (HiveStringUtils.removeComments): line by line
    at ``\\n`` only, a line starting with ``--`` or ``#`` dropped, the rest of a line from ``--`` cut, except inside
    ``'...'`` or ``"..."`` (a quote right after a backslash does not count), each line trimmed."""
    lines, quote = [], ""
    for line in text.split("\n"):
        if not quote and line.strip(_JAVA_TRIM).startswith(("#", "--")):
            continue
        position, end = 0, len(line)
        while True:
            match = (_HS2_CLOSING[quote] if quote else _HS2_OPENING).search(line, position)
            if match is None:
                break
            if match.group() == "--":
                end = match.start()
                break
            quote, position = "" if quote else match.group(), match.end()
        lines.append(line[:end].strip(_JAVA_TRIM))
    return "\n".join(line for line in lines if line)


def _comment_end(text: str, start: int) -> int:
    """The end of the block comment opening at ``start``, nested ones included (as Hive's and Spark's lexers read
    it), or -1 when it never closes."""
    depth, position, closing = 1, start + 2, -1
    while depth:
        if closing < position:  # found once per closing pair: linear however deep the nesting
            closing = text.find("*/", position)
            if closing < 0:
                return -1
        opening = text.find("/*", position, closing + 1)  # "/*/" opens: the first pair read wins
        if opening >= 0:
            depth, position = depth + 1, opening + 2
        else:
            depth, position = depth - 1, closing + 2
    return position
