"""Which statements may run twice (hive_ha.model.statements): pure, no I/O."""
import pytest

from hive_ha.model.statements import is_read_only

READ_ONLY = [
    "select 1",
    "SELECT current_server()",
    " -- a comment\n select 1",
    "/* a block\ncomment */ WITH a AS (SELECT 1) SELECT * FROM a",
    "FROM t SELECT a, b",
    "show create table t",  # SHOW is a read whatever follows
    "SHOW LOCKS",
    "describe t",
    "desc formatted t",
    "explain select 1",
    "explain analyze select 1",
    "use db",
    "set hive.exec.parallel=true",
    "set",
    "values (1, 2)",
    "select replace(a, 'x', 'y') from t",  # a function named like a write
    "select * from t where s = 'insert; drop table t'",  # words inside literals do not count
    "select `insert` from t",
    "select * from t lateral view explode(m) x as k, v",
    "select 1; select 2",
]
NOT_READ_ONLY = [
    "insert into t values (1)",
    "INSERT OVERWRITE TABLE t SELECT * FROM s",
    "WITH a AS (SELECT 1) INSERT INTO t SELECT * FROM a",
    "FROM t INSERT OVERWRITE TABLE x SELECT a",
    "explain analyze insert into t values (1)",  # EXPLAIN ANALYZE runs the statement
    "create table t (a int)",
    "drop table t",
    "msck repair table t",
    "select transform(a) using 'cat' as b from t",  # runs a script
    "select 1; drop table t",
    "reset",
    "select a as load from t",  # cannot tell for sure: not read-only
    "select 'unterminated",
    "select /* unterminated",
    "select (1",
    "(select 1)",  # nothing readable outside the parentheses: not known to be read-only
    "",
    "   ",
    None,
    42,
]


@pytest.mark.parametrize("statement", READ_ONLY)
def test_reads_may_run_twice(statement):
    assert is_read_only(statement) is True


@pytest.mark.parametrize("statement", NOT_READ_ONLY)
def test_writes_and_the_unreadable_may_not(statement):
    assert is_read_only(statement) is False
