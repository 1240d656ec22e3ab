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

and in which every function call (a name followed by ``(``) is a built-in of Hive or Spark that only computes
(``PURE_FUNCTIONS``), or a keyword that takes parentheses (``IN (``, ``OVER (``, ``AS (``, ...). So ``reflect``,
``reflect2``, ``java_method`` (they call any Java method), ``TRANSFORM``, ``in_file``, ``xpath`` and the like, and
every user-defined function, qualified or quoted, make the text not read-only: only its author knows what a UDF does.
(An unqualified built-in's name is the built-in on the server that runs it again: permanent functions resolve after
built-ins, and that server's session is new, without temporary functions.) ``USING`` not followed by ``(`` (the
``TRANSFORM`` / ``MAP`` / ``REDUCE ... USING 'script'`` forms) is not accepted either.

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
#: Built-in functions of Hive (FunctionRegistry) and Spark that only compute from their arguments. Deliberately
#: absent: reflect, reflect2, java_method, try_reflect (any Java method), transform and reduce (also script
#: keywords), in_file, xpath* (read files or URLs), get_splits, get_llap_splits, get_sql_schema (plan or run a
#: query), surrogate_key, and internal or test helpers. A pure built-in missing here only costs a retry.
PURE_FUNCTIONS = frozenset("""
    abs acos asin atan atan2 bin bround cbrt ceil ceiling conv cos cosh cot degrees e exp expm1 factorial floor hex
    hypot ln log log10 log1p log2 mod negative pi pmod positive pow power radians rand randn random rint round sign
    signum sin sinh sqrt tan tanh unhex width_bucket greatest least
    ascii base64 bit_length btrim char_length character_length chr concat concat_ws contains crc32 decode elt encode
    endswith find_in_set format_number format_string hash ilike initcap instr lcase left length levenshtein like
    locate lower lpad ltrim luhn_check mask mask_first_n mask_hash mask_last_n mask_show_first_n mask_show_last_n md5
    murmur_hash octet_length overlay parse_url position printf quote regexp regexp_count regexp_extract
    regexp_extract_all regexp_instr regexp_like regexp_replace regexp_substr repeat replace reverse right rlike rpad
    rtrim sentences sha sha1 sha2 soundex space split split_part startswith str_to_map substr substring
    substring_index translate trim ucase unbase64 upper url_decode url_encode xxhash64
    add_months curdate current_date current_timestamp current_timezone date_add date_diff date_format date_part
    date_sub date_trunc dateadd datediff datepart day dayofmonth dayofweek dayofyear extract floor_day floor_hour
    floor_minute floor_month floor_quarter floor_second floor_week floor_year from_unixtime from_utc_timestamp hour
    last_day make_date make_interval make_timestamp minute month months_between next_day now quarter second
    timestamp_micros timestamp_millis timestamp_seconds to_date to_timestamp to_unix_timestamp to_utc_timestamp trunc
    unix_micros unix_millis unix_seconds unix_timestamp weekday weekofyear year
    case coalesce if ifnull isnan isnotnull isnull nanvl nullif nvl nvl2 when
    bigint binary boolean cast char date decimal double float int integer smallint string timestamp tinyint try_cast
    varchar
    array array_contains array_distinct array_except array_intersect array_join array_max array_min array_position
    array_remove array_repeat array_size array_slice array_sort array_union arrays_overlap arrays_zip cardinality
    create_union element_at explode explode_outer extract_union flatten from_json get_json_object inline
    inline_outer json_array_length json_object_keys json_tuple map map_concat map_contains_key map_entries
    map_from_arrays map_from_entries map_keys map_values named_struct parse_url_tuple posexplode posexplode_outer
    range schema_of_json sequence shuffle size slice sort_array sort_array_by stack struct to_json
    aggregate exists filter forall map_filter map_zip_with transform_keys transform_values zip_with
    any any_value approx_count_distinct approx_distinct approx_percentile array_agg avg bit_and bit_or bit_xor
    bool_and bool_or collect_list collect_set context_ngrams corr count count_if covar_pop covar_samp every first
    first_value grouping grouping_id histogram_numeric kurtosis last last_value max max_by mean median min min_by mode
    ngrams percentile percentile_approx percentile_cont percentile_disc regr_avgx regr_avgy regr_count regr_intercept
    regr_r2 regr_slope regr_sxx regr_sxy regr_syy skewness some std stddev stddev_pop stddev_samp sum var_pop
    var_samp variance
    cume_dist dense_rank lag lead nth_value ntile percent_rank rank row_number
    current_catalog current_database current_groups current_schema current_user input_file_name logged_in_user
    monotonically_increasing_id session_user spark_partition_id typeof user uuid version
""".split())
#: Keywords followed by a parenthesised list or subquery: ``IN (``, ``AS (`` (a CTE), ``OVER (``, ``JOIN (``, ...
_KEYWORDS_BEFORE_PARENTHESES = frozenset("""
    all and any as between by cube distinct else except exists filter for from group having in intersect interval
    join lateral limit minus not offset on or over partition pivot qualify rollup select sets some tablesample then
    union unpivot using values when where within
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
    """Every ``name (`` is a pure built-in or a keyword, and no ``USING`` names a script."""
    for position, token in enumerate(tokens):
        opens = position + 1 < len(tokens) and tokens[position + 1].text == "("
        if token.kind == "word" and token.text == "using" and not opens:
            return False  # TRANSFORM / MAP / REDUCE ... USING 'script'
        if not opens or token.kind == "other":
            continue
        if token.kind != "word" or position and tokens[position - 1].text == ".":
            return False  # `name`(...), "name"(...) or db.name(...): a user-defined function
        if token.text not in PURE_FUNCTIONS and token.text not in _KEYWORDS_BEFORE_PARENTHESES:
            return False
    return True


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
