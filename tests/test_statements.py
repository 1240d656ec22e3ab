"""Which statements may run twice (hive_ha.model.statements): the labelled corpus in tests/statement_corpus.py, and
properties that hold for any text. Pure, no I/O."""
import pathlib
import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from hive_ha.model.statements import EXPLAIN_OPTIONS, WRITES, is_read_only
from tests.statement_corpus import CORPUS, ISSUE_19

READS = [case.statement for case in CORPUS if case.read_only]
# Statements that write or run code (not merely unreadable ones): the properties below build on them.
DOES_SOMETHING = re.compile(r"\b(insert|update|delete|merge|drop|create|alter|load|truncate|reflect|java_method"
                            r"|using)\b", re.I)
WRITING = [case.statement for case in CORPUS if not case.read_only and DOES_SOMETHING.search(case.statement)]


@pytest.mark.parametrize("case", CORPUS, ids=[f"{n:03d}-{case.why[:40]}" for n, case in enumerate(CORPUS)])
def test_corpus(case):
    assert is_read_only(case.statement) is case.read_only, f"{case.statement!r}: {case.why}"


def test_the_corpus_is_large_unique_and_holds_the_reported_statements():
    statements = [case.statement for case in CORPUS]
    assert len(statements) >= 200
    assert len(set(statements)) == len(statements)
    assert set(ISSUE_19) <= {case.statement for case in CORPUS if not case.read_only}


@pytest.mark.parametrize("value", [None, 42, b"select 1", ["select 1"]])
def test_anything_but_text_is_not_read_only(value):
    assert is_read_only(value) is False


@given(st.text(), st.text())
@example("select '", "x}'")
def test_a_substitution_marker_anywhere_makes_text_not_read_only(before, after):
    assert is_read_only(f"{before}${{{after}") is False


@given(st.text())
def test_any_text_gets_an_answer(text):
    assert is_read_only(text) in (True, False)


PADDING = st.lists(st.sampled_from([" ", "\n", "\t", "\r\n", "-- c\n", "/* c */", "/* /* nested */ */", "/*+ H(a) */",
                                    ";", "-- ; select 1\n"]), max_size=4).map("".join)


@given(st.sampled_from(WRITING), PADDING, PADDING)
def test_comments_and_whitespace_around_a_write_never_make_it_read_only(write, before, after):
    assert is_read_only(before + write + after) is False
    assert is_read_only(before + write.upper() + after) is False


# Before a SET only what HiveServer2 strips too: after a block comment it hands SET to the SQL parser.
LEADING = st.lists(st.sampled_from([" ", "\n", "\t", "\r\n", "-- c\n", "-- ; select 1\n"]), max_size=4).map("".join)


@given(st.sampled_from(READS), LEADING, PADDING)
def test_comments_and_whitespace_around_a_read_keep_it_read_only(read, before, after):
    assert is_read_only(f"{before}{read}\n{after}") is True


@given(st.sampled_from(READS), st.sampled_from(WRITING))
def test_a_write_after_reads_makes_the_text_not_read_only(read, write):
    assert is_read_only(f"{read}\n;{write}") is False  # the newline ends a trailing -- comment


@given(st.sampled_from(READS))
def test_case_does_not_change_the_answer(read):
    assert is_read_only(read.upper()) is is_read_only(read.lower()) is True


def test_the_user_guide_names_every_word_the_rule_depends_on():
    guide = (pathlib.Path(__file__).resolve().parents[1] / "docs" / "hue.md").read_text()
    section = guide.split("### Which statements are run again", 1)[1].split("\n## ", 1)[0]
    named = {word.lower() for word in re.findall(r"[A-Za-z_]+", section)}
    assert WRITES | EXPLAIN_OPTIONS <= named
